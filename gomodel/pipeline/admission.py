"""Admission: budgets and rate limits, reserved before a request goes upstream and settled
when it has ended (docs/limits.md, "Budgets and rate limits").

:class:`LimitAdmission` is the pipeline's :class:`~gomodel.pipeline.stages.Admission` stage.
For each request it finds the rules that apply (the key's, the user path's and its ancestors',
the provider's, the model's); with none it does nothing at all. Otherwise it reserves, in one
call to the limit store (memory, or Redis when replicas share it), one request, the request's
worst-case tokens, a concurrency slot and its worst-case cost on every counter at once:

* refused: a 429 (``rate_limit_exceeded`` or ``budget_exceeded``) naming the limit, its period
  and when it resets, with ``Retry-After`` and OpenAI's ``x-ratelimit-*`` headers;
* admitted, but a budget affords less output than asked (or the request asks no cap): the
  body's output cap is set to what the budget affords (a ``rewrite; output_capped`` route), so
  the provider itself stops there; below ``BUDGET_MIN_OUTPUT_TOKENS`` the request is refused;
* admitted: the ``x-ratelimit-*`` headers go on its response too.

Settling charges what the attempts used: their reported counts and cost when the provider
reported them in full, the whole reservation when an attempt may have been billed without
reporting (the client left mid-stream, a timeout, a shutdown), nothing when the provider
refused or was never reached. So with known prices no budget is exceeded.

When the limit store does not answer within ``REDIS_TIMEOUT``: a request under a budget is
refused with a 503 (a budget is never spent blind); one under rate limits only is let through
(``RATE_LIMITS_FAIL_OPEN``, logged and counted) or refused with the 503. When Redis answers a
reserve with an error (a script it refuses: a bug, never let through) the request is refused
with the same 503, and the first of a run of them is logged as an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import attrs

from gomodel.errors import (
    GatewayError,
    PermissionDenied,
    RateLimited,
    RedisReplyError,
    RedisUnavailable,
    UpstreamUnavailable,
)
from gomodel.ingress.semantics import Operation
from gomodel.limits.demand import (
    output_cap,
    prompt_bound,
    token_rates,
    usage_cost,
    with_output_cap,
)
from gomodel.limits.headers import header_bytes, rate_limit_headers
from gomodel.limits.model import (
    Admission,
    CounterState,
    Demand,
    Limit,
    Metric,
    Period,
    Settlement,
)
from gomodel.limits.rules import NANO_PER_USD, RuleSet
from gomodel.limits.store import LimitStore
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Outcome
from gomodel.pipeline.plan import Admitted, Plan, Target
from gomodel.routing.decision import capped, decide
from gomodel.termination import Termination
from gomodel.usage.pricing import PriceTable

__all__ = ["AdmissionStatistics", "LimitAdmission"]

log = logging.getLogger("gomodel.limits")


@attrs.frozen
class AdmissionStatistics:
    admitted: int
    refused: int
    capped: int
    fail_open: int
    unavailable: int
    settle_failures: int


@attrs.define(eq=False)
class LimitAdmission:
    store: LimitStore
    rules: Callable[[], RuleSet]  # the rules in force now (a cache kept fresh elsewhere)
    prices: PriceTable
    default_output_cap: int
    min_output_cap: int
    fail_open: bool
    lease: float  # seconds a reservation lives unsettled
    clock: Callable[[], float]  # wall-clock seconds
    _admitted: int = attrs.field(default=0, init=False)
    _refused: int = attrs.field(default=0, init=False)
    _capped: int = attrs.field(default=0, init=False)
    _fail_open: int = attrs.field(default=0, init=False)
    _unavailable: int = attrs.field(default=0, init=False)
    _settle_failures: int = attrs.field(default=0, init=False)
    _failing: bool = attrs.field(default=False, init=False)  # the last settle failed
    _refusing: bool = attrs.field(default=False, init=False)  # the last reserve: an error reply

    def statistics(self) -> AdmissionStatistics:
        return AdmissionStatistics(
            self._admitted,
            self._refused,
            self._capped,
            self._fail_open,
            self._unavailable,
            self._settle_failures,
        )

    def limits(self, ctx: RequestContext, target: Target) -> tuple[Limit, ...]:
        return self.rules().for_request(
            key_id=ctx.principal.key_id,
            user_path=ctx.user_path,
            provider=target.provider.name,
            model=target.resolution.model,
        )

    async def admit(self, ctx: RequestContext, target: Target) -> Target:
        limits = self.limits(ctx, target)
        if not limits:
            return target
        budgeted = any(limit.metric is Metric.COST for limit in limits)
        semantics = target.semantics
        asked = output_cap(semantics)
        price = None
        if budgeted:
            price = self.prices.lookup(target.provider.spec.type, target.resolution.model)
            if price is None:
                raise PermissionDenied(
                    f"a budget applies, and the model '{target.resolution.requested}' has no "
                    "price, so what it costs cannot be counted; add its price to the price "
                    "table (prices: in the config file)",
                    param="model",
                    code="budget_unpriced_model",
                )
        rates = token_rates(price) if price is not None else None
        rewritable = semantics.operation is not Operation.PASSTHROUGH
        if budgeted and asked is None and not rewritable:
            raise PermissionDenied(
                "a budget applies: a passthrough call must name its output cap "
                "(max_tokens) so that its cost is bounded",
                param="max_tokens",
                code="budget_needs_max_tokens",
            )
        cap = asked if asked is not None else self.default_output_cap
        lowest = min(cap, self.min_output_cap) if budgeted and rewritable else cap
        input_tokens = prompt_bound(ctx.snapshot.body)
        demand = Demand(
            input_tokens=input_tokens,
            max_output_tokens=cap,
            min_output_tokens=lowest,
            input_cost=input_tokens * rates[0] if rates else 0,
            output_token_cost=rates[1] if rates else 0,
        )
        now = datetime.fromtimestamp(self.clock(), UTC)
        try:
            # The store makes the reservation's id: the request id is the client's to choose
            # (any printable ASCII, and the same on two requests at once if it likes).
            answer = await self.store.reserve(limits, demand, now=now, lease=self.lease)
        except RedisUnavailable as exc:
            if budgeted or not self.fail_open:
                self._unavailable += 1
                raise _limits_unavailable()
            self._fail_open += 1
            log.warning("rate limits skipped: the limit store does not answer (%s)", exc)
            return target
        except RedisReplyError as exc:  # a script Redis refused: a bug, not an outage
            self._unavailable += 1
            if not self._refusing:
                self._refusing = True
                log.error("limits not checked: the limit store refused the call (%s)", exc)
            raise _limits_unavailable() from None
        self._refusing = False
        headers = rate_limit_headers(answer)
        if not answer.admitted:
            self._refused += 1
            raise _refusal(answer, headers)
        self._admitted += 1
        ctx.headers.extend(header_bytes(headers))
        assert answer.reservation is not None
        admitted = Admitted(answer.reservation, price)
        if budgeted and (asked is None or answer.output_tokens < asked):
            self._capped += 1
            semantics = with_output_cap(semantics, answer.output_tokens)
            route = decide(semantics, target.resolution, target.provider.spec, ctx.runtime.policy)
            return attrs.evolve(target, semantics=semantics, route=capped(route), admitted=admitted)
        return attrs.evolve(target, admitted=admitted)

    async def settle(self, ctx: RequestContext, plan: Plan, outcomes: Sequence[Outcome]) -> None:
        admitted = plan.admitted
        if admitted is None:
            return
        worst_tokens = _held(admitted, Metric.TOKENS)
        worst_cost = _held(admitted, Metric.COST)
        tokens = cost = 0
        for outcome in outcomes:
            used_tokens, used_cost = self._used(outcome, admitted)
            tokens += worst_tokens if used_tokens is None else used_tokens
            cost += worst_cost if used_cost is None else used_cost
        now = datetime.fromtimestamp(self.clock(), UTC)
        # Not awaited: the request has nothing to do with the answer, so it does not wait a
        # round trip for it (nor does a client that left cancel it). A settle that fails
        # leaves the reservation to its lease; the store bounds it by its own timeout.
        self.store.settle_detached(
            admitted.reservation, self._settled, now=now, tokens=tokens, cost=cost
        )

    def _settled(self, result: Settlement | Exception) -> None:
        """A settle's outcome: failures are counted, and logged once per run of them."""
        if not isinstance(result, Exception):
            if self._failing:
                self._failing = False
                log.warning("limits are settled again")
            return
        self._settle_failures += 1
        if self._failing:
            return
        self._failing = True
        if isinstance(result, RedisUnavailable):
            log.warning(
                "limits not settled (%s); reservations return at the end of their lease; "
                "further failures are counted, not logged, until a settle succeeds",
                result,
            )
        else:
            log.error("limits not settled: %r", result)

    def _used(self, outcome: Outcome, admitted: Admitted) -> tuple[int | None, int | None]:
        """Tokens and nano-dollars one attempt used; ``None``: unknown, charge the worst."""
        if outcome.usage is not None and outcome.complete:
            cost = 0
            if admitted.price is not None:
                cost = usage_cost(outcome.usage, admitted.price) or 0
            return outcome.usage.total_tokens, cost
        if not _billable(outcome):
            return 0, 0
        return None, None


def _limits_unavailable() -> GatewayError:
    """The 503 of a request whose limits cannot be checked now."""
    return UpstreamUnavailable(
        "the gateway cannot check this request's limits right now; retry shortly",
        code="limits_unavailable",
        headers={"retry-after": "1"},
    )


def _billable(outcome: Outcome) -> bool:
    """Whether the provider may have generated (and billed) without reporting it."""
    if outcome.termination is Termination.CONNECT_ERROR:
        return False
    refused = outcome.error is not None and not outcome.started and outcome.status < 500
    return not (outcome.termination is Termination.UPSTREAM_ERROR and refused)


def _held(admitted: Admitted, metric: Metric) -> int:
    return max(
        (h.amount for h in admitted.reservation.holds if h.limit.metric is metric), default=0
    )


def _refusal(answer: Admission, headers: dict[str, str]) -> GatewayError:
    counter = answer.refused[0]
    limit = counter.limit
    scope = _scope_text(limit.scope)
    when = _reset_text(counter, answer)
    if limit.metric is Metric.COST:
        period = _ADJECTIVES[limit.period] if limit.period else ""
        spent = _usd(counter.used + counter.held)
        message = (
            f"the {period} budget of {_usd(limit.limit)} on {scope} cannot cover this "
            f"request ({spent} spent or reserved, {_usd(counter.remaining)} left){when}"
        )
        return RateLimited(message, code="budget_exceeded", headers=headers)
    if limit.metric is Metric.CONCURRENT:
        message = f"{limit.limit} concurrent requests are allowed on {scope}; all are in use"
    else:
        per = f" per {limit.period.value}" if limit.period else ""
        message = (
            f"the rate limit of {limit.limit} {limit.metric.value}{per} on {scope} is reached{when}"
        )
    return RateLimited(message, code="rate_limit_exceeded", headers=headers)


_ADJECTIVES = {
    Period.HOUR: "hourly",
    Period.DAY: "daily",
    Period.WEEK: "weekly",
    Period.MONTH: "monthly",
}


def _scope_text(scope: str) -> str:
    kind, _, name = scope.partition(":")
    return {"path": f"user path {name}", "key": f"key {name}"}.get(kind, f"{kind} {name}")


def _reset_text(counter: CounterState, answer: Admission) -> str:
    if counter.resets_at is None:
        return ""
    return f"; it resets at {counter.resets_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"


def _usd(nano: int) -> str:
    return f"${nano / NANO_PER_USD:,.6f}".rstrip("0").rstrip(".")
