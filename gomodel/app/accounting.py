"""What every model request shares once decided: finding its provider, and its usage record.

Every request that reached a provider leaves exactly one usage record, with its termination
reason and timings, and one log line.
"""

from __future__ import annotations

import logging

import trio

from gomodel.app.context import RequestContext
from gomodel.app.runtime import INITIAL_LOAD_WAIT, Runtime
from gomodel.errors import GatewayError, ModelNotFound, UpstreamTimeout
from gomodel.ingress.forwarded import client_address
from gomodel.providers.client import Provider
from gomodel.routing.resolve import Resolution, resolve
from gomodel.termination import Termination
from gomodel.usage.extract import Usage
from gomodel.usage.record import UsageRecord

__all__ = ["record_usage", "resolve_model", "termination_for"]

log = logging.getLogger("gomodel.requests")


async def resolve_model(runtime: Runtime, model: str, provider_hint: str | None) -> Resolution:
    """Resolve a selector; a model not known yet waits for the first model-list load."""
    try:
        return resolve(model, provider_hint, runtime.catalog)
    except ModelNotFound:
        if runtime.initial_load.is_set():
            raise
    with trio.move_on_after(INITIAL_LOAD_WAIT):
        await runtime.initial_load.wait()
    return resolve(model, provider_hint, runtime.catalog)


def termination_for(error: GatewayError) -> Termination:
    """How a non-streamed exchange ended, from the error it raised."""
    if isinstance(error, UpstreamTimeout):
        return (
            Termination.DEADLINE
            if error.code == "deadline_exceeded"
            else Termination.HEADER_TIMEOUT
        )
    if error.code in ("upstream_unreachable", "upstream_pool_exhausted"):
        return Termination.CONNECT_ERROR
    return Termination.UPSTREAM_ERROR


def record_usage(
    ctx: RequestContext,
    *,
    endpoint: str,
    provider: Provider,
    resolution: Resolution,
    route: str,
    route_header: str,
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
    received_at = ctx.snapshot.received_at
    latency = trio.current_time() - received_at
    record = UsageRecord(
        request_id=ctx.snapshot.request_id,
        provider=provider.name,
        provider_type=provider.spec.type,
        requested_model=resolution.requested,
        model=model or resolution.model,
        endpoint=endpoint,
        route=route,
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
        "%s request_id=%s client=%s provider=%s model=%s route=%s stream=%s status=%d "
        "termination=%s",
        endpoint,
        record.request_id,
        record.client,
        record.provider,
        record.model,
        route_header,
        stream,
        status,
        termination.value,
    )
    ctx.runtime.usage.record(record)
