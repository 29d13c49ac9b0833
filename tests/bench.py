"""``nox -s bench``: measures, never asserts; prints a table of numbers taken in one run.

* throughput, non-streaming and streaming chat, concurrency 20: the mock provider directly, a
  bare hypercorn trio app (the server floor), and gomodel in front of the mock; the ratios are
  what to compare (this machine is shared and noisy);
* client close -> provider socket close, through hypercorn on loopback: p50 / p99.

Every server runs in its own process; the load generator is one trio process.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.relay.watch import Receive, Send
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, serve_mock_upstream
from gomodel.usage.record import MemoryUsageSink

SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
CONCURRENCY = 20
DISCONNECTS = int(os.environ.get("BENCH_DISCONNECTS", "50"))
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 150}]}
STREAM = {**CHAT, "stream": True}

_FLOOR_BODY = orjson.dumps({"id": "x", "object": "chat.completion", "choices": []})


async def floor_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The server floor: hypercorn's trio worker answering a fixed JSON body."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": _FLOOR_BODY})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _process(args: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


async def _wait_up(url: str) -> None:
    with trio.fail_after(30):
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    await client.get(url)
                    return
                except httpx.TransportError:
                    await trio.sleep(0.1)


async def _throughput(url: str, body: dict[str, object], *, stream: bool) -> float:
    payload = orjson.dumps(body)
    done = 0
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(deadline: float) -> None:
            nonlocal done
            while trio.current_time() < deadline:
                if stream:
                    async with client.stream("POST", url, content=payload) as response:
                        async for _ in response.aiter_raw():
                            pass
                else:
                    await client.post(url, content=payload)
                done += 1

        await client.post(url, content=payload)  # warm up one connection
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(CONCURRENCY):
                nursery.start_soon(worker, start + SECONDS)
        return done / (trio.current_time() - start)


async def _disconnect_latencies() -> list[float]:
    mock = MockUpstream(models=("gpt-4o",), stream_gap=0.05)
    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(serve_mock_upstream, mock)
        config = load_config({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": upstream}, cwd="/")
        url = await nursery.start(serve_gateway, GatewayApp(config, usage=MemoryUsageSink()))
        body = {**STREAM, "model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 500}]}
        latencies = []
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(DISCONNECTS):
                async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    seen = 0
                    async for line in response.aiter_lines():
                        seen += line.startswith("data: ")
                        if seen == 2:
                            break
                    conn = mock.requests[-1].connection_id
                left = trio.current_time()
                closed = await mock.wait_closed(conn)
                latencies.append(closed - left)
        nursery.cancel_scope.cancel()
    return latencies


async def main() -> None:
    mock_port, gateway_port, floor_port = _free_port(), _free_port(), _free_port()
    direct = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
    gateway = f"http://127.0.0.1:{gateway_port}/v1/chat/completions"
    floor = f"http://127.0.0.1:{floor_port}/v1/chat/completions"
    data = tempfile.mkdtemp(prefix="gomodel-bench-")
    env = {
        "SQLITE_PATH": os.path.join(data, "usage.db"),  # usage recorded, as by default
        "USAGE_SPILL_DIR": data,
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
        "LOG_LEVEL": "warning",
    }
    rows: list[tuple[str, float, float]] = []
    with (
        _process(["-m", "gomodel.testing", "--port", str(mock_port)]),
        _process(
            ["-m", "gomodel", "serve", "--host", "127.0.0.1", "--port", str(gateway_port)], env
        ),
        _process(
            [
                "-m",
                "hypercorn",
                "--worker-class",
                "trio",
                "--bind",
                f"127.0.0.1:{floor_port}",
                "tests.bench:floor_app",
            ]
        ),
    ):
        for url in (direct, gateway, floor):
            await _wait_up(url.rsplit("/v1", 1)[0] + "/")
        for name, url in (
            ("mock provider, direct", direct),
            ("bare hypercorn app", floor),
            ("gomodel -> mock", gateway),
        ):
            unary = await _throughput(url, CHAT, stream=False)
            streamed = 0.0 if url == floor else await _throughput(url, STREAM, stream=True)
            rows.append((name, unary, streamed))
    latencies = sorted(await _disconnect_latencies())

    print(f"\nthroughput, concurrency {CONCURRENCY}, {SECONDS:g} s each (req/s)")
    print(f"{'target':<24}{'chat':>10}{'stream':>10}")
    for name, unary, streamed in rows:
        print(f"{name:<24}{unary:>10.0f}{streamed:>10.0f}")
    base_unary, base_stream = rows[0][1], rows[0][2]
    gw_unary, gw_stream = rows[2][1], rows[2][2]
    print(
        f"gomodel / direct: chat {gw_unary / base_unary:.2f}, stream {gw_stream / base_stream:.2f}"
    )
    print(f"gomodel / bare hypercorn app (chat): {gw_unary / rows[1][1]:.2f}")
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    print(
        f"\nclient close -> provider close, {len(latencies)} streams: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )


if __name__ == "__main__":
    trio.run(main)
