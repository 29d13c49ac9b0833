"""``/metrics`` under several worker processes: ``gomodel serve --workers 2`` and plain
``hypercorn --workers 2``. Every scrape, whichever worker answers it, sums every worker's
series; a worker that restarts keeps the totals and leaves no in-flight value behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import trio

from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from tests.observe.scrape import Samples, parse, total
from tests.test_cli import _env, _free_port, _wait_healthy

MASTER = "mk-workers"
TOKEN = "metrics-token-workers"
HI = [{"role": "user", "content": "hi"}]


async def _start(
    nursery: trio.Nursery, tmp_path: Path, command: list[str], port: int
) -> tuple[trio.Process, MockUpstream]:
    openai_mock = MockUpstream(models=("gpt-4o-mini",))
    anthropic_mock = MockUpstream(models=("claude-sonnet-4",), dialect="anthropic")
    openai_url = await nursery.start(serve_mock_upstream, openai_mock)
    anthropic_url = await nursery.start(serve_mock_upstream, anthropic_mock)
    env = _env(
        OPENAI_API_KEY="k",
        OPENAI_BASE_URL=openai_url,
        ANTHROPIC_API_KEY="ak",
        ANTHROPIC_BASE_URL=anthropic_url,
        GOMODEL_MASTER_KEY=MASTER,
        METRICS_ENABLED="true",
        METRICS_TOKEN=TOKEN,
        SQLITE_PATH=str(tmp_path / "usage.db"),
        USAGE_SPILL_DIR=str(tmp_path),
        USAGE_FLUSH_INTERVAL="0.1",
        TMPDIR=str(tmp_path),
        RETRY_MAX_RETRIES="0",  # the mix's 503 is the answer: one attempt, one count
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with (tmp_path / "stderr").open("wb") as stderr:
        process = await trio.lowlevel.open_process(
            [sys.executable, *command],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    await _wait_healthy(f"http://127.0.0.1:{port}")
    return process, openai_mock


async def _stop(process: trio.Process) -> None:
    process.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        await process.wait()


def _client(url: str) -> httpx.AsyncClient:
    # A new connection per request, so the workers share the requests between them.
    return httpx.AsyncClient(
        base_url=url,
        headers={"authorization": f"Bearer {MASTER}", "connection": "close"},
        timeout=20,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def _mix(url: str, mock: MockUpstream) -> None:
    """2 passthrough chats, 2 translated chats (Anthropic), 1 upstream error, 1 client that
    leaves mid-stream."""
    async with _client(url) as client:
        for model in ("gpt-4o-mini", "gpt-4o-mini", "claude-sonnet-4", "claude-sonnet-4"):
            answer = await client.post(
                "/v1/chat/completions", json={"model": model, "messages": HI}
            )
            assert answer.status_code == 200, answer.text
        mock.script(
            Reply.json({"error": {"message": "down", "type": "server_error"}}, status=503),
            path="/chat/completions",
        )
        failed = await client.post(
            "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HI}
        )
        assert failed.status_code == 503
        mock.stream_gap = 0.05
        long = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 400}]}
        async with client.stream(
            "POST", "/v1/chat/completions", json={**long, "stream": True}
        ) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    break
        mock.stream_gap = 0.0


async def _scrape(url: str) -> Samples:
    async with _client(url) as client:
        response = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return parse(response.text)


async def _settled(url: str, requests: float) -> Samples:
    """A scrape once every attempt has been counted (a stream's client may leave first)."""
    with trio.fail_after(20):
        while True:
            s = await _scrape(url)
            if total(s, "gomodel_requests_total") >= requests and not total(
                s, "gomodel_requests_in_flight"
            ):
                return s
            await trio.sleep(0.1)


def _dirs(tmp_path: Path, pattern: str = "gomodel-metrics-*") -> list[Path]:
    return list(tmp_path.glob(pattern))


def _text(path: Path) -> str:
    return path.read_text()


def _live_pids(directory: Path) -> set[int]:
    names = (p.name for p in directory.iterdir())
    return {int(m[1]) for n in names if (m := re.fullmatch(r"gauge_live\w+_(\d+)\.db", n))}


def _pids(directory: Path) -> set[int]:
    return {int(m[1]) for p in directory.iterdir() if (m := re.fullmatch(r"\w+_(\d+)\.db", p.name))}


def _assert_mix(s: Samples, times: int = 1) -> None:
    chat = {"route": "/v1/chat/completions"}
    assert total(s, "gomodel_requests_total", **chat) == 6 * times
    assert total(s, "gomodel_requests_total", provider="openai", route_kind="passthrough") == (
        3 * times
    )
    translated = total(
        s, "gomodel_requests_total", provider="anthropic", route_kind="translate", status="200"
    )
    assert translated == 2 * times
    assert total(s, "gomodel_requests_total", status="503") == times
    assert total(s, "gomodel_terminations_total", termination="client_disconnect") == times
    assert total(s, "gomodel_terminations_total", termination="completed") == 4 * times
    assert total(s, "gomodel_upstream_errors_total", provider="openai", status="503") == times
    assert total(s, "gomodel_request_duration_seconds_count") == 6 * times
    overhead = total(s, "gomodel_gateway_overhead_seconds_sum")
    assert 0 < overhead < total(s, "gomodel_request_duration_seconds_sum")
    assert total(s, "gomodel_tokens_total", provider="openai", direction="input") >= 20 * times


async def test_gomodel_serve_two_workers_sums_every_worker(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    port = _free_port()
    command = ["-m", "gomodel", "serve", "--workers", "2", "--host", "127.0.0.1", "--port"]
    process, mock = await _start(nursery, tmp_path, [*command, str(port)], port)
    url = f"http://127.0.0.1:{port}"
    try:
        # The kernel hands each new connection to whichever worker accepts first: send the mix
        # again until both workers have served some of it (and written their files).
        times = 0
        with trio.fail_after(120):
            while True:
                await _mix(url, mock)
                times += 1
                first = await _settled(url, 6 * times)
                [directory] = _dirs(tmp_path)
                if len(_pids(directory)) == 2:
                    break
        _assert_mix(first, times)
        for _ in range(6):  # whichever worker answers, the same totals
            again = await _scrape(url)
            assert total(again, "gomodel_requests_total") == 6 * times
        # The usage recorder's own numbers arrive through the sampler (at most 1 s old).
        with trio.fail_after(10):
            s = await _scrape(url)
            while total(s, "gomodel_usage_rows_total", event="written") < 6 * times:
                await trio.sleep(0.2)  # another process writes them: nothing to wait on here
                s = await _scrape(url)
        assert total(s, "gomodel_usage_batches_written_total") >= 1
    finally:
        await _stop(process)
    assert "Traceback" not in _text(tmp_path / "stderr")
    assert not _dirs(tmp_path)  # removed when serve exits
    assert "Traceback" not in _text(tmp_path / "stderr")


async def test_hypercorn_workers_restart_keep_totals(nursery: trio.Nursery, tmp_path: Path) -> None:
    """hypercorn restarts each worker after 4 requests: the totals still count every request,
    and no dead worker leaves an in-flight value or a live-gauge file behind."""
    port = _free_port()
    command = [
        "-m",
        "hypercorn",
        "--worker-class",
        "trio",
        "--workers",
        "2",
        "--max-requests",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "gomodel.asgi:app",
    ]
    process, mock = await _start(nursery, tmp_path, command, port)
    url = f"http://127.0.0.1:{port}"
    try:
        await _mix(url, mock)
        await _mix(url, mock)
        s = await _settled(url, 12)
        _assert_mix(s, times=2)
        [directory] = _dirs(tmp_path, f"gomodel-metrics-{os.getuid()}-{process.pid}-*")
        assert len(_pids(directory)) > 2  # workers were replaced
        live = _live_pids(directory)
        assert len(live) <= 2  # only the workers alive now have live gauges
    finally:
        await _stop(process)
    assert "Traceback" not in _text(tmp_path / "stderr")
