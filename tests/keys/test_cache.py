"""The key cache under MockClock: lookups from memory, and the 2 s bound on staleness.

The store is in memory and the cache runs its calls in the task (with a scripted latency, or
stalled), so every time below is virtual and exact. Writes go straight to the store, as another
replica's admin API would, unless a test says the cache was nudged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import attrs
import pytest
import trio
import trio.testing

from gomodel.errors import AuthenticationFailed, UpstreamUnavailable
from gomodel.keys.cache import AuthKeyCache
from gomodel.keys.record import AuthKey
from gomodel.keys.secret import IssuedSecret
from gomodel.testing import MemoryAuthKeyStore

T = TypeVar("T")
EPOCH = datetime(2026, 4, 1, tzinfo=UTC)
LATENCY = 0.05  # each store call, in virtual seconds


def wall() -> datetime:
    """The wall clock moves with trio's virtual clock."""
    return EPOCH + timedelta(seconds=trio.current_time())


@attrs.define
class Runner:
    """Runs a store call in the task after ``latency``; while ``stall`` is set, calls wait."""

    latency: float = LATENCY
    stall: trio.Event | None = None

    async def __call__(self, fn: Callable[[], T]) -> T:
        await trio.sleep(self.latency)
        if self.stall is not None:
            await self.stall.wait()
        return fn()


@attrs.define
class Setup:
    store: MemoryAuthKeyStore
    cache: AuthKeyCache
    runner: Runner


async def start(nursery: trio.Nursery, store: MemoryAuthKeyStore | None = None) -> Setup:
    store = store or MemoryAuthKeyStore()
    runner = Runner()
    cache = AuthKeyCache(store, wall_clock=wall, run_sync=runner)
    await nursery.start(cache.serve)
    return Setup(store, cache, runner)


async def outcome(cache: AuthKeyCache, token: str) -> str:
    try:
        await cache.authenticate(token.encode())
    except AuthenticationFailed as exc:
        return str(exc.code)
    except UpstreamUnavailable:
        return "503"
    return "ok"


async def first_time(
    cache: AuthKeyCache, token: str, wanted: str, *, before: str = "ok", step: float = 0.01
) -> float:
    """The virtual time at which ``token`` first gets ``wanted``, looking every ``step``; until
    then it gets ``before`` and nothing else."""
    with trio.fail_after(30):
        while (got := await outcome(cache, token)) != wanted:
            assert got == before, got
            await trio.sleep(step)
    return trio.current_time()


async def test_lookups_are_served_from_memory(autojump_clock: trio.testing.MockClock) -> None:
    """A good key, a known-bad key and a flood of random tokens cost no store call."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        key, token = s.store.issue("ci", EPOCH)
        s.cache.nudge()
        await trio.sleep(0.5)
        assert await s.cache.authenticate(token.encode()) == key
        calls = dict(s.store.calls)
        for _ in range(2000):
            assert await s.cache.authenticate(token.encode()) == key
            assert await outcome(s.cache, IssuedSecret.generate().value) == "key_unknown"
            assert await outcome(s.cache, "not-a-managed-key") == "key_unknown"
        assert dict(s.store.calls) == calls
        nursery.cancel_scope.cancel()


async def test_messages_say_why(autojump_clock: trio.testing.MockClock) -> None:
    """Unknown, expired and deactivated tokens get a 401 saying which."""
    store = MemoryAuthKeyStore()
    _, expired = store.issue("old", EPOCH, expires_at=EPOCH + timedelta(seconds=5))
    gone, deactivated = store.issue("gone", EPOCH)
    store.deactivate(gone.id, EPOCH)
    async with trio.open_nursery() as nursery:
        s = await start(nursery, store)
        await trio.sleep(10)
        errors = {}
        for token in (IssuedSecret.generate().value, expired, deactivated):
            with pytest.raises(AuthenticationFailed) as caught:
                await s.cache.authenticate(token.encode())
            errors[caught.value.code] = caught.value.message
        assert errors == {
            "key_unknown": "authentication failed: unknown API key",
            "key_expired": "authentication failed: the API key has expired",
            "key_deactivated": "authentication failed: the API key has been deactivated",
        }
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("phase", [0.0, 0.01, 0.3, 0.9, 0.99])
async def test_deactivation_elsewhere_is_refused_within_the_bound(
    autojump_clock: trio.testing.MockClock, phase: float
) -> None:
    """A key deactivated in storage (by another replica) at any moment between two polls is
    refused from at most 2 s later, here about one poll interval later."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        key, token = s.store.issue("ci", EPOCH)
        s.cache.nudge()
        await trio.sleep(5 + phase)
        assert await outcome(s.cache, token) == "ok"
        deactivated_at = trio.current_time()
        s.store.deactivate(key.id, wall())
        refused_at = await first_time(s.cache, token, "key_deactivated")
        assert refused_at - deactivated_at <= s.cache.max_staleness
        assert refused_at - deactivated_at <= s.cache.refresh_interval + 3 * LATENCY + 0.01
        nursery.cancel_scope.cancel()


async def test_store_down_refuses_managed_keys_after_the_bound(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage down: keys are served from memory until 2 s after the last good poll, then
    refused with a 503 (unknown tokens too); deactivated keys keep their 401; when storage
    answers again keys are served again. One warning, no error."""
    caplog.set_level(logging.INFO, "gomodel.keys")
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        _, token = s.store.issue("ci", EPOCH)
        gone, deactivated = s.store.issue("gone", EPOCH)
        s.store.deactivate(gone.id, EPOCH)
        s.cache.nudge()
        await trio.sleep(3.3)
        s.store.down = True
        last_good = trio.current_time() - s.cache.statistics().age
        refused_at = await first_time(s.cache, token, "503")
        assert refused_at == pytest.approx(last_good + s.cache.max_staleness, abs=0.011)
        assert refused_at > last_good + s.cache.max_staleness
        assert await outcome(s.cache, deactivated) == "key_deactivated"
        assert await outcome(s.cache, IssuedSecret.generate().value) == "503"
        assert not s.cache.statistics().fresh
        await trio.sleep(30)
        assert await outcome(s.cache, token) == "503"
        s.store.down = False
        await trio.sleep(s.cache.refresh_interval + 3 * LATENCY)
        assert await outcome(s.cache, token) == "ok"
        nursery.cancel_scope.cancel()
    records = [r for r in caplog.records if r.name == "gomodel.keys"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    assert "refresh from storage failed" in records[0].getMessage()


async def test_a_stalled_store_cannot_stretch_the_bound(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A poll that never returns (a database gone silent) does not keep a key served: the bound
    is checked at each lookup, not by the poll."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        _, token = s.store.issue("ci", EPOCH)
        s.cache.nudge()
        await trio.sleep(2.5)
        verified = s.cache.statistics()
        assert verified.fresh
        s.runner.stall = trio.Event()
        stalled_after = trio.current_time() - verified.age
        refused_at = await first_time(s.cache, token, "503")
        assert refused_at <= stalled_after + 1.0 + s.cache.max_staleness + 0.011
        s.runner.stall.set()
        s.runner.stall = None
        await trio.sleep(s.cache.refresh_interval + 4 * LATENCY)
        assert await outcome(s.cache, token) == "ok"
        nursery.cancel_scope.cancel()


async def test_expiry_needs_no_refresh(autojump_clock: trio.testing.MockClock) -> None:
    """An expiring key is refused the moment it expires (no poll involved), and stays expired
    (not 503) with storage down."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        issued = trio.current_time()
        _, token = s.store.issue("ci", EPOCH, expires_at=wall() + timedelta(seconds=10))
        s.cache.nudge()
        await trio.sleep(5)
        loads = s.cache.statistics().loads
        expired_at = await first_time(s.cache, token, "key_expired", step=0.001)
        assert expired_at == pytest.approx(issued + 10.0, abs=0.0011)
        assert s.cache.statistics().loads == loads
        s.store.down = True
        await trio.sleep(30)
        assert await outcome(s.cache, token) == "key_expired"
        nursery.cancel_scope.cancel()


async def test_the_change_marker_saves_reloads(autojump_clock: trio.testing.MockClock) -> None:
    """Polls read the revision each second and reload the keys only when it moved (and every
    reload_interval regardless)."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        s.store.issue("ci", EPOCH)
        await trio.sleep(10.5)
        stats = s.cache.statistics()
        assert (stats.polls, stats.loads, stats.keys) == (11, 2, 1)
        s.store.issue("ci2", EPOCH)
        await trio.sleep(1)
        assert (s.cache.statistics().loads, s.cache.statistics().keys) == (3, 2)
        await trio.sleep(s.cache.reload_interval)
        assert s.cache.statistics().loads == 4
        assert s.store.calls["snapshot"] == 4
        nursery.cancel_scope.cancel()


async def test_nudge_makes_a_local_write_visible_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """After a write through this process, one poll (three store calls) later the new key is
    served, not at the next tick."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        await trio.sleep(0.5)
        _, token = s.store.issue("ci", wall())
        s.cache.nudge()
        written = trio.current_time()
        served = await first_time(s.cache, token, "ok", before="key_unknown", step=LATENCY / 5)
        assert served - written <= 2 * LATENCY + 0.011  # revision + snapshot
        nursery.cancel_scope.cancel()


async def test_storage_down_at_startup(autojump_clock: trio.testing.MockClock) -> None:
    """The cache starts without storage (the gateway still comes up); managed keys are refused
    with a 503 and authentication stays on until a load says whether keys exist."""
    store = MemoryAuthKeyStore()
    _, token = store.issue("ci", EPOCH)
    store.down = True
    async with trio.open_nursery() as nursery:
        s = await start(nursery, store)
        assert await outcome(s.cache, token) == "503"
        assert s.cache.has_keys
        store.down = False
        await trio.sleep(1.5)
        assert await outcome(s.cache, token) == "ok"
        assert store.calls["migrate"] == 2  # failed once, then done once
        nursery.cancel_scope.cancel()


async def test_a_silent_store_does_not_hold_up_startup(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A database that never answers delays the start by at most max_staleness; keys are
    refused with a 503 meanwhile and served once it answers."""
    store = MemoryAuthKeyStore()
    _, token = store.issue("ci", EPOCH)
    runner = Runner(stall=trio.Event())
    cache = AuthKeyCache(store, wall_clock=wall, run_sync=runner)
    async with trio.open_nursery() as nursery:
        await nursery.start(cache.serve)
        assert trio.current_time() == pytest.approx(cache.max_staleness)
        assert await outcome(cache, token) == "503"
        assert runner.stall is not None
        runner.stall.set()
        await trio.sleep(1.5)
        assert await outcome(cache, token) == "ok"
        nursery.cancel_scope.cancel()


async def test_has_keys(autojump_clock: trio.testing.MockClock) -> None:
    """No stored key: managed-key authentication has nothing to check; one (even inactive):
    it has."""
    async with trio.open_nursery() as nursery:
        s = await start(nursery)
        assert not s.cache.has_keys
        key, _ = s.store.issue("ci", EPOCH)
        s.store.deactivate(key.id, EPOCH)
        await trio.sleep(1.5)
        assert s.cache.has_keys
        assert (s.cache.statistics().keys, s.cache.statistics().active) == (1, 0)
        nursery.cancel_scope.cancel()


def test_intervals_must_fit_the_bound() -> None:
    """A refresh interval at or past the staleness bound would refuse keys between polls."""
    with pytest.raises(ValueError):
        AuthKeyCache(MemoryAuthKeyStore(), refresh_interval=2.0, max_staleness=2.0)


def test_check_model_delegates() -> None:
    """The cache exposes the allow-list check for the pipeline."""
    key = AuthKey(
        id="0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11",
        name="ci",
        secret_hash="ab" * 32,
        redacted_value="sk_gom_...wxyz",
        created_at=EPOCH,
        updated_at=EPOCH,
        allowed_models=("openai/*",),
    )
    AuthKeyCache.check_model(
        key, provider="openai", provider_type="openai", model="o3", requested="o3"
    )
    with pytest.raises(Exception, match="not allowed"):
        AuthKeyCache.check_model(
            key, provider="groq", provider_type="groq", model="o3", requested="groq/o3"
        )
