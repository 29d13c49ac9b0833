"""The real Redis for tests: the local server (``GOMODEL_TEST_REDIS_URL``), shared with other
people, so every test writes only under a random key prefix of its own and deletes those keys
afterwards (never FLUSHDB). An unreachable server fails the test with a message saying so: these
tests must run in CI, not skip."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest

from gomodel.errors import RedisUnavailable
from gomodel.redis import RedisClient, RedisSettings, open_redis

REDIS_URL = os.environ.get("GOMODEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def settings(**overrides: Any) -> RedisSettings:
    """The test server's settings, with a timeout generous enough for a busy CI machine."""
    return attrs.evolve(RedisSettings.from_url(REDIS_URL, timeout=5.0), **overrides)


async def delete_prefix(client: RedisClient, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN, then UNLINK); the count deleted."""
    cursor: bytes | int = b"0"
    found: list[bytes] = []
    while True:
        reply = await client.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
        assert isinstance(reply, list)
        cursor, keys = reply[0], reply[1]
        assert isinstance(keys, list)
        found.extend(k for k in keys if isinstance(k, bytes))
        if cursor == b"0":
            break
    if found:
        await client.execute("UNLINK", *found)
    return len(found)


@asynccontextmanager
async def live_prefix(tag: str = "t") -> AsyncIterator[tuple[RedisClient, str]]:
    """A client of the test server and a fresh key prefix, whose keys are deleted on exit."""
    prefix = f"gmtest:{tag}:{secrets.token_hex(6)}:"
    async with open_redis(settings()) as client:
        try:
            await client.execute("PING")
        except RedisUnavailable as exc:
            pytest.fail(
                f"Redis is not reachable at {REDIS_URL} ({exc}). These tests need a real Redis: "
                "start one (.ci/run does) or point GOMODEL_TEST_REDIS_URL at one.",
                pytrace=False,
            )
        try:
            yield client, prefix
        finally:
            await delete_prefix(client, prefix)
