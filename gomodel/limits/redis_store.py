"""The limit engine in Redis: every replica sharing one Redis enforces one set of counters.

Each operation is one Lua script call (``gomodel/limits/lua/``), so a request's check and
reservation on all its counters is atomic across replicas: Redis runs one script at a time.
The scripts take ``now`` from the caller (never Redis's clock); the arithmetic is
``gomodel.limits.plan.decide``, repeated in Lua. A budget counter that does not exist yet costs
one more call: the script names it, the seed callback is awaited, and the script runs again
with the value, which it sets only if nobody set it meanwhile (SET NX).

Every call raises :class:`~gomodel.errors.RedisUnavailable` within the client's timeout when
Redis is down or slow; the caller picks the policy. A reserve that timed out may still have
happened: its holds expire with their lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gomodel.errors import RedisError, RedisReplyError
from gomodel.limits.model import (
    Admission,
    CounterState,
    Demand,
    Limit,
    Reservation,
    Settled,
    Settlement,
)
from gomodel.limits.plan import (
    Ask,
    Decision,
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
from gomodel.redis import Encoded, RedisClient, Reply, Script
from gomodel.redis.resp import encode_args

__all__ = ["DEFAULT_PREFIX", "RedisLimits"]

DEFAULT_PREFIX = "gomodel:limits:"

_PRELUDE = Script.from_package("gomodel.limits", "lua/prelude.lua").source


def _script(name: str) -> Script:
    body = Script.from_package("gomodel.limits", f"lua/{name}.lua").source
    return Script(name, _PRELUDE + "\n" + body)


RESERVE = _script("reserve")
SETTLE = _script("settle")
EXTEND = _script("extend")

_NO_SEED, _MUST_EXIST = -1, -2
_KEY_CACHE_SIZE = 4096
_OUTCOMES = {0: Settled.GONE, 1: Settled.SETTLED, 2: Settled.LATE}


class RedisLimits:
    """A :class:`~gomodel.limits.store.LimitStore` on a shared Redis.

    ``prefix`` starts every key (two per counter). ``seed``, ``lease`` and ``grace`` mean what
    they mean for :class:`~gomodel.limits.memory.MemoryLimits`.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        prefix: str = DEFAULT_PREFIX,
        seed: Seeder | None = None,
        lease: float = 300.0,
        grace: float = 3600.0,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._seed = seed
        self._lease_ms = round(lease * 1000)
        self._grace_ms = round(grace * 1000)
        self._key_cache: dict[str, tuple[bytes, int | None]] = {}

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
        now_ms = to_ms(now)
        lease_end = now_ms + (self._lease_ms if lease is None else round(lease * 1000))
        if not asks:  # nothing to check: no round trip
            nothing = Decision(True, demand.max_output_tokens, ())
            empty = Reservation(rid, (), from_ms(lease_end))
            return admission(asks, [], nothing, demand, now, empty)
        reply = await self._run(asks, "reserve", now_ms, rid, lease_end, demand)
        admitted, output, states = _parse(reply, len(asks))
        refused = () if admitted else decide(asks, states, demand).refused
        decision = Decision(admitted, output, refused)
        reservation: Reservation | None = None
        if admitted:
            reservation = Reservation(rid, holds(asks, output), from_ms(lease_end))
        return admission(asks, states, decision, demand, now, reservation)

    async def settle(
        self, reservation: Reservation, *, now: datetime, tokens: int = 0, cost: int = 0
    ) -> Settlement:
        if not reservation.holds:
            return Settlement(())
        keys, args = self._settle_call(reservation, now, tokens, cost)
        reply = await self._client.evalsha(SETTLE, keys, args)
        return _settlement(reservation, reply)

    def settle_detached(
        self,
        reservation: Reservation,
        done: SettleDone,
        *,
        now: datetime,
        tokens: int = 0,
        cost: int = 0,
    ) -> None:
        if not reservation.holds:
            done(Settlement(()))
            return
        keys, args = self._settle_call(reservation, now, tokens, cost)

        def answered(reply: Reply | RedisError) -> None:
            if isinstance(reply, RedisError):
                done(reply)
                return
            try:
                settlement = _settlement(reservation, reply)
            except RedisReplyError as exc:
                done(exc)
                return
            done(settlement)

        self._client.evalsha_detached(SETTLE, keys, args, answered)

    def _settle_call(
        self, reservation: Reservation, now: datetime, tokens: int, cost: int
    ) -> tuple[Encoded, list[str | int]]:
        holds = reservation.holds
        keys, ends = self._counters([(h.counter, h.window_end) for h in holds])
        grace = self._grace_ms
        args: list[str | int] = [to_ms(now), reservation.id, grace]
        for hold, end in zip(holds, ends, strict=True):
            actual = settle_amount(hold, tokens=tokens, cost=cost)
            args.append(f"{actual} {closes_at_ms(end, grace)}")
        return keys, args

    async def extend(
        self, reservation: Reservation, *, now: datetime, lease: float | None = None
    ) -> Reservation | None:
        if not reservation.holds:
            return None
        now_ms = to_ms(now)
        lease_end = now_ms + (self._lease_ms if lease is None else round(lease * 1000))
        keys, ends = self._counters([(h.counter, h.window_end) for h in reservation.holds])
        args: list[str | int] = [now_ms, reservation.id, lease_end, self._grace_ms]
        for end in ends:
            args += (
                gc_ttl_ms(end, now_ms, lease_end, self._grace_ms),
                closes_at_ms(end, self._grace_ms),
            )
        reply = await self._client.evalsha(EXTEND, keys, args)
        if not any(_ints(reply, len(reservation.holds))):
            return None
        return Reservation(reservation.id, reservation.holds, from_ms(lease_end))

    async def read(self, limits: Sequence[Limit], *, now: datetime) -> tuple[CounterState, ...]:
        demand = Demand()
        asks = plan(limits, demand, now, seeded_costs=self._seed is not None)
        if not asks:
            return ()
        now_ms = to_ms(now)
        reply = await self._run(asks, "read", now_ms, "-", now_ms, demand)
        _, _, states = _parse(reply, len(asks))
        return tuple(
            CounterState(a.limit, used, held, a.window_start, a.window_end)
            for a, (used, held) in zip(asks, states, strict=True)
        )

    def _counters(
        self, counters: Sequence[tuple[str, datetime | None]]
    ) -> tuple[Encoded, list[int | None]]:
        """The two keys of each ``(counter, window_end)``, encoded, and the window's end in ms
        (None: no window), both worked out once per counter: a window's counters are the same
        for every request of the window, and a counter's name fixes its window."""
        cache = self._key_cache
        parts = []
        ends: list[int | None] = []
        for counter, window_end in counters:
            entry = cache.get(counter)
            if entry is None:
                if len(cache) >= _KEY_CACHE_SIZE:
                    cache.clear()  # windows moved on: the old counters are not asked again
                prefix = self._prefix
                data = encode_args((f"{prefix}h/{counter}", f"{prefix}z/{counter}"))
                entry = (data, end_ms(window_end))
                cache[counter] = entry
            parts.append(entry[0])
            ends.append(entry[1])
        return Encoded(b"".join(parts), 2 * len(parts)), ends

    async def _run(
        self, asks: Sequence[Ask], mode: str, now_ms: int, rid: str, lease_end: int, demand: Demand
    ) -> Reply:
        """The reserve script, seeding the budgets it reports absent (at most twice: a counter
        that vanished between two calls is a key expiring at its window's end)."""
        seeds = [_MUST_EXIST if a.seeded else _NO_SEED for a in asks]
        keys, ends = self._counters([(a.counter, a.window_end) for a in asks])
        grace = self._grace_ms
        for _ in range(3):
            args: list[str | int] = [
                mode,
                now_ms,
                rid,
                lease_end,
                self._grace_ms,
                demand.min_output,
                demand.max_output_tokens,
            ]
            for ask, seed, end in zip(asks, seeds, ends, strict=True):
                ttl = gc_ttl_ms(end, now_ms, lease_end, grace)
                args.append(
                    f"{ask.limit.limit} {ask.fixed} {ask.per_unit} {int(ask.hold)} {ttl} {seed}"
                )
            reply = await self._client.evalsha(RESERVE, keys, args)
            if not (isinstance(reply, list) and reply and reply[0] == -1):
                if reply == [-2]:
                    raise ValueError(f"reservation {rid} is already held")
                return reply
            assert self._seed is not None
            missing = reply[1]
            for index in _ints(missing, len(missing) if isinstance(missing, list) else -1):
                ask = asks[index]
                assert ask.window_start is not None
                assert ask.window_end is not None
                seeds[index] = int(await self._seed(ask.limit, ask.window_start, ask.window_end))
        raise RedisReplyError("ERR budget counters kept vanishing while being seeded")


def _ints(reply: Reply, count: int) -> list[int]:
    """A script's reply as ``count`` integers, or a RedisReplyError saying it was not."""
    if isinstance(reply, list) and len(reply) == count:
        numbers = [x for x in reply if isinstance(x, int)]
        if len(numbers) == count:
            return numbers
    raise RedisReplyError(f"ERR unexpected reply from a limit script: {reply!r:.200}")


def _settlement(reservation: Reservation, reply: Reply) -> Settlement:
    codes = _ints(reply, len(reservation.holds))
    return Settlement(
        tuple((h.limit, _OUTCOMES[c]) for h, c in zip(reservation.holds, codes, strict=True))
    )


def _parse(reply: Reply, count: int) -> tuple[bool, int, list[tuple[int, int]]]:
    numbers = _ints(reply, 2 + 2 * count)
    states = [(numbers[2 + 2 * i], numbers[3 + 2 * i]) for i in range(count)]
    return numbers[0] == 1, numbers[1], states
