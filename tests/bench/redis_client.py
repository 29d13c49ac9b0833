"""Round trips of one small EVALSHA from trio, by client (docs/decisions.md, "A Redis client").

    nice .venv/bin/python -m tests.bench.redis_client [--calls 3000] [--rounds 5] [--url ...]

Clients: gomodel's with hiredis and with the pure-Python parser, redis-py's sync client through
``trio.to_thread.run_sync``, coredis (anyio, runs under trio) and, as a floor that no trio
program can use, redis-py's sync client called straight from one thread. Each runs the same
script at concurrency 1 and 50. The last rows time the limit engine itself: one request's
reserve on four counters and its settle (two script calls).

The machine is shared and noisy, so the variants take turns: every round runs each of them once
(in a rotated order) and the table shows the median over rounds of each figure: per-call
latency (p50, p99, ms) and calls per second. Needs ``pip install -e '.[bench-redis]'``. Not part
of the test suite: it measures and asserts nothing. Its keys carry a random prefix and are
deleted at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any

import trio

from gomodel.limits import Demand, Limit, Metric, Period
from gomodel.limits.redis_store import RedisLimits
from gomodel.redis import RedisSettings, Script, open_redis
from tests.bench.stats import percentile
from tests.redis.live import delete_prefix

SOURCE = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) return {v, 1, 2}"
SCRIPT = Script("bench", SOURCE)
LIMITS = [
    Limit("key:bench", Metric.REQUESTS, 10**12, Period.MINUTE),
    Limit("key:bench", Metric.TOKENS, 10**12, Period.MINUTE),
    Limit("key:bench", Metric.CONCURRENT, 10**6),
    Limit("path:/bench", Metric.COST, 10**15, Period.MONTH),
]
DEMAND = Demand(input_tokens=500, max_output_tokens=1000, input_cost=5000, output_token_cost=20)

Call = Callable[[], Awaitable[Any]]
Figures = tuple[float, float, float]


async def measure(call: Call, calls: int, concurrency: int) -> Figures:
    """(p50 ms, p99 ms, calls/s) of ``calls`` calls spread over ``concurrency`` tasks."""
    for _ in range(20):  # warm up
        await call()
    latencies: list[float] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(concurrency):
            nursery.start_soon(worker, calls // concurrency + (i < calls % concurrency))
    elapsed = time.perf_counter() - start
    return percentile(latencies, 50) * 1e3, percentile(latencies, 99) * 1e3, calls / elapsed


def floor(sync: Any, sha: str, key: str, calls: int) -> Figures:
    latencies = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        sync.evalsha(sha, 1, key, 1)
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    return percentile(latencies, 50) * 1e3, percentile(latencies, 99) * 1e3, calls / elapsed


async def run(url: str, calls: int, rounds: int) -> dict[tuple[str, int], list[Figures]]:
    import coredis
    import redis

    key = f"bench:{secrets.token_hex(6)}"
    variants: list[tuple[str, Call]] = []
    async with AsyncExitStack() as stack:
        for parser in ("hiredis", "python"):
            settings = RedisSettings.from_url(url, parser=parser, timeout=5.0)
            client = await stack.enter_async_context(open_redis(settings))
            variants.append((f"gomodel + {parser}", partial(client.evalsha, SCRIPT, [key], [1])))
        sync = redis.Redis.from_url(url, max_connections=64)
        sha = sync.script_load(SOURCE)
        variants.append(
            (
                "redis-py sync, to_thread",
                partial(trio.to_thread.run_sync, sync.evalsha, sha, 1, key, 1),
            )
        )
        core = await stack.enter_async_context(coredis.Redis.from_url(url))
        variants.append(
            ("coredis (anyio on trio)", partial(core.evalsha, sha, keys=[key], args=[1]))
        )
        store = RedisLimits(client, prefix=key + ":limits:")  # the last gomodel client

        async def admit_and_settle() -> None:
            now = datetime.now(UTC)
            answer = await store.reserve(LIMITS, DEMAND, now=now)
            assert answer.reservation is not None
            await store.settle(answer.reservation, now=now, tokens=800, cost=9000)

        variants.append(("limits: reserve + settle, 4 counters", admit_and_settle))

        results: dict[tuple[str, int], list[Figures]] = {}
        for r in range(rounds):
            turn = variants[r % len(variants) :] + variants[: r % len(variants)]
            for name, call in turn:
                for concurrency in (1, 50):
                    figures = await measure(call, calls, concurrency)
                    results.setdefault((name, concurrency), []).append(figures)
            results.setdefault(("floor: redis-py sync, no trio", 1), []).append(
                floor(sync, sha, key, calls)
            )
        await delete_prefix(client, key)
        sync.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = trio.run(run, args.url, args.calls, args.rounds)
    print(f"medians of {args.rounds} rounds, {args.calls} calls per figure")
    print(f"{'client':38} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9}")
    for (name, concurrency), figures in results.items():
        p50, p99, rate = (statistics.median(f[i] for f in figures) for i in range(3))
        print(f"{name:38} {concurrency:4d} {p50:8.3f} {p99:8.3f} {rate:9.0f}")


if __name__ == "__main__":
    main()
