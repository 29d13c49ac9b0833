"""Limits and budgets held exactly across replicas: three gateways sharing the real Redis
(127.0.0.1:6379) and one PostgreSQL, under a clock the test controls; a restart that keeps
budgets and spend; and what happens while Redis does not answer."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.redis.client import open_redis
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, serve_mock_upstream
from tests.storage.pg import pg_schema

HI = [{"role": "user", "content": "hi"}]
MASTER = {"authorization": "Bearer mk"}
# Mid-minute, mid-day: the windows of the test do not roll over while it runs.
FIXED_NOW = 1_790_000_030.0


@asynccontextmanager
async def _shared(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The environment three replicas share: one PostgreSQL schema, one Redis key prefix."""
    prefix = f"gomodel-test:{uuid.uuid4().hex}:"
    with pg_schema() as url:
        yield {
            "STORAGE_TYPE": "postgresql",
            "POSTGRES_URL": url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_KEY_LIMITS": prefix,
            "USAGE_SPILL_DIR": str(tmp_path / "spill"),
            "USAGE_FLUSH_INTERVAL": "0.05",
            "GOMODEL_MASTER_KEY": "mk",
            # These tests are about exactness, not about a slow Redis: on a loaded machine the
            # default 0.5 s timeout fails rate limits open (and admits more than the limit),
            # which tests/limits covers on purpose. A timeout here must show, never hide.
            "REDIS_TIMEOUT": "10s",
            "RATE_LIMITS_FAIL_OPEN": "false",
        }
    async with open_redis("redis://127.0.0.1:6379/0") as redis:
        cursor = b"0"
        while True:
            reply = await redis.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", "1000")
            assert isinstance(reply, list)
            cursor, keys = reply
            if keys:
                await redis.execute("DEL", *keys)
            if cursor == b"0":
                break


@asynccontextmanager
async def _replicas(
    env: dict[str, str], tmp_path: Path, count: int = 3, *, clock: float | None = FIXED_NOW
) -> AsyncIterator[list[tuple[str, GatewayApp]]]:
    """``count`` gateways (their base URLs and apps) until the block ends, then a graceful
    shutdown of all, which writes every usage row. ``clock``: the wall-clock time the limits
    see, fixed (None: the real one)."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        started = []
        for i in range(count):
            app = GatewayApp(load_config(env, cwd=tmp_path / str(i)))
            url = await nursery.start(partial(serve_gateway, app, shutdown_trigger=stop.wait))
            assert app.runtime is not None
            await app.runtime.initial_load.wait()
            if clock is not None:
                app.runtime.clock = lambda: clock
            started.append((url, app))
        try:
            yield started
        finally:
            stop.set()


async def _wait_for_rules(replicas: list[tuple[str, GatewayApp]], count: int) -> None:
    """Until every replica has loaded ``count`` rules (each polls the rule table each second)."""
    with trio.fail_after(5):
        for _, app in replicas:
            assert app.runtime is not None and app.runtime.control is not None
            rules = app.runtime.control.rules
            while len(rules().rules) < count:  # noqa: ASYNC110 (a plain attribute)
                await trio.sleep(0.05)


async def _openai_mock(nursery: trio.Nursery, **kwargs: Any) -> dict[str, str]:
    mock = MockUpstream(models=("gpt-4o-mini",), **kwargs)
    return {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": await nursery.start(serve_mock_upstream, mock),
    }


async def test_sixty_per_minute_across_three_replicas(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """30 concurrent clients on one key, spread over three replicas, 120 attempts in all,
    against rpm=60: exactly 60 are admitted."""
    async with _shared(tmp_path) as env:
        env |= await _openai_mock(nursery)
        async with _replicas(env, tmp_path) as replicas:
            base = replicas[0][0]
            async with httpx.AsyncClient(base_url=base, headers=MASTER) as admin:
                created = await admin.post("/admin/auth-keys", json={"name": "load"})
                key = created.json()
                put = await admin.put(f"/admin/rate-limits/key:{key['id']}", json={"rpm": 60})
                assert put.status_code == 200, put.text
            await _wait_for_rules(replicas, 1)
            codes: list[int] = []

            async def client(n: int) -> None:
                headers = {"authorization": f"Bearer {key['value']}"}
                for attempt in range(4):
                    url = replicas[(n + attempt) % 3][0]
                    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
                        body = {"model": "gpt-4o-mini", "messages": HI}
                        codes.append(
                            (await http.post("/v1/chat/completions", json=body)).status_code
                        )

            async with trio.open_nursery() as clients:
                for n in range(30):
                    clients.start_soon(client, n)
    assert len(codes) == 120
    assert (codes.count(200), codes.count(429)) == (60, 60)


async def test_budget_holds_across_replicas_streams_and_disconnects(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A budget of $0.0005 spent by 30 concurrent requests over three replicas, streamed and
    not, a third of the streams abandoned after their first event: the usage rows, summed,
    never exceed it, and neither does the counter; some requests were refused."""
    budget_nano = 500_000
    async with _shared(tmp_path) as env:
        env |= await _openai_mock(nursery, stream_gap=0.05)
        async with _replicas(env, tmp_path) as replicas:
            async with httpx.AsyncClient(base_url=replicas[0][0], headers=MASTER) as admin:
                put = await admin.put("/admin/budgets/team-z/daily", json={"amount": 0.0005})
                assert put.status_code == 200, put.text
            await _wait_for_rules(replicas, 1)
            codes: list[int] = []

            async def client(n: int) -> None:
                url = replicas[n % 3][0]
                headers = {**MASTER, "x-gomodel-user-path": "/team-z/app"}
                body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 50}
                async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
                    if n % 2 == 0:
                        response = await http.post("/v1/chat/completions", json=body)
                        codes.append(response.status_code)
                        return
                    body["stream"] = True
                    async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                        codes.append(r.status_code)
                        async for line in r.aiter_lines():
                            if line.startswith("data: ") and n % 3 == 1:
                                return  # the client leaves after its first event

            async with trio.open_nursery() as clients:
                for n in range(30):
                    clients.start_soon(client, n)
            app = replicas[0][1]
            assert app.runtime is not None and app.runtime.control is not None
            rule = app.runtime.control.rules().rules[0]
            [state] = await app.runtime.control.store.read(
                [rule], now=datetime.fromtimestamp(FIXED_NOW, UTC)
            )
        with psycopg.connect(env["POSTGRES_URL"]) as db:
            spent_rows = db.execute(
                "SELECT coalesce(sum(total_cost_nano), 0) FROM usage"
            ).fetchone()
    assert spent_rows is not None
    assert 0 < spent_rows[0] <= budget_nano
    assert state.used + state.held <= budget_nano
    assert codes.count(429) > 0 and codes.count(200) > 0


async def test_restart_keeps_budgets_and_spend(nursery: trio.Nursery, tmp_path: Path) -> None:
    """One replica, the in-memory limit store: after a restart the budget is still there and
    its spend is read back from the usage rows."""
    env = {
        **(await _openai_mock(nursery)),
        "SQLITE_PATH": str(tmp_path / "gw.db"),
        "USAGE_SPILL_DIR": str(tmp_path / "spill"),
        "USAGE_FLUSH_INTERVAL": "0.05",
        "GOMODEL_MASTER_KEY": "mk",
    }
    headers = {**MASTER, "x-gomodel-user-path": "/team-r"}
    # Real time: the budget's window must hold the usage rows' timestamps.
    async with (
        _replicas(env, tmp_path, count=1, clock=None) as [(url, _)],
        httpx.AsyncClient(base_url=url, headers=headers) as http,
    ):
        await http.put("/admin/budgets/team-r/monthly", json={"amount": 1})
        for _ in range(3):
            body = {"model": "gpt-4o-mini", "messages": HI}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
        [before] = (await http.get("/admin/budgets")).json()["budgets"]
    async with (
        _replicas(env, tmp_path, count=1, clock=None) as [(url, _)],
        httpx.AsyncClient(base_url=url, headers=headers) as http,
    ):
        [after] = (await http.get("/admin/budgets")).json()["budgets"]
    assert before["spent"] == pytest.approx(3 * (10 * 0.15 + 20 * 0.6) / 1e6)
    assert after["spent"] == pytest.approx(before["spent"])
    assert after["amount"] == 1.0


async def test_redis_down(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Redis unreachable: a request under rate limits only goes through (fail open, logged);
    one under a budget is a 503 at once, never a budget spent blind."""
    env = {
        **(await _openai_mock(nursery)),
        "SQLITE_PATH": str(tmp_path / "gw.db"),
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "GOMODEL_MASTER_KEY": "mk",
        "SET_RATE_LIMIT_TEAM_L": "rpm=5",
        "SET_BUDGET_TEAM_B": "daily=1",
    }
    async with (
        _replicas(env, tmp_path, count=1) as [(url, _)],
        httpx.AsyncClient(base_url=url, headers=MASTER) as http,
    ):
        body = {"model": "gpt-4o-mini", "messages": HI}
        limited = await http.post(
            "/v1/chat/completions", json=body, headers={"x-gomodel-user-path": "/team_l"}
        )
        budgeted = await http.post(
            "/v1/chat/completions", json=body, headers={"x-gomodel-user-path": "/team_b"}
        )
    assert limited.status_code == 200
    assert budgeted.status_code == 503
    assert budgeted.json()["error"]["code"] == "limits_unavailable"
