"""The memory and Redis backends answer the same scripted scenario identically: the Lua scripts
and the Python arithmetic are one engine. The scenario is random but seeded: reserves on
overlapping limits, settles (on time, late, twice), extends, reads, and time that crosses
window edges, lease ends and grace periods."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from gomodel.limits import (
    Demand,
    Limit,
    LimitStore,
    Metric,
    Period,
    Reservation,
    Settled,
    Settlement,
)
from tests.limits.backends import Clock, replicas

LIMITS = [
    Limit("key:k1", Metric.REQUESTS, 7, Period.MINUTE),
    Limit("key:k1", Metric.TOKENS, 3000, Period.MINUTE),
    Limit("key:k1", Metric.CONCURRENT, 3),
    Limit("path:/team-a", Metric.COST, 400_000, Period.HOUR),
    Limit("path:/", Metric.COST, 900_000, Period.DAY),
    Limit("model:gpt-4o", Metric.TOKENS, 5000, Period.HOUR),
]


async def seed(limit: Limit, start: datetime, end: datetime) -> int:
    """A deterministic 'sum of usage rows': depends on the counter and its window only."""
    return (len(limit.scope) * 1000 + start.hour * 100) % 50_000


async def run_scenario(store: LimitStore, steps: int, rng_seed: int) -> list[object]:
    rng = random.Random(rng_seed)
    clock = Clock(datetime(2025, 3, 31, 22, 58, 30, tzinfo=UTC))  # near an hour, day, month edge
    open_: list[Reservation] = []
    done: list[Reservation] = []
    log: list[object] = []
    for step in range(steps):
        roll = rng.random()
        if roll < 0.45:
            chosen = rng.sample(LIMITS, rng.randrange(1, 4))
            top = rng.randrange(0, 800)
            demand = Demand(
                input_tokens=rng.randrange(0, 800),
                max_output_tokens=top,
                min_output_tokens=rng.randrange(0, top + 1),
                input_cost=rng.randrange(0, 50_000),
                output_token_cost=rng.randrange(0, 300),
            )
            answer = await store.reserve(
                chosen,
                demand,
                now=clock.now,
                lease=rng.choice([20, 60, 200]),
                reservation_id=f"r{step}",
            )
            log.append(answer)
            if answer.reservation is not None:
                open_.append(answer.reservation)
        elif roll < 0.7 and (open_ or done):
            pool = open_ if open_ and rng.random() < 0.8 else done or open_
            reservation = pool.pop(rng.randrange(len(pool))) if pool is open_ else rng.choice(pool)
            done.append(reservation)
            log.append(
                await store.settle(
                    reservation,
                    now=clock.now,
                    tokens=rng.randrange(0, 1500),
                    cost=rng.randrange(0, 100_000),
                )
            )
        elif roll < 0.8 and open_:
            log.append(
                await store.extend(rng.choice(open_), now=clock.now, lease=rng.choice([30, 90]))
            )
        elif roll < 0.9:
            log.append(await store.read(rng.sample(LIMITS, 3), now=clock.now))
        else:
            log.append(clock.advance(rng.choice([0.5, 7, 19.999, 20, 45, 61, 300, 3600])))
    return log


@pytest.mark.parametrize("rng_seed", [1, 2, 3])
async def test_both_backends_answer_alike(rng_seed: int) -> None:
    """Step by step, the Redis backend's answers equal the memory backend's."""
    async with replicas("memory", seed=seed, grace=600) as (memory,):
        expected = await run_scenario(memory, 300, rng_seed)
    async with replicas("redis", seed=seed, grace=600) as (redis,):
        got = await run_scenario(redis, 300, rng_seed)
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"step {step}"
    kinds = {type(x).__name__ for x in expected}
    assert {"Admission", "Settlement", "Reservation", "tuple", "datetime"} <= kinds
    outcomes = {o for x in expected if isinstance(x, Settlement) for _, o in x.outcomes}
    assert outcomes == set(Settled)  # on time, late and repeated settles all happened
