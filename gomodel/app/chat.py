"""``POST /v1/chat/completions``: snapshot -> semantics -> resolution -> route -> relay."""

from __future__ import annotations

import logging

import attrs
import httpx
import trio

from gomodel.app.chat_dialects import DIALECTS, ChatDialect
from gomodel.app.context import RequestContext
from gomodel.app.render import send_raw_json
from gomodel.app.runtime import INITIAL_LOAD_WAIT, Runtime
from gomodel.errors import ModelNotFound
from gomodel.ingress.forwarded import client_address
from gomodel.ingress.semantics import ChatSemantics, parse_chat
from gomodel.ingress.user_path import normalize_user_path
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamRelay
from gomodel.relay.unary import fetch
from gomodel.routing.decision import Route, decide
from gomodel.routing.resolve import Resolution, resolve
from gomodel.termination import Termination
from gomodel.usage.extract import Usage
from gomodel.usage.record import UsageRecord

__all__ = ["chat_completions"]

log = logging.getLogger("gomodel.chat")

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
    resolution = await _resolve(runtime, semantics)
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


async def _resolve(runtime: Runtime, semantics: ChatSemantics) -> Resolution:
    try:
        return resolve(semantics.model, semantics.provider, runtime.catalog)
    except ModelNotFound:
        if runtime.initial_load.is_set():
            raise
    # The first model list load is still running: give it a moment, then decide.
    with trio.move_on_after(INITIAL_LOAD_WAIT):
        await runtime.initial_load.wait()
    return resolve(semantics.model, semantics.provider, runtime.catalog)


async def _unary(call: _Call, request: httpx.Request) -> None:
    ctx = call.ctx
    result = await fetch(
        call.provider,
        request,
        receive=ctx.receive,
        deadlines=ctx.runtime.deadlines,
    )
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
    relay = StreamRelay(
        provider=call.provider,
        request=request,
        receive=ctx.receive,
        send=ctx.send,
        response_headers=ctx.headers,
        observer=observer,
        deadlines=ctx.runtime.deadlines,
        max_event_size=ctx.runtime.config.stream_max_event_bytes,
    )
    try:
        await relay.run()
    finally:
        status = 200 if relay.started else (relay.error.status if relay.error else 499)
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


def _finish(
    call: _Call,
    *,
    stream: bool,
    status: int,
    termination: Termination,
    usage: Usage | None,
    complete: bool,
    model: str | None,
    provider_id: str | None,
    first_byte_at: float | None,
    upstream_seconds: float,
) -> None:
    ctx = call.ctx
    received_at = ctx.snapshot.received_at
    latency = trio.current_time() - received_at
    record = UsageRecord(
        request_id=ctx.snapshot.request_id,
        provider=call.provider.name,
        provider_type=call.provider.spec.type,
        requested_model=call.resolution.requested,
        model=model or call.resolution.model,
        endpoint=ENDPOINT,
        route=call.route.kind.value,
        stream=stream,
        usage=usage,
        complete=complete,
        status=status,
        termination=termination,
        provider_id=provider_id,
        user_path=ctx.user_path,
        latency_ms=latency * 1000,
        ttfb_ms=None if first_byte_at is None else (first_byte_at - received_at) * 1000,
        overhead_ms=max(latency - upstream_seconds, 0.0) * 1000,
        client=client_address(ctx.snapshot, ctx.runtime.config.trusted_proxy_hops),
    )
    log.info(
        "chat request_id=%s client=%s provider=%s model=%s route=%s stream=%s status=%d "
        "termination=%s",
        record.request_id,
        record.client,
        record.provider,
        record.model,
        call.route.header,
        stream,
        status,
        termination.value,
    )
    ctx.runtime.usage.record(record)
