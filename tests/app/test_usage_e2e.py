"""Usage rows for real: a mixed run through hypercorn into SQLite and into PostgreSQL.

Streaming and not, the fast path and the translated route, a client that leaves mid-stream, a
gateway restart; then the admin API must count one row per upstream request, the tokens the
mock providers reported, and give the same answers from both backends.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing, contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from tests.storage.pg import PG_URL, pg_schema

HI = [{"role": "user", "content": "hi"}]
HEADERS = {"authorization": "Bearer mk"}


@contextmanager
def storage(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    common = {"USAGE_SPILL_DIR": str(tmp_path / "spill"), "USAGE_FLUSH_INTERVAL": "0.05"}
    if backend == "sqlite":
        yield {**common, "STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(tmp_path / "db" / "u.db")}
    else:
        with pg_schema() as url:
            yield {**common, "STORAGE_TYPE": "postgresql", "POSTGRES_URL": url}


@asynccontextmanager
async def gateway(env: dict[str, str], tmp_path: Path) -> AsyncIterator[str]:
    """A gateway until the block ends, then a graceful shutdown (which flushes usage)."""
    app = GatewayApp(load_config({**env, "GOMODEL_MASTER_KEY": "mk"}, cwd=tmp_path))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_gateway, app, shutdown_trigger=stop.wait))
        assert app.runtime is not None
        await app.runtime.initial_load.wait()
        try:
            yield url
        finally:
            stop.set()


async def _mixed_run(url: str, openai_mock: MockUpstream) -> None:
    async with httpx.AsyncClient(base_url=url + "/v1", headers=HEADERS, timeout=10) as client:
        for body in (
            {"model": "gpt-4o", "messages": HI},
            {"model": "claude-sonnet-4", "messages": HI},
            {"model": "gpt-4o", "messages": HI, "stream": True},  # usage injected
            {
                "model": "gpt-4o",
                "messages": HI,
                "stream": True,
                "stream_options": {"include_usage": True},
            },  # the pure fast path
            {"model": "claude-sonnet-4", "messages": HI, "stream": True},
        ):
            response = await client.post("/chat/completions", json=body)
            assert response.status_code == 200, response.text
            if body.get("stream") and "stream_options" not in body:
                assert b'"usage"' not in response.content  # no chunk it did not ask for
        # A client that leaves mid-stream: the provider never got to report usage.
        chunk = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
        openai_mock.script(Reply.sse([chunk] * 50, gap=0.05), path="/chat/completions")
        async with client.stream(
            "POST", "/chat/completions", json={"model": "gpt-4o", "messages": HI, "stream": True}
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break


async def _admin(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, headers=HEADERS) as client:
        answers = {}
        for name in ("summary", "daily", "models", "user-paths", "log"):
            response = await client.get(f"/admin/api/v1/usage/{name}")
            assert response.status_code == 200, response.text
            answers[name] = response.json()
        return answers


async def _run_backend(backend: str, tmp_path: Path, nursery: trio.Nursery) -> dict[str, Any]:
    openai_mock = MockUpstream(models=("gpt-4o",))
    anthropic_mock = MockUpstream(models=("claude-sonnet-4",), dialect="anthropic")
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": await nursery.start(serve_mock_upstream, openai_mock),
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_BASE_URL": await nursery.start(serve_mock_upstream, anthropic_mock),
    }
    with storage(backend, tmp_path / backend) as storage_env:
        env |= storage_env
        async with gateway(env, tmp_path) as url:
            await _mixed_run(url, openai_mock)
        async with gateway(env, tmp_path) as url:  # a restart: nothing may be lost
            answers = await _admin(url)
    upstream = [r for r in openai_mock.requests if r.path.endswith("/chat/completions")]
    upstream += [r for r in anthropic_mock.requests if r.path.endswith("/messages")]
    entries = answers["log"]["entries"]
    assert answers["log"]["total"] == len(upstream) == 6
    assert answers["summary"]["total_requests"] == 6
    # Five complete answers of 10 + 20 tokens (the mocks' counts); the abandoned one has none.
    assert answers["summary"]["total_input_tokens"] == 50
    assert answers["summary"]["total_output_tokens"] == 100
    [partial] = [e for e in entries if e["termination"] == "client_disconnect"]
    assert not partial["complete"]
    assert partial["total_cost"] is None
    assert partial["request_id"] in {r.header("x-client-request-id") for r in upstream}
    streamed = [e for e in entries if e["stream"] and e["complete"] and e["provider"] == "openai"]
    [unary] = [e for e in entries if not e["stream"] and e["provider"] == "openai"]
    for entry in streamed:  # the same answer streamed or not: same tokens, same cost
        assert (entry["input_tokens"], entry["output_tokens"]) == (10, 20)
        assert entry["total_cost"] == unary["total_cost"] is not None
    assert {e["route"] for e in entries} == {"passthrough", "rewrite", "translate"}
    return answers


async def test_mixed_run_same_answers_from_sqlite_and_postgresql(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Every upstream request leaves one row, and both backends give the same admin answers."""
    sqlite = await _run_backend("sqlite", tmp_path, nursery)
    postgres = await _run_backend("postgresql", tmp_path, nursery)
    for name in ("summary", "daily", "models", "user-paths"):
        assert sqlite[name] == postgres[name], name

    def comparable(answers: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted(
            (e["route"], e["stream"], e["termination"], e["input_tokens"], e["total_cost"])
            for e in answers["log"]["entries"]
        )

    assert comparable(sqlite) == comparable(postgres)
    assert orjson.dumps(sqlite["summary"]) == orjson.dumps(postgres["summary"])


async def test_sigterm_under_load_loses_nothing(nursery: trio.Nursery, tmp_path: Path) -> None:
    """SIGTERM while twenty streams are in flight: they finish, and every one leaves its row."""
    mock = MockUpstream(models=("gpt-4o",), stream_gap=0.05)  # about a second per stream
    upstream = await nursery.start(serve_mock_upstream, mock)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    database = tmp_path / "usage.db"
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))},
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": upstream,
        "SQLITE_PATH": str(database),
        "USAGE_SPILL_DIR": str(tmp_path / "spill"),
        "USAGE_FLUSH_INTERVAL": "60",  # nothing is written before the shutdown flush
    }
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "gomodel", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 90}], "stream": True}
    finished = 0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        with trio.fail_after(30):
            while True:
                try:
                    await client.get("/health")
                    break
                except httpx.TransportError:
                    await trio.sleep(0.1)

        async def stream() -> None:
            nonlocal finished
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                text = b"".join([chunk async for chunk in response.aiter_bytes()])
            assert text.endswith(b"data: [DONE]\n\n")
            finished += 1

        async with trio.open_nursery() as clients:
            for _ in range(20):
                clients.start_soon(stream)
            with trio.fail_after(10):
                while len([r for r in mock.requests if r.method == "POST"]) < 20:  # noqa: ASYNC110
                    await trio.sleep(0.01)
            process.send_signal(signal.SIGTERM)
    with trio.fail_after(60):
        assert await process.wait() == 0
    assert finished == 20
    with closing(sqlite3.connect(database)) as db:
        [(rows, tokens)] = db.execute("SELECT count(*), sum(total_tokens) FROM usage").fetchall()
    assert rows == 20
    assert tokens == 20 * 30


async def test_storage_outage_mid_run_loses_nothing(nursery: trio.Nursery, tmp_path: Path) -> None:
    """PostgreSQL's usage table disappears mid-run (schema renamed away) and comes back: rows
    made meanwhile wait, spill past the buffer, and all land once storage is back."""
    mock = MockUpstream(models=("gpt-4o",))
    upstream = await nursery.start(serve_mock_upstream, mock)
    with pg_schema() as pg_url:
        schema = pg_url.split("search_path%3D", 1)[1].split("&", 1)[0]
        env = {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": upstream,
            "STORAGE_TYPE": "postgresql",
            "POSTGRES_URL": pg_url,
            "USAGE_FLUSH_INTERVAL": "0.05",
            "USAGE_BUFFER_SIZE": "3",  # a small bound: most rows spill to disk meanwhile
            "USAGE_SPILL_DIR": str(tmp_path / "spill"),
        }
        async with (
            gateway(env, tmp_path) as url,
            httpx.AsyncClient(base_url=url + "/v1", headers=HEADERS) as client,
        ):

            async def chat(n: int) -> None:
                for _ in range(n):
                    response = await client.post(
                        "/chat/completions", json={"model": "gpt-4o", "messages": HI}
                    )
                    assert response.status_code == 200

            await chat(2)
            await trio.sleep(0.3)
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f"ALTER SCHEMA {schema} RENAME TO {schema}_away")
                await chat(10)  # storage is "down": these rows cannot be written
                await trio.sleep(0.5)
                admin.execute(f"ALTER SCHEMA {schema}_away RENAME TO {schema}")
        # The restart replays what was spilled; the recorder retried what it held.
        async with gateway(env, tmp_path) as url:
            answers = await _admin(url)
    assert answers["summary"]["total_requests"] == 12
    assert answers["summary"]["total_tokens"] == 12 * 30
