"""Today's outcome observers: the usage record and the request log line.

Every attempt that reached (or tried to reach) a provider leaves exactly one usage record, with
its termination reason and timings, and one log line.
"""

from __future__ import annotations

import logging

import attrs
import trio

from gomodel.ingress.forwarded import client_address
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Outcome
from gomodel.pipeline.plan import Plan
from gomodel.usage.record import UsageRecord, UsageSink

__all__ = ["RequestLog", "Timings", "UsageObserver", "usage_record"]

log = logging.getLogger("gomodel.requests")


@attrs.frozen(slots=True)
class Timings:
    """One attempt's times, in seconds, as the usage row and the metrics both report them."""

    latency: float  # the request's arrival -> now (its last byte is with the server)
    ttfb: float | None  # arrival -> the first byte handed to the server
    # The attempt's time minus the time spent waiting on the provider (a retry's does not
    # count the earlier attempts and the backoff: they are in their own rows).
    overhead: float

    @classmethod
    def of(cls, ctx: RequestContext, outcome: Outcome) -> Timings:
        received_at = ctx.snapshot.received_at
        now = trio.current_time()
        latency = now - received_at
        own = latency if ctx.attempt_started_at is None else now - ctx.attempt_started_at
        first_byte = outcome.first_byte_at
        return cls(
            latency,
            None if first_byte is None else first_byte - received_at,
            max(own - outcome.upstream_seconds, 0.0),
        )


def usage_record(ctx: RequestContext, plan: Plan, outcome: Outcome) -> UsageRecord:
    times = Timings.of(ctx, outcome)
    return UsageRecord(
        request_id=ctx.snapshot.request_id,
        provider=plan.provider.name,
        provider_type=plan.provider.spec.type,
        requested_model=plan.resolution.requested,
        model=outcome.model or plan.resolution.model,
        endpoint=plan.endpoint,
        route=plan.route.kind.value,
        stream=plan.stream,
        usage=outcome.usage,
        complete=outcome.complete,
        status=outcome.status,
        termination=outcome.termination,
        provider_id=outcome.provider_id,
        user_path=ctx.user_path,
        key_id=ctx.principal.key_id,
        latency_ms=times.latency * 1000,
        ttfb_ms=None if times.ttfb is None else times.ttfb * 1000,
        overhead_ms=times.overhead * 1000,
        client=client_address(ctx.snapshot, ctx.runtime.config.trusted_proxy_hops),
    )


@attrs.frozen
class UsageObserver:
    """Hands each attempt's usage record to the sink (the recorder, or a test's memory)."""

    sink: UsageSink

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        self.sink.record(usage_record(ctx, plan, outcome))


class RequestLog:
    """One INFO line per attempt."""

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        log.info(
            "%s request_id=%s client=%s provider=%s model=%s route=%s stream=%s status=%d "
            "termination=%s",
            plan.endpoint,
            ctx.snapshot.request_id,
            client_address(ctx.snapshot, ctx.runtime.config.trusted_proxy_hops),
            plan.provider.name,
            outcome.model or plan.resolution.model,
            plan.route.header,
            plan.stream,
            outcome.status,
            outcome.termination.value,
        )
