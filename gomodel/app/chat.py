"""``POST /v1/chat/completions``: snapshot -> semantics -> resolution -> route -> relay."""

from __future__ import annotations

import logging

import httpx
import orjson
import trio

from gomodel.app.context import RequestContext
from gomodel.app.render import send_raw_json
from gomodel.app.runtime import INITIAL_LOAD_WAIT, Runtime
from gomodel.errors import GatewayError, ModelNotFound, UpstreamError
from gomodel.ingress.semantics import ChatSemantics, parse_chat
from gomodel.ingress.user_path import normalize_user_path
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamRelay
from gomodel.relay.unary import fetch
from gomodel.routing.decision import Route, RouteKind, decide
from gomodel.routing.resolve import Resolution, resolve
from gomodel.routing.rewrite import upstream_body
from gomodel.termination import Termination
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.usage.extract import Usage, usage_from_object
from gomodel.usage.record import UsageRecord

__all__ = ["chat_completions"]

log = logging.getLogger("gomodel.chat")

ENDPOINT = "/v1/chat/completions"


async def chat_completions(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    semantics = parse_chat(ctx.snapshot.body)
    ctx.user_path = normalize_user_path(ctx.snapshot.header(b"x-gomodel-user-path"))
    resolution = await _resolve(runtime, semantics)
    provider = runtime.providers[resolution.provider]
    route = decide(semantics, resolution, provider.spec, runtime.policy)
    ctx.headers.append((b"x-gomodel-route", route.header.encode()))
    if route.kind is RouteKind.TRANSLATE:
        raise GatewayError(
            f"provider type '{provider.spec.type}' cannot serve chat completions yet",
            code="unsupported_provider",
            status=501,
        )
    request = provider.build_request(
        "POST",
        provider.url("chat/completions"),
        body=upstream_body(ctx.snapshot.body, semantics, route),
        request_id=ctx.snapshot.request_id,
        stream=semantics.stream,
    )
    if semantics.stream:
        await _stream(ctx, provider, request, semantics, resolution, route)
    else:
        await _unary(ctx, provider, request, resolution, route)


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


async def _unary(
    ctx: RequestContext,
    provider: Provider,
    request: httpx.Request,
    resolution: Resolution,
    route: Route,
) -> None:
    result = await fetch(provider, request, receive=ctx.receive, deadlines=ctx.runtime.deadlines)
    try:
        doc = orjson.loads(result.body)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"{provider.name} returned a response that is not JSON")
    if not isinstance(doc, dict):
        raise UpstreamError(f"{provider.name} returned a response that is not a JSON object")
    usage = usage_from_object(doc.get("usage"))
    _finish(
        ctx,
        provider,
        resolution,
        route,
        stream=False,
        status=200,
        termination=Termination.COMPLETED,
        usage=usage,
        complete=usage is not None,
        model=doc.get("model"),
        provider_id=doc.get("id"),
        first_byte_at=trio.current_time(),
        upstream_seconds=result.upstream_seconds,
    )
    # The upstream's bytes go to the client untouched: every field it sent is kept.
    await send_raw_json(ctx.send, 200, result.body, ctx.headers)


async def _stream(
    ctx: RequestContext,
    provider: Provider,
    request: httpx.Request,
    semantics: ChatSemantics,
    resolution: Resolution,
    route: Route,
) -> None:
    observer = ChatStreamObserver(hide_usage=route.inject_usage)
    relay = StreamRelay(
        provider=provider,
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
        termination = relay.termination or Termination.COMPLETED
        status = 200 if relay.started else (relay.error.status if relay.error else 499)
        _finish(
            ctx,
            provider,
            resolution,
            route,
            stream=True,
            status=status,
            termination=termination,
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
    ctx: RequestContext,
    provider: Provider,
    resolution: Resolution,
    route: Route,
    *,
    stream: bool,
    status: int,
    termination: Termination,
    usage: Usage | None,
    complete: bool,
    model: object,
    provider_id: object,
    first_byte_at: float | None,
    upstream_seconds: float,
) -> None:
    received_at = ctx.snapshot.received_at
    latency = trio.current_time() - received_at
    record = UsageRecord(
        request_id=ctx.snapshot.request_id,
        provider=provider.name,
        provider_type=provider.spec.type,
        requested_model=resolution.requested,
        model=model if isinstance(model, str) else resolution.model,
        endpoint=ENDPOINT,
        route=route.kind.value,
        stream=stream,
        usage=usage,
        complete=complete,
        status=status,
        termination=termination,
        provider_id=provider_id if isinstance(provider_id, str) else None,
        user_path=ctx.user_path,
        latency_ms=latency * 1000,
        ttfb_ms=None if first_byte_at is None else (first_byte_at - received_at) * 1000,
        overhead_ms=max(latency - upstream_seconds, 0.0) * 1000,
    )
    log.info(
        "chat request_id=%s provider=%s model=%s route=%s stream=%s status=%d termination=%s",
        record.request_id,
        record.provider,
        record.model,
        route.header,
        stream,
        status,
        termination.value,
    )
    ctx.runtime.usage.record(record)
