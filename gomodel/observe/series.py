"""Every Prometheus series the gateway exports, declared once: name, type, labels, meaning.

docs/observability.md lists them for operators; :class:`gomodel.observe.metrics.Metrics` has
one attribute per series (the name without ``gomodel_`` and ``_total``), which is how code
increments them::

    ctx.runtime.metrics.retries.inc("openai", "status_503")      # label values, in order
    ctx.runtime.metrics.circuit_breaker_state.set(2, "openai")

Adding a series: declare it here, add it to :data:`SERIES` and as a field of ``Metrics``, and
describe it in docs/observability.md (tests/observe/test_series.py checks all three agree).

Label values must come from a bounded set (provider names, model ids the catalog knows, key
ids, enum values), never from free client text: every distinct value is a new series in every
worker's file and in Prometheus.

Gauges say how the values of several worker processes combine (prometheus_client's
``multiprocess_mode``): ``livesum`` adds the live workers' values (a dead worker's values
leave with it), ``livemax`` takes the largest.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = [
    "DURATION_BUCKETS",
    "OVERHEAD_BUCKETS",
    "SERIES",
    "Series",
]

Kind = Literal["counter", "gauge", "histogram"]

# Seconds. A model answer takes from tens of milliseconds (embeddings, a cached prompt) to
# minutes (a long reasoning stream).
DURATION_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
# The gateway's own time per request: a fraction of a millisecond when all is well.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)


@attrs.frozen
class Series:
    name: str  # the exported name (counters end in _total)
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()  # histograms
    mode: str = "livesum"  # gauges: how worker processes combine

    @property
    def attribute(self) -> str:
        """The :class:`~gomodel.observe.metrics.Metrics` attribute holding it."""
        return self.name.removeprefix("gomodel_").removesuffix("_total")


_ROUTE = ("route", "provider")  # route: the API surface (/v1/chat/completions, /p/{provider})

# -- requests (the metrics observer) --------------------------------------------------------
REQUESTS = Series(
    "gomodel_requests_total",
    "counter",
    "Upstream attempts by API route, provider, model, status sent to the client, route kind "
    "(passthrough, rewrite, translate), the kind's reasons and streaming.",
    (*_ROUTE, "model", "status", "route_kind", "route_reasons", "stream"),
)
TERMINATIONS = Series(
    "gomodel_terminations_total",
    "counter",
    "How attempts ended: completed, client_disconnect, upstream_eof, upstream_error, ...",
    (*_ROUTE, "termination"),
)
UPSTREAM_ERRORS = Series(
    "gomodel_upstream_errors_total",
    "counter",
    "Failed upstream attempts by provider and error code (upstream_timeout, "
    "upstream_unreachable, upstream_pool_exhausted, stream_incomplete, ...) and status.",
    ("provider", "code", "status"),
)
DURATION = Series(
    "gomodel_request_duration_seconds",
    "histogram",
    "From the request's arrival to its last byte handed to the server.",
    (*_ROUTE, "stream"),
    DURATION_BUCKETS,
)
TTFB = Series(
    "gomodel_time_to_first_byte_seconds",
    "histogram",
    "From the request's arrival to the first byte of the answer handed to the server.",
    (*_ROUTE, "stream"),
    DURATION_BUCKETS,
)
OVERHEAD = Series(
    "gomodel_gateway_overhead_seconds",
    "histogram",
    "Time spent in the gateway: the duration minus the time spent waiting on the provider "
    "(the usage row's overhead_ms).",
    (*_ROUTE, "stream"),
    OVERHEAD_BUCKETS,
)
IN_FLIGHT = Series(
    "gomodel_requests_in_flight",
    "gauge",
    "Upstream attempts under way (stream=true: streams).",
    (*_ROUTE, "stream"),
)
TOKENS = Series(
    "gomodel_tokens_total",
    "counter",
    "Tokens counted by the provider, by provider, model (the usage row's), key and direction "
    "(input, output; OpenAI semantics: cached tokens are part of input, reasoning of output).",
    ("provider", "model", "key", "direction"),
)
COST = Series(
    "gomodel_cost_usd_total",
    "counter",
    "Cost in USD as the usage row prices it, by provider, model and key. Requests of unknown "
    "price add nothing (see gomodel_unpriced_requests_total).",
    ("provider", "model", "key"),
)
UNPRICED = Series(
    "gomodel_unpriced_requests_total",
    "counter",
    "Requests with usage whose cost is unknown (no price for the model).",
    ("provider", "model"),
)

# -- background components (sampled every second and at each scrape) ------------------------
UPSTREAM_CONNECTIONS = Series(
    "gomodel_upstream_connections",
    "gauge",
    "Upstream connections held, by provider and state (busy: connecting or carrying a "
    "request; idle: pooled).",
    ("provider", "state"),
)
UPSTREAM_WAITERS = Series(
    "gomodel_upstream_pool_waiters",
    "gauge",
    "Requests waiting for a free upstream connection (the pool is at HTTP_MAX_CONNECTIONS).",
    ("provider",),
)
USAGE_QUEUE = Series(
    "gomodel_usage_queue_rows",
    "gauge",
    "Usage rows in memory: waiting for storage (pending) or for the spill file (held).",
    ("state",),
)
USAGE_ROWS = Series(
    "gomodel_usage_rows_total",
    "counter",
    "Usage rows by what happened to them: received, written, spilled, replayed, dropped, "
    "quarantined.",
    ("event",),
)
USAGE_BATCHES = Series(
    "gomodel_usage_batches_written_total", "counter", "Usage batches written to storage."
)
USAGE_WRITE_FAILURES = Series(
    "gomodel_usage_write_failures_total",
    "counter",
    "Failed usage storage writes (the rows are kept and retried) and spill writes.",
    ("target",),
)
AUDIT_QUEUE = Series(
    "gomodel_audit_queue_entries", "gauge", "Audit entries in memory waiting for storage."
)
AUDIT_ENTRIES = Series(
    "gomodel_audit_entries_total",
    "counter",
    "Audit entries by what happened to them: received, written, dropped (buffer full or "
    "storage down too long).",
    ("event",),
)
AUDIT_BATCHES = Series(
    "gomodel_audit_batches_written_total", "counter", "Audit batches written to storage."
)

# -- for the control plane (resilience, limits, budgets): incremented where they happen ------
RETRIES = Series(
    "gomodel_retries_total",
    "counter",
    "Upstream attempts retried, by provider and reason (status_429, status_503, "
    "connect_error, ...).",
    ("provider", "reason"),
)
FAILOVERS = Series(
    "gomodel_failovers_total",
    "counter",
    "Requests moved from one target to the next, by the provider failed from and to.",
    ("from_provider", "to_provider"),
)
BREAKER_STATE = Series(
    "gomodel_circuit_breaker_state",
    "gauge",
    "Circuit breaker state by provider: 0 closed, 1 half-open, 2 open (the worst worker's).",
    ("provider",),
    mode="livemax",
)
RATE_LIMITED = Series(
    "gomodel_rate_limit_refusals_total",
    "counter",
    "Requests refused by a rate limit, by key and limit (requests, tokens).",
    ("key", "limit"),
)
BUDGET_REFUSED = Series(
    "gomodel_budget_refusals_total",
    "counter",
    "Requests refused because a budget was spent, by key and budget period.",
    ("key", "period"),
)

SERIES: tuple[Series, ...] = (
    REQUESTS,
    TERMINATIONS,
    UPSTREAM_ERRORS,
    DURATION,
    TTFB,
    OVERHEAD,
    IN_FLIGHT,
    TOKENS,
    COST,
    UNPRICED,
    UPSTREAM_CONNECTIONS,
    UPSTREAM_WAITERS,
    USAGE_QUEUE,
    USAGE_ROWS,
    USAGE_BATCHES,
    USAGE_WRITE_FAILURES,
    AUDIT_QUEUE,
    AUDIT_ENTRIES,
    AUDIT_BATCHES,
    RETRIES,
    FAILOVERS,
    BREAKER_STATE,
    RATE_LIMITED,
    BUDGET_REFUSED,
)
