"""Round trips of one small EVALSHA from trio, by client (docs/decisions.md, "A Redis client").

    nice .venv/bin/python -m tests.bench.redis_client [--calls 4000] [--url redis://...]

Clients: gomodel's with hiredis and with the pure-Python parser, redis-py's sync client through
``trio.to_thread.run_sync``, coredis (anyio, runs under trio) and, as a floor that no trio
program can use, redis-py's sync client called straight from one thread. Each runs the same
script at concurrency 1 and 50; the numbers are per-call latency (p50, p99) and calls per
second. Not part of the test suite; it measures, it asserts nothing. The keys it writes carry a
random prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from gomodel.redis import RedisSettings, Script, open_redis
from tests.bench.stats import percentile

SOURCE = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) return {v, 1, 2}"
SCRIPT = Script("bench", SOURCE)

Call = Callable[[], Awaitable[Any]]


async def measure(call: Call, calls: int, concurrency: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, calls/s) of ``calls`` calls spread over ``concurrency`` tasks."""
    for _ in range(50):  # warm up: connections, script cache
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


async def run(url: str, calls: int) -> list[tuple[str, int, tuple[float, float, float]]]:
    key = f"bench:{secrets.token_hex(6)}"
    rows: list[tuple[str, int, tuple[float, float, float]]] = []
    for parser in ("hiredis", "python"):
        settings = RedisSettings.from_url(url, parser=parser, timeout=5.0)
        async with open_redis(settings) as client:

            async def gomodel_call(client: Any = client) -> Any:
                return await client.evalsha(SCRIPT, [key], [1])

            for concurrency in (1, 50):
                figures = await measure(gomodel_call, calls, concurrency)
                rows.append((f"gomodel + {parser}", concurrency, figures))

    import redis

    sync = redis.Redis.from_url(url, max_connections=64)
    sha = sync.script_load(SOURCE)

    async def thread_call() -> Any:
        return await trio.to_thread.run_sync(sync.evalsha, sha, 1, key, 1)

    for concurrency in (1, 50):
        figures = await measure(thread_call, calls, concurrency)
        rows.append(("redis-py sync, to_thread", concurrency, figures))

    try:
        import coredis
    except ImportError:
        coredis = None
    if coredis is not None:
        async with coredis.Redis.from_url(url) as core:

            async def coredis_call() -> Any:
                return await core.evalsha(sha, keys=[key], args=[1])

            for concurrency in (1, 50):
                figures = await measure(coredis_call, calls, concurrency)
                rows.append(("coredis (anyio on trio)", concurrency, figures))

    latencies = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        sync.evalsha(sha, 1, key, 1)
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    floor = (percentile(latencies, 50) * 1e3, percentile(latencies, 99) * 1e3, calls / elapsed)
    rows.append(("floor: redis-py sync, no trio", 1, floor))
    sync.delete(key)
    sync.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--calls", type=int, default=4000)
    args = parser.parse_args()
    rows = trio.run(run, args.url, args.calls)
    print(f"{'client':32} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>9}")
    for name, concurrency, (p50, p99, rate) in rows:
        print(f"{name:32} {concurrency:4d} {p50:8.3f} {p99:8.3f} {rate:9.0f}")


if __name__ == "__main__":
    main()
