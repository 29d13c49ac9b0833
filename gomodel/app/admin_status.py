"""``GET /admin/api/v1/providers/status``: every deployment's circuit breaker and load, now.

GOModel's shape (SPEC §10.7): ``{"summary": {total, healthy, degraded, unhealthy,
overall_status}, "providers": [...]}``, one entry per deployment (a provider without
deployments is its own one): ``status`` is ``healthy`` (breaker closed), ``degraded``
(half-open: probing) or ``unhealthy`` (open), with the reason, the last failure, the breaker's
counters and the requests in flight. The numbers are this process's (each replica has its
own breakers). Master key only, as every admin route.
"""

from __future__ import annotations

from typing import Any

from gomodel.app.render import send_json
from gomodel.errors import PermissionDenied
from gomodel.pipeline.context import RequestContext
from gomodel.resilience.breaker import BreakerState
from gomodel.resilience.fleet import DeploymentStatistics

__all__ = ["providers_status"]

_STATUS = {
    BreakerState.CLOSED: "healthy",
    BreakerState.HALF_OPEN: "degraded",
    BreakerState.OPEN: "unhealthy",
}


async def providers_status(ctx: RequestContext) -> None:
    if ctx.principal.key_id is not None:
        raise PermissionDenied("the admin API needs the master key", code="master_key_required")
    runtime = ctx.runtime
    now = runtime.fleet.clock()
    stats = runtime.fleet.statistics()
    enabled = runtime.config.circuit_breaker_enabled
    providers = [_entry(d, now, enabled) for d in stats.deployments]
    counts = {status: sum(p["status"] == status for p in providers) for status in _STATUS.values()}
    if not providers or counts["healthy"] == len(providers):
        overall = "healthy"
    elif counts["unhealthy"] == len(providers):
        overall = "unhealthy"
    else:
        overall = "degraded"
    summary = {"total": len(providers), **counts, "overall_status": overall}
    await send_json(ctx.send, 200, {"summary": summary, "providers": providers}, ctx.headers)


def _entry(deployment: DeploymentStatistics, now: float, enabled: bool) -> dict[str, Any]:
    breaker = deployment.breaker
    status = _STATUS[breaker.state]
    if not enabled:
        reason = "circuit breakers are off (CIRCUIT_BREAKER_ENABLED=false)"
    elif breaker.state is BreakerState.OPEN:
        assert breaker.retry_at is not None
        reason = f"circuit open: a probe in {max(breaker.retry_at - now, 0.0):.1f}s"
    elif breaker.state is BreakerState.HALF_OPEN:
        reason = "circuit half-open: probing"
    else:
        reason = "circuit closed"
    return {
        "name": deployment.name,
        "provider": deployment.provider,
        "type": deployment.type,
        "status": status,
        "status_label": status.capitalize(),
        "status_reason": reason,
        "last_error": breaker.last_failure,
        "inflight": deployment.inflight,
        "circuit_breaker": {
            "state": breaker.state.value,
            "consecutive_failures": breaker.consecutive_failures,
            "half_open_successes": breaker.half_open_successes,
            "probe_in_flight": breaker.probe_in_flight,
            "open_for_seconds": None
            if breaker.opened_at is None or breaker.state is not BreakerState.OPEN
            else round(now - breaker.opened_at, 3),
            "retry_in_seconds": None
            if breaker.retry_at is None
            else round(max(breaker.retry_at - now, 0.0), 3),
            "times_opened": breaker.times_opened,
            "successes": breaker.successes,
            "failures": breaker.failures,
            "slow_calls": breaker.slow_calls,
            "rate_limited": breaker.rate_limited,
            "rejected": breaker.rejected,
        },
    }
