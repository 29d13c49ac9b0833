"""The limit arithmetic, shared by both backends (the Redis Lua script repeats :func:`decide`
line for line; tests/limits/test_backends.py runs one scenario on both and compares).

1. :func:`plan` turns the limits a request touches and its :class:`Demand` into one
   :class:`Ask` per counter: which counter (the rule plus its current calendar window), a fixed
   amount, an amount per granted output token, and whether it is held (settled later) or
   consumed at once.
2. A backend reads every counter's ``(used, held)`` and calls :func:`decide`: admitted only if
   every counter can take its amount, with the largest output cap all of them allow.
3. The backend applies the amounts (all or nothing) and :func:`admission` builds the answer.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import attrs

from gomodel.limits.model import (
    Admission,
    CounterState,
    Demand,
    Hold,
    Limit,
    Metric,
    Reservation,
)
from gomodel.limits.windows import to_ms, utc, window

__all__ = [
    "CONCURRENCY_RETRY_AFTER",
    "Ask",
    "Decision",
    "admission",
    "closes_at_ms",
    "decide",
    "end_ms",
    "gc_ttl_ms",
    "holds",
    "plan",
    "settle_amount",
]

# A full concurrency limit has no reset time; clients are told to come back after this long.
CONCURRENCY_RETRY_AFTER = 1.0


@attrs.frozen
class Ask:
    """One counter's part of a demand: ``fixed + output * per_unit``."""

    limit: Limit
    counter: str  # metric/period/window-start-ms/scope: unique per counter and window
    window_start: datetime | None
    window_end: datetime | None
    fixed: int
    per_unit: int
    hold: bool  # held until settled (TOKENS, CONCURRENT, COST) or consumed now (REQUESTS)
    seeded: bool  # must be seeded from the authoritative source before first use

    def amount(self, output: int) -> int:
        return self.fixed + output * self.per_unit


@attrs.frozen
class Decision:
    admitted: bool
    output: int  # the output cap granted, or the largest that fits now (refused)
    refused: tuple[int, ...]  # indexes into the asks


def plan(
    limits: Sequence[Limit], demand: Demand, now: datetime, *, seeded_costs: bool
) -> tuple[Ask, ...]:
    """The asks of one demand on ``limits`` at ``now``. ``seeded_costs``: the backend has a seed
    source, so a COST counter that does not exist yet is seeded before it is used."""
    layout = _layout(tuple(limits), seeded_costs, to_ms(now), now)
    asks = list(layout.fixed)
    for i, ask in layout.by_demand:
        if ask.limit.metric is Metric.TOKENS:
            fixed, per_unit = demand.input_tokens, 1
        else:
            fixed, per_unit = demand.input_cost, demand.output_token_cost
        asks[i] = Ask(
            ask.limit,
            ask.counter,
            ask.window_start,
            ask.window_end,
            fixed,
            per_unit,
            ask.hold,
            ask.seeded,
        )
    return tuple(asks)


@attrs.frozen
class _Layout:
    """What the asks on one sequence of limits share while none of their windows moves: every
    counter's name and window, and the asks that do not depend on the demand."""

    start_ms: int  # valid for now in [start_ms, end_ms)
    end_ms: int
    fixed: tuple[Ask, ...]  # by position; the demand's asks are placeholders, replaced
    by_demand: tuple[tuple[int, Ask], ...]  # TOKENS and COST: position and placeholder


# Layouts by (limits, seeded_costs): a request's limits are the same few tuples over and over,
# and the counters' names and windows change only when a window rolls over. Bounded: a limit
# sequence is one per key, path, provider and model in use.
_LAYOUTS: dict[tuple[tuple[Limit, ...], bool], _Layout] = {}
_LAYOUT_CACHE_SIZE = 4096


def _layout(limits: tuple[Limit, ...], seeded_costs: bool, now_ms: int, now: datetime) -> _Layout:
    key = (limits, seeded_costs)
    layout = _LAYOUTS.get(key)
    if layout is not None and layout.start_ms <= now_ms < layout.end_ms:
        return layout
    layout = _new_layout(limits, seeded_costs, now)
    if len(_LAYOUTS) >= _LAYOUT_CACHE_SIZE:
        _LAYOUTS.clear()
    _LAYOUTS[key] = layout
    return layout


def _new_layout(limits: tuple[Limit, ...], seeded_costs: bool, now: datetime) -> _Layout:
    seen: set[str] = set()
    asks: list[Ask] = []
    by_demand: list[tuple[int, Ask]] = []
    start_ms, end_ms = -(2**63), 2**63
    for limit in limits:
        if limit.name in seen:
            raise ValueError(f"limit {limit.name} given twice")
        seen.add(limit.name)
        start = end = None
        if limit.period is not None:
            start, end = window(limit.period, now)
            start_ms, end_ms = max(start_ms, to_ms(start)), min(end_ms, to_ms(end))
        metric = limit.metric
        period = limit.period.value if limit.period else "-"
        ask = Ask(
            limit=limit,
            counter=f"{metric.value}/{period}/{to_ms(start) if start else 0}/{limit.scope}",
            window_start=start,
            window_end=end,
            fixed=1,  # REQUESTS and CONCURRENT: one request, one slot
            per_unit=0,
            hold=metric is not Metric.REQUESTS,
            seeded=seeded_costs and metric is Metric.COST,
        )
        if metric is Metric.TOKENS or metric is Metric.COST:
            by_demand.append((len(asks), ask))
        asks.append(ask)
    return _Layout(start_ms, end_ms, tuple(asks), tuple(by_demand))


def decide(asks: Sequence[Ask], states: Sequence[tuple[int, int]], demand: Demand) -> Decision:
    """Admit iff every counter has room for its amount at the smallest acceptable output cap;
    grant the largest cap (up to the asked maximum) that every counter has room for."""
    output = demand.max_output_tokens
    refused: list[int] = []
    for i, (ask, (used, held)) in enumerate(zip(asks, states, strict=True)):
        room = ask.limit.limit - used - held
        if room < ask.amount(demand.min_output):
            refused.append(i)
        if ask.per_unit > 0:
            output = min(output, (room - ask.fixed) // ask.per_unit)
    return Decision(not refused, max(0, output), tuple(refused))


def admission(
    asks: Sequence[Ask],
    states: Sequence[tuple[int, int]],
    decision: Decision,
    demand: Demand,
    now: datetime,
    reservation: Reservation | None,
) -> Admission:
    """The answer, from the counters as found (``states``) and the decision applied to them."""
    now = utc(now)
    counters: list[CounterState] = []
    for ask, (used, held) in zip(asks, states, strict=True):
        if decision.admitted:
            amount = ask.amount(decision.output)
            used, held = (used, held + amount) if ask.hold else (used + amount, held)
        counters.append(CounterState(ask.limit, used, held, ask.window_start, ask.window_end))
    refused = tuple(counters[i] for i in decision.refused)
    retry_after: float | None = None
    if refused:
        waits: list[float] = []
        for i in decision.refused:
            ask = asks[i]
            if ask.amount(demand.min_output) > ask.limit.limit:
                waits = []  # no window will ever hold it: waiting cannot help
                break
            if ask.window_end is None:
                waits.append(CONCURRENCY_RETRY_AFTER)
            else:
                waits.append((ask.window_end - now).total_seconds())
        retry_after = max(waits) if waits else None
    return Admission(
        admitted=decision.admitted,
        at=now,
        output_tokens=decision.output,
        counters=tuple(counters),
        refused=refused,
        reservation=reservation,
        retry_after=retry_after,
    )


def holds(asks: Sequence[Ask], output: int) -> tuple[Hold, ...]:
    """What an admitted demand holds, per held counter."""
    return tuple(
        Hold(ask.limit, ask.counter, ask.amount(output), ask.window_end) for ask in asks if ask.hold
    )


def settle_amount(hold: Hold, *, tokens: int, cost: int) -> int:
    """What settling charges a counter: total tokens, the cost, nothing for a slot."""
    metric = hold.limit.metric
    if metric is Metric.TOKENS:
        return tokens
    if metric is Metric.COST:
        return cost
    return 0


def end_ms(window_end: datetime | None) -> int | None:
    """A window's end in ms since the epoch; None for a counter without a window."""
    return None if window_end is None else to_ms(window_end)


def closes_at_ms(window_end_ms: int | None, grace_ms: int) -> int:
    """Until when (ms) a counter takes settles and extends: its window's end plus ``grace``; 0
    (never closes) for a CONCURRENT counter, whose holds and ids expire on their own."""
    return 0 if window_end_ms is None else window_end_ms + grace_ms


def gc_ttl_ms(window_end_ms: int | None, now_ms: int, lease_end_ms: int, grace_ms: int) -> int:
    """How long (ms, from now) a backend keeps a counter: its window plus ``grace`` for late
    settles, or for a CONCURRENT counter the lease just granted plus ``grace`` (a backend never
    shortens it). Housekeeping only: no answer depends on it."""
    end = lease_end_ms if window_end_ms is None else window_end_ms
    return max(1, end - now_ms + grace_ms)
