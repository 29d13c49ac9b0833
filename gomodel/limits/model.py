"""The values of the limit engine: what is limited, what a request asks, what it was granted.

A :class:`Limit` is one counter rule (``requests`` per minute on ``key:abc``, a monthly USD
budget on ``path:/team-a``, 4 concurrent requests on ``provider:openai``). A request touches
several; it asks for them all at once with one :class:`Demand` and gets one :class:`Admission`.
If admitted, the :class:`Reservation` it carries is settled when the exchange ends.

Amounts are integers: requests, tokens, slots, and nano-dollars (1 USD = 10**9) for budgets.
Time is an aware datetime (UTC) passed in by the caller, never read from a clock here.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "MAX_AMOUNT",
    "Admission",
    "CounterState",
    "Demand",
    "Hold",
    "Limit",
    "Metric",
    "Period",
    "Reservation",
    "Settled",
    "Settlement",
]

# Redis's Lua numbers are doubles: integers are exact below 2**53. Limits and amounts stay below
# 2**51 (2.2 million USD in nano-dollars) so that used + held + asked never leaves that range.
MAX_AMOUNT = 2**51


class Metric(enum.Enum):
    """What a counter counts, and so how a request uses it."""

    REQUESTS = "requests"  # one per request, counted at admission (never settled)
    TOKENS = "tokens"  # estimate reserved at admission, settled to the actual total tokens
    CONCURRENT = "concurrent"  # one slot held from admission until settled or its lease expires
    COST = "cost"  # nano-USD; worst case reserved, settled to the actual cost; seeded (budgets)


class Period(enum.Enum):
    """A calendar window in UTC; the week starts on Monday (ISO 8601)."""

    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _amount(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not 0 <= value < MAX_AMOUNT:
        raise ValueError(f"{attribute.name} must be in [0, 2**51), not {value!r}")


@attrs.frozen(cache_hash=True)  # a request's limits are dictionary keys (plan's layouts)
class Limit:
    """One rule: at most ``limit`` of ``metric`` on ``scope`` per ``period`` (no period for
    CONCURRENT). The scope is the caller's string (``key:<id>``, ``path:/team-a``, ...)."""

    scope: str
    metric: Metric
    limit: int = attrs.field(validator=_amount)
    period: Period | None = None

    def __attrs_post_init__(self) -> None:
        if (self.metric is Metric.CONCURRENT) != (self.period is None):
            raise ValueError("CONCURRENT limits have no period; every other metric has one")
        if not self.scope:
            raise ValueError("a limit needs a scope")

    @property
    def name(self) -> str:
        """``requests/minute/key:abc``: unique per rule; two rules with one name are a bug."""
        period = self.period.value if self.period else "-"
        return f"{self.metric.value}/{period}/{self.scope}"


@attrs.frozen(kw_only=True)
class Demand:
    """What one request asks of every counter it touches.

    The output cap may be lowered: the engine grants the largest ``output`` in
    ``[min_output_tokens, max_output_tokens]`` that every counter can hold, where a TOKENS
    counter needs ``input_tokens + output`` and a COST counter ``input_cost + output *
    output_token_cost``. ``min_output_tokens`` defaults to the maximum: no lowering.
    """

    input_tokens: int = attrs.field(default=0, validator=_amount)
    max_output_tokens: int = attrs.field(default=0, validator=_amount)
    min_output_tokens: int | None = None
    input_cost: int = attrs.field(default=0, validator=_amount)  # nano-USD, worst case
    output_token_cost: int = attrs.field(default=0, validator=_amount)  # nano-USD, rounded up

    def __attrs_post_init__(self) -> None:
        low = self.min_output
        if not 0 <= low <= self.max_output_tokens:
            raise ValueError("min_output_tokens must be in [0, max_output_tokens]")

    @property
    def min_output(self) -> int:
        return self.max_output_tokens if self.min_output_tokens is None else self.min_output_tokens


@attrs.frozen
class CounterState:
    """One counter as the engine saw it: settled ``used``, outstanding ``held``, its window."""

    limit: Limit
    used: int
    held: int
    window_start: datetime | None  # None for CONCURRENT
    resets_at: datetime | None  # the window's end: the counter starts from zero then

    @property
    def remaining(self) -> int:
        return max(0, self.limit.limit - self.used - self.held)


@attrs.frozen
class Hold:
    """What a reservation holds on one counter, to be settled."""

    limit: Limit
    counter: str  # the counter's identity (metric/period/window start/scope)
    amount: int
    window_end: datetime | None


@attrs.frozen
class Reservation:
    """Held amounts under one id; expire at ``expires_at`` unless settled or extended first."""

    id: str
    holds: tuple[Hold, ...]
    expires_at: datetime


@attrs.frozen
class Admission:
    """The answer to one :class:`Demand`.

    ``counters`` are every counter touched, as they are after this admission (admitted) or as
    found (refused); ``refused`` the ones that said no. ``output_tokens`` is the output cap
    granted, or on refusal the largest that would fit now. ``retry_after`` (seconds) is when
    the refusing counters reset; ``None`` when admitted or when waiting cannot help (the demand
    exceeds a limit outright).
    """

    admitted: bool
    at: datetime
    output_tokens: int
    counters: tuple[CounterState, ...]
    refused: tuple[CounterState, ...] = ()
    reservation: Reservation | None = None
    retry_after: float | None = None

    def tightest(self, metric: Metric) -> CounterState | None:
        """The counter of ``metric`` that binds: a refusing one, else the least remaining (the
        later reset on a tie). Its figures go in the ``x-ratelimit-*`` headers."""
        for pool in (self.refused, self.counters):
            found: CounterState | None = None
            for counter in pool:
                if counter.limit.metric is not metric:
                    continue
                if found is None or self._binds_before(counter, found):
                    found = counter
            if found is not None:
                return found
        return None

    def _binds_before(self, a: CounterState, b: CounterState) -> bool:
        if a.remaining != b.remaining:
            return a.remaining < b.remaining
        return (a.resets_at or self.at) > (b.resets_at or self.at)


class Settled(enum.Enum):
    """What a settle did on one counter."""

    SETTLED = "settled"  # the hold was released and the actual amount charged
    LATE = "late"  # the hold had already expired (its amount came back); actual charged now
    GONE = "gone"  # nothing to do: settled before, or the counter or its memory expired


@attrs.frozen
class Settlement:
    outcomes: tuple[tuple[Limit, Settled], ...]

    @property
    def applied(self) -> bool:
        """Whether this call charged anything (False for a repeated settle)."""
        return any(outcome is not Settled.GONE for _, outcome in self.outcomes)
