"""Two replicas sharing one database (PostgreSQL, or one SQLite file): a key deactivated through
one is refused by the other within the 2 s bound.

Real stores in worker threads, under a MockClock that jumps only after 20 ms of real idleness,
so the database calls take (almost) no virtual time and the bound is measured on trio's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from gomodel.errors import AuthenticationFailed, UpstreamUnavailable
from gomodel.keys.cache import AuthKeyCache
from gomodel.keys.record import AuthKey
from gomodel.keys.secret import IssuedSecret
from gomodel.storage.keys import SQLAuthKeyStore, open_auth_key_store
from tests.storage.pg import pg_schema


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[SQLAuthKeyStore]]:
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        opened = [open_auth_key_store("sqlite", sqlite_path=path) for _ in range(2)]
        yield opened
    else:
        with pg_schema() as url:
            opened = [open_auth_key_store("postgresql", postgres_url=url) for _ in range(2)]
            yield opened
    for s in opened:
        s.close()


async def outcome(cache: AuthKeyCache, token: str) -> str:
    try:
        await cache.authenticate(token.encode())
    except AuthenticationFailed as exc:
        return str(exc.code)
    except UpstreamUnavailable:
        return "503"
    return "ok"


async def test_deactivation_reaches_the_other_replica_within_2s(
    clock: trio.testing.MockClock, stores: list[SQLAuthKeyStore]
) -> None:
    """Replica A issues and later deactivates a key; replica B serves it within a poll, and
    refuses it within 2 s of the deactivation, never serving it after that."""
    a, b = (AuthKeyCache(s) for s in stores)
    async with trio.open_nursery() as nursery:
        await nursery.start(a.serve)
        await nursery.start(b.serve)
        now = datetime.now(UTC)
        secret = IssuedSecret.generate()
        key = AuthKey(
            id=str(uuid.uuid4()),
            name="shared",
            secret_hash=secret.secret_hash,
            redacted_value=secret.redacted,
            created_at=now,
            updated_at=now,
        )
        await trio.to_thread.run_sync(a.store.create, key)
        a.nudge()
        created = trio.current_time()
        with trio.fail_after(30):
            while (got := await outcome(b, secret.value)) != "ok":
                assert got == "key_unknown"
                await trio.sleep(0.05)
        assert trio.current_time() - created <= b.max_staleness
        await trio.sleep(3.3)
        assert await outcome(b, secret.value) == "ok"

        await trio.to_thread.run_sync(a.store.deactivate, key.id, datetime.now(UTC))
        deactivated = trio.current_time()
        with trio.fail_after(30):
            while (got := await outcome(b, secret.value)) != "key_deactivated":
                assert got == "ok"
                assert trio.current_time() - deactivated <= b.max_staleness
                await trio.sleep(0.05)
        assert trio.current_time() - deactivated <= b.max_staleness
        assert await outcome(a, secret.value) == "key_deactivated"
        nursery.cancel_scope.cancel()
