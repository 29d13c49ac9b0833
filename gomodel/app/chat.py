"""``POST /v1/chat/completions``: snapshot -> semantics -> resolution -> route -> relay."""

from __future__ import annotations

from typing import Any

import attrs
import httpx
import trio

from gomodel.app.accounting import record_usage, resolve_model, termination_for
from gomodel.app.chat_dialects import DIALECTS, ChatDialect
from gomodel.app.context import RequestContext
from gomodel.app.render import send_raw_json
from gomodel.errors import GatewayError
from gomodel.ingress.semantics import ChatSemantics, parse_chat
from gomodel.ingress.user_path import normalize_user_path
from gomodel.providers.client import Provider
from gomodel.relay.unary import fetch
from gomodel.relay.watch import ClientGone
from gomodel.routing.decision import Route, decide
from gomodel.routing.resolve import Resolution
from gomodel.termination import Termination

__all__ = ["chat_completions"]

ENDPOINT = "/v1/chat/completions"


@attrs.frozen
class _Call:
    """One chat request, decided."""

    ctx: RequestContext
    semantics: ChatSemantics
    resolution: Resolution
    provider: Provider
    route: Route
    dialect: ChatDialect
    created: int  # wall-clock seconds, for translated answers


async def chat_completions(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    semantics = parse_chat(ctx.snapshot.body)
    ctx.user_path = normalize_user_path(ctx.snapshot.header(b"x-gomodel-user-path"))
    resolution = await resolve_model(runtime, semantics.model, semantics.provider)
    provider = runtime.providers[resolution.provider]
    route = decide(semantics, resolution, provider.spec, runtime.policy)
    ctx.headers.append((b"x-gomodel-route", route.header.encode()))
    dialect = DIALECTS[provider.spec.dialect]
    call = _Call(ctx, semantics, resolution, provider, route, dialect, int(runtime.clock()))
    request = provider.build_request(
        "POST",
        provider.url(dialect.endpoint),
        body=dialect.body(ctx.snapshot.body, semantics, route),
        request_id=ctx.snapshot.request_id,
        stream=semantics.stream,
    )
    if semantics.stream:
        await _stream(call, request)
    else:
        await _unary(call, request)


async def _unary(call: _Call, request: httpx.Request) -> None:
    ctx = call.ctx
    try:
        result = await fetch(
            call.provider, request, receive=ctx.receive, deadlines=ctx.runtime.deadlines
        )
    except ClientGone:
        _finish_failed(call, 499, Termination.CLIENT_DISCONNECT)
        raise
    except GatewayError as error:
        _finish_failed(call, error.status, termination_for(error))
        raise
    answer = call.dialect.answer(result.body, call.provider.name, call.created)
    _finish(
        call,
        stream=False,
        status=200,
        termination=Termination.COMPLETED,
        usage=answer.usage,
        complete=answer.usage is not None,
        model=answer.model,
        provider_id=answer.provider_id,
        first_byte_at=trio.current_time(),
        upstream_seconds=result.upstream_seconds,
    )
    await send_raw_json(ctx.send, 200, answer.body, ctx.headers)


async def _stream(call: _Call, request: httpx.Request) -> None:
    ctx = call.ctx
    observer = call.dialect.observer(call.semantics, call.route, call.created)
    relay = ctx.stream_relay(call.provider, request, observer)
    try:
        await relay.run()
    finally:
        status = relay.status
        _finish(
            call,
            stream=True,
            status=status,
            termination=relay.termination or Termination.COMPLETED,
            usage=observer.usage,
            complete=observer.usage is not None and observer.done,
            model=observer.model,
            provider_id=observer.provider_id,
            first_byte_at=relay.first_byte_at,
            upstream_seconds=relay.upstream_seconds,
        )
    if relay.error is not None:
        raise relay.error


def _finish_failed(call: _Call, status: int, termination: Termination) -> None:
    """A failed non-streamed exchange leaves its row too, without counts."""
    _finish(
        call,
        stream=False,
        status=status,
        termination=termination,
        usage=None,
        complete=False,
        model=None,
        provider_id=None,
        first_byte_at=None,
        upstream_seconds=trio.current_time() - call.ctx.snapshot.received_at,
    )


def _finish(call: _Call, **outcome: Any) -> None:
    """The usage record of this call; ``outcome`` is the rest of record_usage's arguments."""
    record_usage(
        call.ctx,
        endpoint=ENDPOINT,
        provider=call.provider,
        resolution=call.resolution,
        route=call.route.kind.value,
        route_header=call.route.header,
        **outcome,
    )
