"""What the Redis backend stores, field by field: the layout gomodel/limits/lua/prelude.lua
documents (per counter a hash of ``used``, ``held`` and ``h:<id>``, a sorted set of ``<id>`` and
``x:<id>`` scored in ms, key TTLs that never shrink). Replicas of two versions may share one
Redis during a rolling upgrade, so a script that answers alike but stores differently is a bug
these tests catch: they read the keys back after each step of a reserve, settle, expiry, late
settle and seeding scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import attrs
import pytest

from gomodel.limits import Demand, Limit, Metric, Period, Settled, Settlement
from gomodel.limits.plan import plan
from gomodel.limits.redis_store import RedisLimits
from gomodel.redis import RedisClient
from tests.limits.backends import Clock
from tests.redis.live import live_prefix

RPM = Limit("key:k1", Metric.REQUESTS, 100, Period.MINUTE)
TPM = Limit("key:k1", Metric.TOKENS, 10_000, Period.MINUTE)
SLOT = Limit("key:k1", Metric.CONCURRENT, 5)
BUDGET = Limit("path:/team", Metric.COST, 1_000_000, Period.DAY)
FREE = Limit("path:/free", Metric.COST, 1_000, Period.DAY)

T0 = datetime(2025, 3, 10, 12, 0, 5, tzinfo=UTC)
MINUTE_END = datetime(2025, 3, 10, 12, 1, tzinfo=UTC)
DAY_END = datetime(2025, 3, 11, tzinfo=UTC)
LEASE, GRACE = 60_000, 600_000  # ms
SLACK = 10_000  # ms of real time a busy machine may take between a write and its check


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


async def seed(limit: Limit, start: datetime, end: datetime) -> int:
    return 1234 if limit == BUDGET else 0


@attrs.frozen
class Stored:
    """One counter's two keys as Redis holds them (text as stored; PTTL -2: no key)."""

    hash: dict[str, str]
    zset: list[tuple[str, str]]
    hash_ttl: int
    zset_ttl: int

    def unchanged(self, before: Stored) -> bool:
        """The same content, and the same TTLs give or take the real time since ``before``."""
        same = (self.hash, self.zset) == (before.hash, before.zset)
        for now, then in ((self.hash_ttl, before.hash_ttl), (self.zset_ttl, before.zset_ttl)):
            same = same and (now == then if then < 0 else then - SLACK <= now <= then)
        return same


class Keys:
    def __init__(self, client: RedisClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def read(self, limit: Limit, at: datetime) -> Stored:
        [ask] = plan([limit], Demand(), at, seeded_costs=False)
        h, z = f"{self.prefix}h/{ask.counter}", f"{self.prefix}z/{ask.counter}"
        fields = await self.client.execute("HGETALL", h)
        scored = await self.client.execute("ZRANGE", z, 0, -1, "WITHSCORES")
        assert isinstance(fields, list) and isinstance(scored, list)
        text = [x.decode() for x in fields + scored if isinstance(x, bytes)]
        assert len(text) == len(fields) + len(scored)
        pairs = list(zip(text[0::2], text[1::2], strict=True))
        hash_ttl = await self.client.execute("PTTL", h)
        zset_ttl = await self.client.execute("PTTL", z)
        assert isinstance(hash_ttl, int) and isinstance(zset_ttl, int)
        return Stored(
            dict(pairs[: len(fields) // 2]), pairs[len(fields) // 2 :], hash_ttl, zset_ttl
        )


@asynccontextmanager
async def store() -> AsyncIterator[tuple[RedisLimits, Keys]]:
    async with live_prefix("luastate") as (client, prefix):
        limits = RedisLimits(client, prefix=prefix, seed=seed, lease=LEASE / 1000, grace=600)
        yield limits, Keys(client, prefix)


def lasts(ttl: int, expected: int) -> bool:
    """A key's PTTL, read a moment after it was set to ``expected`` (ms)."""
    return expected - SLACK <= ttl <= expected


async def test_reserve_settle_expire_and_settle_late_store_the_documented_layout() -> None:
    clock = Clock(T0)
    async with store() as (limits, keys):
        # A seeded budget, a request count (consumed at once) and two held counters.
        demand = Demand(
            input_tokens=100, max_output_tokens=50, input_cost=2000, output_token_cost=10
        )
        first = await limits.reserve(
            [RPM, TPM, SLOT, BUDGET], demand, now=clock.now, reservation_id="r1"
        )
        assert first.admitted and first.output_tokens == 50 and first.reservation is not None
        end1 = str(ms(T0) + LEASE)
        window = ms(MINUTE_END) - ms(T0) + GRACE
        rpm = await keys.read(RPM, clock.now)
        assert (rpm.hash, rpm.zset, rpm.zset_ttl) == ({"used": "1"}, [], -2)
        assert lasts(rpm.hash_ttl, window)
        tpm = await keys.read(TPM, clock.now)
        assert (tpm.hash, tpm.zset) == ({"held": "150", "h:r1": "150"}, [("r1", end1)])
        assert lasts(tpm.hash_ttl, window) and lasts(tpm.zset_ttl, window)
        slot = await keys.read(SLOT, clock.now)
        assert (slot.hash, slot.zset) == ({"held": "1", "h:r1": "1"}, [("r1", end1)])
        assert lasts(slot.hash_ttl, LEASE + GRACE) and lasts(slot.zset_ttl, LEASE + GRACE)
        budget = await keys.read(BUDGET, clock.now)
        assert budget.hash == {"used": "1234", "held": "2500", "h:r1": "2500"}
        assert budget.zset == [("r1", end1)]
        day = ms(DAY_END) - ms(T0) + GRACE
        assert lasts(budget.hash_ttl, day) and lasts(budget.zset_ttl, day)

        # A second reservation with a shorter lease shortens no key's life; settling the first
        # moves its holds into `used` and drops its fields and members.
        clock.advance(1)
        second = await limits.reserve(
            [TPM, SLOT],
            Demand(input_tokens=10, max_output_tokens=20),
            now=clock.now,
            lease=30,
            reservation_id="r2",
        )
        assert second.admitted and second.reservation is not None
        settled = await limits.settle(first.reservation, now=clock.now, tokens=120, cost=1800)
        assert {o for _, o in settled.outcomes} == {Settled.SETTLED}
        end2 = str(ms(clock.now) + 30_000)
        tpm = await keys.read(TPM, clock.now)
        assert tpm.hash == {"held": "30", "h:r2": "30", "used": "120"}
        assert tpm.zset == [("r2", end2)]
        assert lasts(tpm.hash_ttl, window) and lasts(tpm.zset_ttl, window)
        slot = await keys.read(SLOT, clock.now)
        assert (slot.hash, slot.zset) == ({"held": "1", "h:r2": "1", "used": "0"}, [("r2", end2)])
        assert lasts(slot.hash_ttl, LEASE + GRACE) and lasts(slot.zset_ttl, LEASE + GRACE)
        budget = await keys.read(BUDGET, clock.now)
        assert (budget.hash, budget.zset_ttl) == ({"used": "3034", "held": "0"}, -2)
        assert lasts(budget.hash_ttl, day)
        assert (await keys.read(RPM, clock.now)).unchanged(rpm)  # no hold, nothing to settle

        # r2 expires unsettled: a read sweeps it, giving its amount back and remembering its id
        # for `grace`. The sweep took the set's last member, so Redis deleted the set: the
        # remembered id starts a new one, which lives as long as the id is remembered.
        clock.advance(40)
        assert [(c.used, c.held) for c in await limits.read([TPM, SLOT], now=clock.now)] == [
            (120, 0),
            (0, 0),
        ]
        remembered = [("x:r2", str(int(end2) + GRACE))]
        tpm = await keys.read(TPM, clock.now)
        assert (tpm.hash, tpm.zset) == ({"held": "0", "used": "120"}, remembered)
        assert lasts(tpm.hash_ttl, window)
        assert lasts(tpm.zset_ttl, int(end2) + GRACE - ms(clock.now))
        slot = await keys.read(SLOT, clock.now)
        assert (slot.hash, slot.zset) == ({"held": "0", "used": "0"}, remembered)
        assert lasts(slot.zset_ttl, int(end2) + GRACE - ms(clock.now))
        assert lasts(slot.hash_ttl, LEASE + GRACE)

        # Its late settle still charges, and forgets the id; settling again does nothing.
        clock.advance(1)
        late = await limits.settle(second.reservation, now=clock.now, tokens=25)
        assert late == Settlement(((TPM, Settled.LATE), (SLOT, Settled.LATE)))
        tpm = await keys.read(TPM, clock.now)
        assert (tpm.hash, tpm.zset, tpm.zset_ttl) == ({"held": "0", "used": "145"}, [], -2)
        slot = await keys.read(SLOT, clock.now)
        assert (slot.hash, slot.zset, slot.zset_ttl) == ({"held": "0", "used": "0"}, [], -2)
        again = await limits.settle(second.reservation, now=clock.now, tokens=25)
        assert again == Settlement(((TPM, Settled.GONE), (SLOT, Settled.GONE)))
        assert (await keys.read(TPM, clock.now)).unchanged(tpm)
        assert (await keys.read(SLOT, clock.now)).hash == slot.hash


async def test_a_taken_id_and_a_missing_budget_store_nothing_new() -> None:
    """A reservation id already held is refused before anything is reserved; an absent budget
    is seeded once and only `used` (with the window's TTL) is set by the seeding."""
    clock = Clock(T0)
    async with store() as (limits, keys):
        await limits.reserve([SLOT], Demand(), now=clock.now, reservation_id="r1")
        before = await keys.read(SLOT, clock.now)
        with pytest.raises(ValueError, match="already held"):
            await limits.reserve([BUDGET, SLOT], Demand(), now=clock.now, reservation_id="r1")
        assert (await keys.read(SLOT, clock.now)).unchanged(before)
        budget = await keys.read(BUDGET, clock.now)
        assert (budget.hash, budget.zset, budget.zset_ttl) == ({"used": "1234"}, [], -2)
        assert lasts(budget.hash_ttl, ms(DAY_END) - ms(T0) + GRACE)


async def test_extend_moves_the_hold_and_lengthens_both_keys() -> None:
    clock = Clock(T0)
    async with store() as (limits, keys):
        answer = await limits.reserve([SLOT], Demand(), now=clock.now, reservation_id="r1")
        assert answer.reservation is not None
        clock.advance(10)
        extended = await limits.extend(answer.reservation, now=clock.now, lease=300)
        assert extended is not None
        slot = await keys.read(SLOT, clock.now)
        assert slot.hash == {"held": "1", "h:r1": "1"}
        assert slot.zset == [("r1", str(ms(clock.now) + 300_000))]
        assert lasts(slot.hash_ttl, 300_000 + GRACE) and lasts(slot.zset_ttl, 300_000 + GRACE)


async def test_a_hold_of_nothing_settles_and_expires() -> None:
    """A demand that costs nothing still holds its budget counter (amount 0): settling it and
    sweeping it once expired work like any other hold (no `-0` reaches HINCRBY)."""
    clock = Clock(T0)
    async with store() as (limits, keys):
        answer = await limits.reserve([FREE], Demand(), now=clock.now, reservation_id="z1")
        assert answer.admitted and answer.reservation is not None
        free = await keys.read(FREE, clock.now)
        assert free.hash == {"used": "0", "held": "0", "h:z1": "0"}
        settled = await limits.settle(answer.reservation, now=clock.now)
        assert settled == Settlement(((FREE, Settled.SETTLED),))
        assert (await keys.read(FREE, clock.now)).hash == {"used": "0", "held": "0"}

        expiring = await limits.reserve(
            [FREE], Demand(), now=clock.now, lease=10, reservation_id="z2"
        )
        assert expiring.reservation is not None
        clock.advance(11)
        assert [(c.used, c.held) for c in await limits.read([FREE], now=clock.now)] == [(0, 0)]
        free = await keys.read(FREE, clock.now)
        assert free.hash == {"used": "0", "held": "0"}
        assert free.zset == [("x:z2", str(ms(T0) + 10_000 + GRACE))]
        late = await limits.settle(expiring.reservation, now=clock.now)
        assert late == Settlement(((FREE, Settled.LATE),))
