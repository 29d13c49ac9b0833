"""The metrics observer: every attempt's outcome (and its start, for the in-flight gauge) into
the request series; every usage record's tokens and cost into the usage series.

Per attempt it does about ten instrument updates (dict lookups of cached label children and
``inc``/``observe`` on them); docs/observability.md gives the measured cost.

Tokens and cost come from the usage record *as priced once*: the usage recorder hands each
row it builds to :meth:`MetricsObserver.on_row` (``UsageRecorder.on_row``); without a recorder
(``USAGE_ENABLED=false``, a test's sink) nothing prices the record, so the observer does
(``prices`` set), still once per request.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from gomodel.ingress.semantics import Operation
from gomodel.observe.metrics import Metrics
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.observers import Timings, usage_record
from gomodel.pipeline.outcome import Outcome
from gomodel.pipeline.plan import Plan
from gomodel.termination import Termination
from gomodel.usage.pricing import PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import UsageRow, price_record

__all__ = ["NO_KEY", "MetricsObserver", "route_labels"]

NO_KEY = "none"  # the key label of requests made with the master key, or with no key


def route_labels(plan: Plan) -> tuple[str, str, str]:
    """``route`` (the API surface; passthrough paths collapse to ``/p/{provider}``),
    ``provider`` and ``stream``."""
    passthrough = plan.semantics.operation is Operation.PASSTHROUGH
    route = "/p/{provider}" if passthrough else plan.endpoint
    return route, plan.provider.name, "true" if plan.stream else "false"


@attrs.frozen(eq=False)
class MetricsObserver:
    """An :class:`~gomodel.pipeline.stages.OutcomeObserver` and a
    :class:`~gomodel.pipeline.stages.Watcher` (for the in-flight gauge)."""

    metrics: Metrics
    prices: PriceTable | None = None  # price each record here (no recorder prices it)

    # -- Watcher ---------------------------------------------------------------------------

    def request_started(self, ctx: RequestContext, plan: Plan) -> None:
        return None

    def attempt(self, ctx: RequestContext, plan: Plan) -> Plan:
        self.metrics.requests_in_flight.inc(*route_labels(plan))
        return plan

    def request_ended(self, ctx: RequestContext) -> None:
        return None

    # -- OutcomeObserver -------------------------------------------------------------------

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        m = self.metrics
        route, provider, stream = route_labels(plan)
        m.requests_in_flight.dec(route, provider, stream)
        times = Timings.of(ctx, outcome)
        status = str(outcome.status)
        decided = plan.route
        m.requests.inc(
            route,
            provider,
            m.model_label(plan.resolution.model),
            status,
            decided.kind.value,
            ",".join(reason.value for reason in decided.reasons),
            stream,
        )
        m.terminations.inc(route, provider, outcome.termination.value)
        m.request_duration_seconds.observe(times.latency, route, provider, stream)
        if times.ttfb is not None:
            m.time_to_first_byte_seconds.observe(times.ttfb, route, provider, stream)
        m.gateway_overhead_seconds.observe(times.overhead, route, provider, stream)
        error = outcome.error
        if error is not None and outcome.termination is not Termination.CLIENT_DISCONNECT:
            m.upstream_errors.inc(provider, error.code or error.error_type, str(error.status))
        if self.prices is not None and outcome.usage is not None:
            record = usage_record(ctx, plan, outcome)
            self.count_usage(record, price_record(record, self.prices).total)

    # -- usage -----------------------------------------------------------------------------

    def count_usage(self, record: UsageRecord, total_cost: Decimal | None) -> None:
        """One priced usage record: tokens, and the cost when it is known."""
        usage = record.usage
        if usage is None:
            return
        m = self.metrics
        provider, model = record.provider, m.model_label(record.model)
        key = record.key_id or NO_KEY
        m.tokens.inc(provider, model, key, "input", amount=usage.input_tokens)
        m.tokens.inc(provider, model, key, "output", amount=usage.output_tokens)
        if total_cost is None:
            m.unpriced_requests.inc(provider, model)
        else:
            m.cost_usd.inc(provider, model, key, amount=float(total_cost))

    def on_row(self, record: UsageRecord, row: UsageRow) -> None:
        """``UsageRecorder.on_row``: the row the recorder priced."""
        self.count_usage(record, row.total_cost)
