"""Both limit backends behind one helper, so every behaviour test runs on each: ``replicas``
gives n stores that share their counters, as n gateway processes would (the memory backend:
one store n times; Redis: n clients, n connections, one key prefix)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from gomodel.limits import LimitStore, MemoryLimits
from gomodel.limits.redis_store import RedisLimits
from gomodel.redis import open_redis
from tests.redis.live import live_prefix, settings

BACKENDS = ["memory", "redis"]


class Clock:
    """The wall clock the replicas share in a test; it only moves when told."""

    def __init__(self, start: datetime = datetime(2025, 3, 10, 12, 0, 5, tzinfo=UTC)) -> None:
        self.now = start

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@asynccontextmanager
async def replicas(kind: str, n: int = 1, **options: Any) -> AsyncIterator[list[LimitStore]]:
    """``n`` stores sharing one set of counters; Redis keys are deleted afterwards."""
    if kind == "memory":
        store = MemoryLimits(**options)
        yield [store] * n
        return
    async with live_prefix("limits") as (_, prefix), AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(open_redis(settings())) for _ in range(n)]
        yield [RedisLimits(c, prefix=prefix, **options) for c in clients]
