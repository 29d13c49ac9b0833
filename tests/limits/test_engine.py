"""The limit engine's behaviour, on both backends (memory, and the real Redis with three
replicas on three connections where it matters): exact admission under concurrency, all or
nothing, reserve then settle, idempotent settles, leases that expire, budgets that lower the
output cap, seeding that every replica agrees on, and the reads behind /v1/usage."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
import trio

from gomodel.limits import (
    Admission,
    Demand,
    Limit,
    Metric,
    Period,
    Settled,
    rate_limit_headers,
)
from tests.limits.backends import BACKENDS, Clock, replicas

pytestmark = pytest.mark.parametrize("kind", BACKENDS)

RPM = Limit("key:k1", Metric.REQUESTS, 60, Period.MINUTE)
TPM = Limit("key:k1", Metric.TOKENS, 1000, Period.MINUTE)
SLOTS = Limit("key:k1", Metric.CONCURRENT, 2)
DAILY = Limit("path:/team-a", Metric.COST, 1_000_000, Period.DAY)


async def test_sixty_per_minute_admits_exactly_sixty(kind: str) -> None:
    """30 concurrent clients on one key, spread over three replicas, try 4 times each within one
    minute: exactly 60 are admitted. Every refusal says when to retry (the minute's end) and
    shows nothing remaining; the next minute admits again."""
    clock = Clock(datetime(2025, 3, 10, 12, 0, 20, tzinfo=UTC))
    async with replicas(kind, 3) as stores:
        answers: list[Admission] = []

        async def client(i: int) -> None:
            for _ in range(4):
                answers.append(await stores[i % 3].reserve([RPM], Demand(), now=clock.now))
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(client, i)
        admitted = [a for a in answers if a.admitted]
        refused = [a for a in answers if not a.admitted]
        assert len(answers) == 120 and len(admitted) == 60
        assert sorted(a.counters[0].remaining for a in admitted) == list(range(60))
        for answer in refused:
            headers = rate_limit_headers(answer)
            assert headers["retry-after"] == "40"
            assert headers["x-ratelimit-remaining-requests"] == "0"
            assert headers["x-ratelimit-limit-requests"] == "60"
            assert headers["x-ratelimit-reset-requests"] == "40s"
        clock.advance(40)  # 12:01:00, a new window
        assert (await stores[1].reserve([RPM], Demand(), now=clock.now)).admitted


async def test_one_refusing_counter_reserves_nothing(kind: str) -> None:
    """A request that one counter refuses leaves every other counter untouched."""
    clock = Clock()
    tight = Limit("path:/team-a", Metric.TOKENS, 100, Period.MINUTE)
    async with replicas(kind) as (store,):
        demand = Demand(input_tokens=80, max_output_tokens=50)
        answer = await store.reserve([RPM, TPM, SLOTS, tight], demand, now=clock.now)
        assert not answer.admitted and [c.limit for c in answer.refused] == [tight]
        assert answer.reservation is None
        states = await store.read([RPM, TPM, SLOTS, tight], now=clock.now)
        assert [(s.used, s.held) for s in states] == [(0, 0)] * 4


async def test_tokens_reserve_then_settle_to_the_actual_count(kind: str) -> None:
    """The estimate is held while the request runs; settling charges the actual total instead,
    and a second settle changes nothing."""
    clock = Clock()
    async with replicas(kind) as (store,):
        answer = await store.reserve(
            [TPM], Demand(input_tokens=300, max_output_tokens=200), now=clock.now
        )
        assert answer.admitted and answer.reservation is not None
        assert (answer.counters[0].used, answer.counters[0].held) == (0, 500)
        settled = await store.settle(answer.reservation, now=clock.advance(2), tokens=350)
        assert settled.applied and settled.outcomes == ((TPM, Settled.SETTLED),)
        again = await store.settle(answer.reservation, now=clock.advance(1), tokens=350)
        assert not again.applied and again.outcomes == ((TPM, Settled.GONE),)
        (state,) = await store.read([TPM], now=clock.now)
        assert (state.used, state.held, state.remaining) == (350, 0, 650)


async def test_unsettled_reservation_expires_and_its_amount_returns(kind: str) -> None:
    """A replica that crashed never settles: at its lease's end the held amount comes back. A
    settle that still arrives within the grace period charges the actual amount (late); after
    it, nothing."""
    clock = Clock()
    async with replicas(kind, 2, lease=30, grace=60) as (crashed, alive):
        lost = await crashed.reserve([TPM], Demand(input_tokens=900), now=clock.now)
        assert lost.admitted and lost.reservation is not None
        refused = await alive.reserve([TPM], Demand(input_tokens=200), now=clock.advance(29.999))
        assert not refused.admitted
        back = await alive.reserve([TPM], Demand(input_tokens=200), now=clock.advance(0.001))
        assert back.admitted
        late = await crashed.settle(lost.reservation, now=clock.advance(10), tokens=50)
        assert late.outcomes == ((TPM, Settled.LATE),)
        (state,) = await alive.read([TPM], now=clock.now)
        assert (state.used, state.held) == (50, 200)
        other = await crashed.reserve([TPM], Demand(input_tokens=10), now=clock.now)
        assert other.reservation is not None
        clock.advance(30 + 60)  # past lease and grace (and into the next minute)
        gone = await crashed.settle(other.reservation, now=clock.now, tokens=10)
        assert gone.outcomes == ((TPM, Settled.GONE),)


async def test_concurrency_slots_and_leases(kind: str) -> None:
    """Two slots: a third request waits (retry in 1 s) until one is released; a crashed
    replica's slot comes back when its lease expires; a long stream keeps its slot by
    extending the lease."""
    clock = Clock()
    async with replicas(kind, 2, lease=60) as (a, b):
        first = await a.reserve([SLOTS], Demand(), now=clock.now)
        second = await b.reserve([SLOTS], Demand(), now=clock.now)
        third = await a.reserve([SLOTS], Demand(), now=clock.now)
        assert first.admitted and second.admitted and not third.admitted
        assert third.retry_after == 1.0
        assert first.reservation is not None and second.reservation is not None
        assert (await a.settle(first.reservation, now=clock.advance(1))).applied
        assert (await b.reserve([SLOTS], Demand(), now=clock.now)).admitted  # 2 held again
        extended = await b.extend(second.reservation, now=clock.advance(50), lease=60)
        assert extended is not None and extended.expires_at > second.reservation.expires_at
        clock.advance(20)  # 71 s: the unsettled, unextended slot has expired; the extended holds
        (state,) = await a.read([SLOTS], now=clock.now)
        assert state.held == 1
        assert (await a.reserve([SLOTS], Demand(), now=clock.now)).admitted
        clock.advance(50)  # the extended lease ended at 111 s
        assert await b.extend(second.reservation, now=clock.now) is None
        (state,) = await a.read([SLOTS], now=clock.now)
        assert state.held == 1  # the slot taken at 71 s, lease until 131 s


async def test_budget_lowers_the_output_cap_then_refuses(kind: str) -> None:
    """A budget reserves the worst case; when the remaining budget cannot cover the output cap
    asked for, the cap is lowered to what remains, and below the minimum the request is refused
    with the remaining amount in the answer."""
    clock = Clock()
    demand = Demand(
        input_tokens=100,
        max_output_tokens=4000,
        min_output_tokens=500,
        input_cost=100_000,
        output_token_cost=200,
    )
    async with replicas(kind) as (store,):
        one = await store.reserve([DAILY], demand, now=clock.now)
        assert one.admitted and one.output_tokens == 4000  # 100_000 + 800_000 held
        two = await store.reserve([DAILY], demand, now=clock.now)
        assert not two.admitted and two.refused[0].remaining == 100_000
        assert two.output_tokens == 0  # 100_000 left would not even cover the input
        assert one.reservation is not None
        await store.settle(one.reservation, now=clock.advance(3), cost=300_000)
        three = await store.reserve([DAILY], demand, now=clock.now)
        assert three.admitted and three.output_tokens == 3000  # 700_000 left: 600_000 for output
        assert three.counters[0].remaining == 0


async def test_concurrent_budget_reservations_never_overspend(kind: str) -> None:
    """Three replicas, 30 clients, random worst cases and actual costs, settling as they go:
    settled spend plus outstanding reservations never exceed the budget, and the settled total
    is exactly the sum of the actual costs."""
    rng = random.Random(7)
    clock = Clock()
    async with replicas(kind, 3) as stores:
        spent: list[int] = []
        seen: list[int] = []

        async def client(i: int) -> None:
            store = stores[i % 3]
            for _ in range(8):
                demand = Demand(
                    input_cost=rng.randrange(1_000, 20_000),
                    max_output_tokens=rng.randrange(1, 500),
                    min_output_tokens=1,
                    output_token_cost=rng.randrange(10, 200),
                )
                answer = await store.reserve([DAILY], demand, now=clock.now)
                seen.append(answer.counters[0].used + answer.counters[0].held)
                if answer.reservation is None:
                    continue
                await trio.lowlevel.checkpoint()
                held = answer.reservation.holds[0].amount
                actual = rng.randrange(0, held + 1)
                if (await store.settle(answer.reservation, now=clock.now, cost=actual)).applied:
                    spent.append(actual)

        async with trio.open_nursery() as nursery:
            for i in range(30):
                nursery.start_soon(client, i)
        assert max(seen) <= DAILY.limit
        (state,) = await stores[0].read([DAILY], now=clock.now)
        assert state.held == 0 and state.used == sum(spent) <= DAILY.limit
        assert len(spent) > 30  # the race had winners to check


async def test_seeding_happens_once_and_every_replica_agrees(kind: str) -> None:
    """An absent budget is seeded from the authoritative source before first use; seeders
    racing on three replicas (answering different values, slowly) agree on one value, and a
    seeded counter is not seeded again within its window."""
    clock = Clock()
    calls: list[tuple[str, datetime, datetime]] = []
    values = iter([250_000, 260_000, 270_000])

    async def seed(limit: Limit, start: datetime, end: datetime) -> int:
        calls.append((limit.name, start, end))
        value = next(values)
        await trio.sleep(0.01 * len(calls))
        return value

    async with replicas(kind, 3, seed=seed) as stores:
        answers: list[Admission] = []

        async def first_use(store_index: int) -> None:
            demand = Demand(input_cost=1000)
            answers.append(await stores[store_index].reserve([DAILY], demand, now=clock.now))

        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(first_use, i)
        day = (datetime(2025, 3, 10, tzinfo=UTC), datetime(2025, 3, 11, tzinfo=UTC))
        assert 1 <= len(calls) <= 3 and all(c == ("cost/day/path:/team-a", *day) for c in calls)
        states = [await s.read([DAILY], now=clock.now) for s in stores]
        assert len({(st[0].used, st[0].held) for st in states}) == 1
        assert states[0][0].used in (250_000, 260_000, 270_000) and states[0][0].held == 3000
        before = len(calls)
        assert (await stores[2].reserve([DAILY], Demand(), now=clock.advance(60))).admitted
        assert len(calls) == before


async def test_reads_show_spent_remaining_and_reset(kind: str) -> None:
    """A read gives each counter's settled and held amounts, what remains and when it resets;
    a budget's period is the calendar day, week or month in UTC."""
    clock = Clock(datetime(2025, 3, 12, 9, 30, tzinfo=UTC))  # a Wednesday
    weekly = Limit("key:k1", Metric.COST, 5_000_000, Period.WEEK)
    monthly = Limit("key:k1", Metric.COST, 9_000_000, Period.MONTH)
    async with replicas(kind) as (store,):
        answer = await store.reserve([weekly, monthly], Demand(input_cost=400_000), now=clock.now)
        assert answer.reservation is not None
        await store.settle(answer.reservation, now=clock.now, cost=123_456)
        held = await store.reserve([weekly], Demand(input_cost=1000), now=clock.now)
        week, month = await store.read([weekly, monthly], now=clock.now)
        assert (week.used, week.held, week.remaining) == (123_456, 1000, 4_875_544)
        assert week.window_start == datetime(2025, 3, 10, tzinfo=UTC)
        assert week.resets_at == datetime(2025, 3, 17, tzinfo=UTC)
        assert (month.used, month.held) == (123_456, 0)
        assert month.resets_at == datetime(2025, 4, 1, tzinfo=UTC)
        assert held.admitted
        (fresh,) = await store.read([weekly], now=datetime(2025, 3, 17, tzinfo=UTC))
        assert (fresh.used, fresh.held) == (0, 0)


async def test_a_reservation_id_is_used_once(kind: str) -> None:
    """A caller-chosen id that already holds a counter is refused as a bug, not reserved twice."""
    clock = Clock()
    async with replicas(kind) as (store,):
        await store.reserve([TPM], Demand(input_tokens=1), now=clock.now, reservation_id="r-1")
        with pytest.raises(ValueError, match="already held"):
            await store.reserve([TPM], Demand(input_tokens=1), now=clock.now, reservation_id="r-1")
        with pytest.raises(ValueError):
            await store.reserve([TPM], Demand(), now=clock.now, reservation_id="x:no spaces")


async def test_no_limits_admit_with_the_asked_cap(kind: str) -> None:
    """A request that touches no limit is admitted as asked; settling it does nothing."""
    clock = Clock()
    async with replicas(kind) as (store,):
        answer = await store.reserve([], Demand(max_output_tokens=99), now=clock.now)
        assert answer.admitted and answer.output_tokens == 99 and answer.counters == ()
        assert answer.reservation is not None
        assert not (await store.settle(answer.reservation, now=clock.now, tokens=5)).applied
        assert await store.read([], now=clock.now) == ()
