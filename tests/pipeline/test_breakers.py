"""Circuit breakers per deployment, in virtual time: an open breaker skips its deployment, a
half-open one lets one probe through, and with nothing left the client gets 503 at once. The
admin status route shows it all."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from gomodel.testing import MockUpstream, faults
from tests.pipeline.harness import Pool, open_pool

HI = [{"role": "user", "content": "hi"}]
POOL = """
providers:
  pool:
    type: openai
    strategy: priority
    deployments:
      - {name: a, api_key: ka, base_url: "http://a.test/v1"}
      - {name: b, api_key: kb, base_url: "http://b.test/v1"}
"""
ONE = """
providers:
  solo: {type: openai, api_key: k, base_url: "http://solo.test/v1"}
"""
BREAKER = {
    "CIRCUIT_BREAKER_FAILURE_THRESHOLD": "2",
    "CIRCUIT_BREAKER_SUCCESS_THRESHOLD": "1",
    "CIRCUIT_BREAKER_TIMEOUT": "30",
    "RETRY_MAX_RETRIES": "0",
}


def two() -> dict[str, MockUpstream]:
    return {"pool.a": MockUpstream(models=("gpt-4o",)), "pool.b": MockUpstream(models=("gpt-4o",))}


async def ask(pool: Pool) -> tuple[int | None, bytes | None]:
    call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
    return call.server.status, call.header(b"x-gomodel-route")


async def status(pool: Pool) -> dict[str, object]:
    call = await pool.finished(
        await pool.request(None, path="/admin/api/v1/providers/status", method="GET")
    )
    assert call.server.status == 200
    return dict(call.json)


async def test_open_breaker_skips_its_deployment_until_a_probe(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(503), times=None)
    async with open_pool(tmp_path, POOL, mocks, BREAKER) as pool:
        for _ in range(2):  # two failures on a (each failed over to b) open a's breaker
            assert (await ask(pool))[0] == 200
        assert len(pool.chat_requests("pool.a")) == 2
        # Open: a is not even asked; b answers as the first attempt.
        result = await ask(pool)
        assert result == (200, b"passthrough; target=pool.b/gpt-4o; pick=failover")
        assert len(pool.chat_requests("pool.a")) == 2
        state = await status(pool)
        assert state["summary"] == {
            "total": 2,
            "healthy": 1,
            "degraded": 0,
            "unhealthy": 1,
            "overall_status": "degraded",
        }
        [a, b] = state["providers"]  # type: ignore[misc]
        assert (a["name"], a["provider"], a["status"]) == ("pool.a", "pool", "unhealthy")
        assert a["status_reason"] == "circuit open: a probe in 30.0s"
        assert a["circuit_breaker"]["failures"] == 2 and a["circuit_breaker"]["rejected"] == 1
        assert "injected fault: HTTP 503" in a["last_error"]
        assert b["status"] == "healthy"
        # Past the timeout: one probe goes to a; a has recovered, the breaker closes.
        await trio.sleep(30.0)
        mocks["pool.a"].clear_faults()
        assert await ask(pool) == (200, b"passthrough; target=pool.a/gpt-4o; pick=priority")
        assert (await status(pool))["summary"]["healthy"] == 2  # type: ignore[index]


async def test_a_failed_probe_opens_the_breaker_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(503), times=None)
    async with open_pool(tmp_path, POOL, mocks, BREAKER) as pool:
        for _ in range(2):
            await ask(pool)
        await trio.sleep(30.0)
        await ask(pool)  # the probe fails: open again
        assert len(pool.chat_requests("pool.a")) == 3
        await trio.sleep(29.0)
        await ask(pool)
        assert len(pool.chat_requests("pool.a")) == 3  # still open for a full timeout
        await trio.sleep(1.0)
        await ask(pool)
        assert len(pool.chat_requests("pool.a")) == 4


async def test_every_breaker_open_is_a_503_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = {"solo": MockUpstream(models=("gpt-4o",))}
    mocks["solo"].fail(faults.status(502), times=None)
    async with open_pool(tmp_path, ONE, mocks, BREAKER) as pool:
        for _ in range(2):
            assert (await ask(pool))[0] == 502
        await trio.sleep(10.0)
        started = trio.current_time()
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert call.server.status == 503 and call.answered_at == started
        assert call.json["error"] == {
            "message": "circuit breaker is open - provider temporarily unavailable (solo)",
            "type": "provider_error",
            "param": None,
            "code": "circuit_open",
        }
        assert call.header(b"retry-after") == b"20"  # the probe is due in 20 s
        assert len(pool.chat_requests("solo")) == 2
        assert len(pool.records()) == 2  # no attempt, no usage row


async def test_slow_calls_open_the_breaker(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Answers slower than CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD count as failures."""
    mocks = two()
    mocks["pool.a"].fail(faults.delay_head(3.0), times=None)
    env = {**BREAKER, "CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD": "2"}
    async with open_pool(tmp_path, POOL, mocks, env) as pool:
        for _ in range(2):
            assert (await ask(pool))[0] == 200  # answered, slowly, by a
        assert await ask(pool) == (200, b"passthrough; target=pool.b/gpt-4o; pick=failover")
        [a, _] = (await status(pool))["providers"]  # type: ignore[misc]
        assert a["circuit_breaker"]["slow_calls"] == 2
        assert a["last_error"] == "slow call: 3s to the first byte"


async def test_rate_limits_do_not_open_a_closed_breaker(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(429), times=None)
    async with open_pool(tmp_path, POOL, mocks, BREAKER) as pool:
        for _ in range(4):
            await ask(pool)
        assert len(pool.chat_requests("pool.a")) == 4  # a was asked every time


async def test_breakers_off(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(503), times=None)
    env = {**BREAKER, "CIRCUIT_BREAKER_ENABLED": "false"}
    async with open_pool(tmp_path, POOL, mocks, env) as pool:
        for _ in range(5):
            await ask(pool)
        assert len(pool.chat_requests("pool.a")) == 5
        [a, _] = (await status(pool))["providers"]  # type: ignore[misc]
        assert a["status"] == "healthy" and "CIRCUIT_BREAKER_ENABLED=false" in a["status_reason"]
