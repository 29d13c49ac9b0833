"""The limit engine in one process: nothing to run, nothing shared, everything lost on exit.

It keeps exactly the state the Redis backend keeps (per counter: settled ``used``, outstanding
``held``, each hold's amount and expiry, and for ``grace`` after expiry the ids of holds that
expired unsettled) and changes it by the same rules, so the two answer alike. Between the seed
callback and the end of a call nothing awaits: one call's check-and-reserve is atomic with
respect to every other task of the process.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime

from gomodel.limits.model import (
    Admission,
    CounterState,
    Demand,
    Hold,
    Limit,
    Reservation,
    Settled,
    Settlement,
)
from gomodel.limits.plan import (
    Ask,
    admission,
    closes_at_ms,
    decide,
    end_ms,
    gc_ttl_ms,
    holds,
    plan,
    settle_amount,
)
from gomodel.limits.store import Seeder, SettleDone, new_reservation_id
from gomodel.limits.windows import from_ms, to_ms

__all__ = ["MemoryLimits"]

_PRUNE_EVERY_MS = 60_000


class _Counter:
    __slots__ = ("expired", "expiries", "gc_at", "held", "holds", "used")

    def __init__(self, used: int, gc_at: int) -> None:
        self.used = used
        self.held = 0
        self.holds: dict[str, tuple[int, int]] = {}  # id -> (amount, expires at ms)
        self.expiries: list[tuple[int, str]] = []  # heap of (expires at, id); stale ones skipped
        self.expired: dict[str, int] = {}  # id of a hold that expired unsettled -> forget at ms
        self.gc_at = gc_at

    def sweep(self, now_ms: int, grace_ms: int) -> None:
        """Expired holds give their amount back; their ids are kept ``grace`` for late settles."""
        while self.expiries and self.expiries[0][0] <= now_ms:
            expires, rid = heapq.heappop(self.expiries)
            if rid in self.expired and expires == self.expired[rid]:
                del self.expired[rid]
                continue
            hold = self.holds.get(rid)
            if hold is None or hold[1] != expires:
                continue  # settled, or extended (a later entry stands for it)
            del self.holds[rid]
            self.held -= hold[0]
            if expires + grace_ms > now_ms:
                self.expired[rid] = expires + grace_ms
                heapq.heappush(self.expiries, (expires + grace_ms, rid))


class MemoryLimits:
    """A :class:`~gomodel.limits.store.LimitStore` for one process.

    ``seed`` gives a budget counter its starting spend the first time it is used (see
    :data:`~gomodel.limits.store.Seeder`); without it budgets start at zero. ``lease`` is the
    default lifetime of a reservation (seconds), ``grace`` how long a counter and the ids of
    expired holds are kept after their window or lease, so that late settles still count.
    """

    def __init__(
        self, *, seed: Seeder | None = None, lease: float = 300.0, grace: float = 3600.0
    ) -> None:
        self._seed = seed
        self._lease_ms = round(lease * 1000)
        self._grace_ms = round(grace * 1000)
        self._counters: dict[str, _Counter] = {}
        self._prune_at = 0

    async def reserve(
        self,
        limits: Sequence[Limit],
        demand: Demand,
        *,
        now: datetime,
        lease: float | None = None,
        reservation_id: str | None = None,
    ) -> Admission:
        rid = new_reservation_id(reservation_id)
        asks = plan(limits, demand, now, seeded_costs=self._seed is not None)
        await self._ensure_seeded(asks, now)
        now_ms = to_ms(now)
        lease_end = now_ms + (self._lease_ms if lease is None else round(lease * 1000))
        counters = self._touch(asks, now_ms, lease_end)
        if any(rid in c.holds for c, a in zip(counters, asks, strict=True) if a.hold):
            raise ValueError(f"reservation {rid} is already held")
        states = [(c.used, c.held) for c in counters]
        decision = decide(asks, states, demand)
        reservation = None
        if decision.admitted:
            for counter, ask in zip(counters, asks, strict=True):
                amount = ask.amount(decision.output)
                if ask.hold:
                    counter.held += amount
                    counter.holds[rid] = (amount, lease_end)
                    heapq.heappush(counter.expiries, (lease_end, rid))
                else:
                    counter.used += amount
            reservation = Reservation(rid, holds(asks, decision.output), from_ms(lease_end))
        return admission(asks, states, decision, demand, now, reservation)

    async def settle(
        self, reservation: Reservation, *, now: datetime, tokens: int = 0, cost: int = 0
    ) -> Settlement:
        return self._settle(reservation, now, tokens, cost)

    def settle_detached(
        self,
        reservation: Reservation,
        done: SettleDone,
        *,
        now: datetime,
        tokens: int = 0,
        cost: int = 0,
    ) -> None:
        done(self._settle(reservation, now, tokens, cost))

    def _settle(
        self, reservation: Reservation, now: datetime, tokens: int, cost: int
    ) -> Settlement:
        now_ms = to_ms(now)
        outcomes = []
        for hold in reservation.holds:
            counter = self._open(hold, now_ms)
            outcome = Settled.GONE
            if counter is not None:
                counter.sweep(now_ms, self._grace_ms)
                rid = reservation.id
                actual = settle_amount(hold, tokens=tokens, cost=cost)
                if rid in counter.holds:
                    counter.held -= counter.holds.pop(rid)[0]
                    counter.used += actual
                    outcome = Settled.SETTLED
                elif rid in counter.expired:
                    del counter.expired[rid]
                    counter.used += actual
                    outcome = Settled.LATE
            outcomes.append((hold.limit, outcome))
        return Settlement(tuple(outcomes))

    async def extend(
        self, reservation: Reservation, *, now: datetime, lease: float | None = None
    ) -> Reservation | None:
        now_ms = to_ms(now)
        lease_end = now_ms + (self._lease_ms if lease is None else round(lease * 1000))
        extended = False
        for hold in reservation.holds:
            counter = self._open(hold, now_ms)
            if counter is None:
                continue
            counter.sweep(now_ms, self._grace_ms)
            held = counter.holds.get(reservation.id)
            if held is not None:
                counter.holds[reservation.id] = (held[0], lease_end)
                heapq.heappush(counter.expiries, (lease_end, reservation.id))
                ttl = gc_ttl_ms(end_ms(hold.window_end), now_ms, lease_end, self._grace_ms)
                counter.gc_at = max(counter.gc_at, now_ms + ttl)
                extended = True
        if not extended:
            return None
        return Reservation(reservation.id, reservation.holds, from_ms(lease_end))

    async def read(self, limits: Sequence[Limit], *, now: datetime) -> tuple[CounterState, ...]:
        asks = plan(limits, Demand(), now, seeded_costs=self._seed is not None)
        await self._ensure_seeded(asks, now)
        now_ms = to_ms(now)
        states = []
        for ask in asks:
            counter = self._live(ask.counter, now_ms)
            if counter is not None:
                counter.sweep(now_ms, self._grace_ms)
            used, held = (counter.used, counter.held) if counter is not None else (0, 0)
            states.append(CounterState(ask.limit, used, held, ask.window_start, ask.window_end))
        return tuple(states)

    def _open(self, hold: Hold, now_ms: int) -> _Counter | None:
        """The counter of ``hold`` if it still takes settles and extends."""
        closes = closes_at_ms(end_ms(hold.window_end), self._grace_ms)
        if closes and now_ms >= closes:
            return None
        return self._live(hold.counter, now_ms)

    def _live(self, name: str, now_ms: int) -> _Counter | None:
        counter = self._counters.get(name)
        if counter is not None and counter.gc_at <= now_ms:
            del self._counters[name]
            return None
        return counter

    def _touch(self, asks: Sequence[Ask], now_ms: int, lease_end: int) -> list[_Counter]:
        """Every ask's counter, swept, created if absent (a seeded one exists by now)."""
        if now_ms >= self._prune_at:
            self._prune_at = now_ms + _PRUNE_EVERY_MS
            for name in [n for n, c in self._counters.items() if c.gc_at <= now_ms]:
                del self._counters[name]
        counters = []
        for ask in asks:
            gc_at = now_ms + gc_ttl_ms(end_ms(ask.window_end), now_ms, lease_end, self._grace_ms)
            counter = self._live(ask.counter, now_ms)
            if counter is None:
                counter = self._counters[ask.counter] = _Counter(0, gc_at)
            counter.gc_at = max(counter.gc_at, gc_at)
            counter.sweep(now_ms, self._grace_ms)
            counters.append(counter)
        return counters

    async def _ensure_seeded(self, asks: Sequence[Ask], now: datetime) -> None:
        if self._seed is None:
            return
        now_ms = to_ms(now)
        for ask in asks:
            if not ask.seeded or self._live(ask.counter, now_ms) is not None:
                continue
            assert ask.window_start is not None
            assert ask.window_end is not None
            value = await self._seed(ask.limit, ask.window_start, ask.window_end)
            # SET NX: a concurrent seeder that finished first wins, and both agree afterwards.
            if self._live(ask.counter, now_ms) is None:
                gc_at = to_ms(ask.window_end) + self._grace_ms
                self._counters[ask.counter] = _Counter(int(value), gc_at)
