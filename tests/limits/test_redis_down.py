"""With Redis unreachable or stalled, every limit call fails with RedisUnavailable within the
client's timeout (0.5 s, asserted in virtual time): never a hang, never another exception. The
caller then applies its policy (fail open for rate limits, decide for budgets)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import trio
import trio.testing

from gomodel.errors import RedisUnavailable
from gomodel.limits import Demand, Hold, Limit, Metric, Period, Reservation
from gomodel.limits.redis_store import RedisLimits
from gomodel.redis import RedisSettings, open_redis
from tests.redis.fake import serve_fake

NOW = datetime(2025, 3, 10, 12, 0, 5, tzinfo=UTC)
TPM = Limit("key:k1", Metric.TOKENS, 1000, Period.MINUTE)
BUDGET = Limit("path:/", Metric.COST, 10**9, Period.MONTH)
HELD = Reservation(
    "r1", (Hold(TPM, "tokens/minute/0/key:k1", 10, datetime(2025, 3, 10, 12, 1, tzinfo=UTC)),), NOW
)
IDLE = 0.1  # real seconds of idleness before virtual time jumps (loopback I/O finishes first)

Call = Callable[[RedisLimits], Awaitable[object]]
CALLS: list[Call] = [
    lambda s: s.reserve([TPM, BUDGET], Demand(input_tokens=5), now=NOW),
    lambda s: s.settle(HELD, now=NOW, tokens=3),
    lambda s: s.extend(HELD, now=NOW),
    lambda s: s.read([TPM, BUDGET], now=NOW),
]
IDS = ["reserve", "settle", "extend", "read"]


async def _no_seed(limit: Limit, start: datetime, end: datetime) -> int:
    return 0


@asynccontextmanager
async def store_at(port: int) -> AsyncIterator[RedisLimits]:
    settings = RedisSettings(host="127.0.0.1", port=port, timeout=0.5, backoff_min=0.01)
    async with open_redis(settings) as client:
        yield RedisLimits(client, seed=_no_seed)


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_unreachable_redis(mock_clock: trio.testing.MockClock, call: Call) -> None:
    """A closed port: the call fails at once with RedisUnavailable."""
    mock_clock.autojump_threshold = IDLE
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with store_at(port) as store:
        start = trio.current_time()
        with pytest.raises(RedisUnavailable):
            await call(store)
        assert trio.current_time() - start <= 0.5


@pytest.mark.parametrize("call", CALLS, ids=IDS)
async def test_stalled_redis(mock_clock: trio.testing.MockClock, call: Call) -> None:
    """A server that accepts and never answers: the call fails exactly at the timeout."""
    mock_clock.autojump_threshold = IDLE
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery)
        async with store_at(fake.port) as store:
            start = trio.current_time()
            with pytest.raises(RedisUnavailable, match="no reply"):
                await call(store)
            assert trio.current_time() - start == 0.5
            assert fake.commands and fake.commands[0][0] == b"EVALSHA"
        nursery.cancel_scope.cancel()
