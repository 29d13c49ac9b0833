"""The soak: thousands of streams through a real ``gomodel serve``, clients leaving at random
points and the provider failing at random, then a look at what is left (RELIABILITY.md §8 row
24).

One ``gomodel serve`` process (SQLite usage storage) in front of a mock provider in this
process; ``concurrency`` clients on raw sockets, each looping until the time is up: a streamed
chat with a fault the mock will inject (none most of the time; cut mid-stream, reset, silent,
no answer at all, a 500, an HTML 502) and a way to leave (read to the end; leave before the
answer's head; leave after k events; read slowly). A client that stays to the end knows what it
must get from its fault: ``[DONE]``, an error event, or a 5xx envelope.

Measured from outside the gateway (``/proc``), after a warm-up at the same load and again after
the soak, each time once the load has stopped: its file descriptors by kind (client
connections, provider connections, the listening socket, everything else) and its RSS; during
the soak the peak RSS. Then SIGTERM, and the usage rows against the provider's requests: every
request the provider received has exactly one row under its request id.

``tests/test_soak.py`` asserts on the result; ``python -m tests.bench --soak S`` reports it.
"""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from gomodel.testing import (
    Close,
    MockUpstream,
    RecordedRequest,
    Reply,
    Reset,
    Silence,
    serve_mock_upstream,
)

__all__ = ["SoakResult", "run_soak"]

MASTER_KEY = "soak"
IDLE_TIMEOUT = 3.0  # HTTP_STREAM_IDLE_TIMEOUT and HTTP_RESPONSE_HEADER_TIMEOUT in the soak
GAP = 0.004  # between the mock's events
# (fault, weight, what a client that stays gets)
FAULTS = [
    ("none", 80, "done"),
    ("close", 5, "error event"),
    ("reset", 5, "error event"),
    ("silence", 1, "error event"),
    ("nohead", 1, "5xx"),
    ("status500", 4, "5xx"),
    ("html502", 4, "5xx"),
]
# (how the client leaves, weight)
LEAVES = [("stay", 70), ("before head", 10), ("after k", 15), ("slow", 5)]


@dataclass
class SoakResult:
    seconds: float  # the soak's load, warm-up not counted
    concurrency: int
    streams: int  # client requests in the soak and its warm-up (outcomes, faults: the same)
    soak_streams: int  # those in the soak alone
    outcomes: dict[str, int]  # "done", "error event", "5xx", "left", ...
    faults: dict[str, int]  # the faults the clients asked for
    unexpected: list[str]  # clients that stayed and did not get what their fault gives
    upstream_requests: int  # chat requests the provider received
    usage_rows: int
    rows_missing: int  # provider requests without a usage row
    rows_doubled: int  # request ids with more than one row
    rows_unknown: int  # rows under an id no client sent
    fds_start: dict[str, int]  # by kind, after the warm-up, load stopped
    fds_end: dict[str, int]  # the same after the soak
    rss_start_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    answers_after: bool  # a plain chat request got its answer after the soak
    exit_code: int | None  # of the gateway after SIGTERM
    log_errors: list[str] = field(default_factory=list)  # ERROR lines, tracebacks

    @property
    def streams_per_second(self) -> float:
        return self.soak_streams / max(self.seconds, 1e-9)


def _chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, object]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "s", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice]}


@attrs.define(eq=False)
class SoakUpstream(MockUpstream):
    """The mock provider; a chat request's last message says which fault to play:
    ``"soak <fault> <events> <k>"`` (k: after how many events a mid-stream fault happens)."""

    def _default(self, request: RecordedRequest) -> Reply:
        doc = request.json
        try:
            _, fault, events, k = doc["messages"][-1]["content"].split()
        except (TypeError, KeyError, IndexError, ValueError, AttributeError):
            return super()._default(request)
        chunks: list[Any] = [_chunk({"role": "assistant", "content": ""})]
        chunks += [_chunk({"content": "x"}) for _ in range(int(events))]
        chunks.append(_chunk({}, "stop"))
        if (doc.get("stream_options") or {}).get("include_usage"):
            usage = {"prompt_tokens": 3, "completion_tokens": int(events), "total_tokens": 9}
            chunks.append({**_chunk({}), "choices": [], "usage": usage})
        at = min(int(k), len(chunks) - 1) or 1
        if fault == "status500":
            return Reply.error(500, "the provider fell over")
        if fault == "html502":
            return Reply.html(502, "<html><body>502 Bad Gateway</body></html>")
        if fault == "nohead":
            return attrs.evolve(Reply.sse(chunks, gap=GAP), headers_delay=math.inf)
        if fault in ("close", "reset", "silence"):
            step = {"close": Close(), "reset": Reset(), "silence": Silence()}[fault]
            return Reply.sse([*chunks[:at], step], gap=GAP, done=False)
        return Reply.sse(chunks, gap=GAP)


def _request(request_id: str, content: str) -> bytes:
    body = orjson.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "stream": True}
    )
    head = (
        "POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\n"
        f"Authorization: Bearer {MASTER_KEY}\r\nContent-Type: application/json\r\n"
        f"X-Request-ID: {request_id}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _outcome(received: bytes) -> str:
    status = received.split(b" ", 2)[1] if received.startswith(b"HTTP/1.1 ") else b""
    if status == b"200":
        if b"data: [DONE]" in received:
            return "done"
        if b'data: {"error"' in received:
            return "error event"
        return "cut (200, no end)"
    if status[:1] == b"5" and b'{"error":' in received:
        return "5xx"
    return f"status {status.decode(errors='replace') or 'none'}"


@dataclass
class _Load:
    port: int
    rng: random.Random
    sent: list[str] = field(default_factory=list)  # request ids
    outcomes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    async def client(self, until: float, name: str) -> None:
        rng = self.rng
        faults = [f for f, _, _ in FAULTS]
        expected = {f: e for f, _, e in FAULTS}
        leaves = [leave for leave, _ in LEAVES]
        while trio.current_time() < until:
            fault = rng.choices(faults, [w for _, w, _ in FAULTS])[0]
            leave = rng.choices(leaves, [w for _, w in LEAVES])[0]
            events, k = rng.randint(2, 12), rng.randint(1, 6)
            request_id = f"soak-{name}-{len(self.sent)}"
            self.sent.append(request_id)
            self.faults[fault] += 1
            got = await self._one(request_id, f"soak {fault} {events} {k}", leave, k)
            self.outcomes[got] += 1
            if got != "left" and got != expected[fault] and len(self.unexpected) < 20:
                self.unexpected.append(f"{request_id}: {fault}, {leave}: {got}")

    async def _one(self, request_id: str, content: str, leave: str, k: int) -> str:
        with trio.fail_after(30):
            stream = await trio.open_tcp_stream("127.0.0.1", self.port)
            async with stream:
                await stream.send_all(_request(request_id, content))
                if leave == "before head":
                    await trio.sleep(self.rng.uniform(0, 0.01))
                    return "left"
                received = b""
                paused = leave != "slow"
                while data := await stream.receive_some(65536):
                    received += data
                    if leave == "after k" and received.count(b"data: ") >= k:
                        return "left"
                    if not paused and b"data: " in received:
                        paused = True
                        await trio.sleep(self.rng.uniform(0.05, 0.3))
                return _outcome(received)


def _sockets() -> dict[int, tuple[int, int, str]]:
    """inode -> (local port, remote port, state) of every TCP socket on the machine."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            found[inode] = (
                int(local.rsplit(":", 1)[1], 16),
                int(remote.rsplit(":", 1)[1], 16),
                state,
            )
    return found


def fd_kinds(pid: int, port: int, upstream_port: int) -> dict[str, int]:
    """The process's open files: client connections (to ``port``), provider connections (to
    ``upstream_port``), listening sockets, and everything else."""
    tcp = _sockets()
    kinds: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        inode = int(target[8:-1]) if target.startswith("socket:[") else None
        local, remote, state = tcp.get(inode, (0, 0, "")) if inode is not None else (0, 0, "")
        if state == "0A":
            kinds["listening"] += 1
        elif inode is not None and local == port:
            kinds["client"] += 1
        elif inode is not None and remote == upstream_port:
            kinds["provider"] += 1
        else:
            kinds["other"] += 1
    return {kind: kinds[kind] for kind in ("client", "provider", "listening", "other")}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _quiet(pid: int, port: int, upstream_port: int) -> dict[str, int]:
    """The fd counts once the gateway holds no client connection (at most 10 s)."""
    with trio.move_on_after(10):
        while fd_kinds(pid, port, upstream_port)["client"]:  # noqa: ASYNC110 (polling /proc)
            await trio.sleep(0.05)
    await trio.sleep(0.5)  # let the last usage rows and log lines settle
    return fd_kinds(pid, port, upstream_port)


async def _load(load: _Load, concurrency: int, seconds: float) -> None:
    until = trio.current_time() + seconds
    async with trio.open_nursery() as nursery:
        for i in range(concurrency):
            nursery.start_soon(load.client, until, f"{len(load.sent)}-{i}")


async def _chat_answers(port: int, load: _Load) -> bool:
    """A plain (non-streamed) chat request gets its answer."""
    body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    request_id = f"soak-check-{len(load.sent)}"
    load.sent.append(request_id)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {MASTER_KEY}"
        f"\r\nContent-Type: application/json\r\nConnection: close\r\nX-Request-ID: {request_id}"
        f"\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with trio.fail_after(10):
        async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
            await stream.send_all(head.encode() + body)
            received = b""
            while data := await stream.receive_some():
                received += data
    return received.startswith(b"HTTP/1.1 200 ") and b"Mock response to: hi" in received


async def _soak(seconds: float, workdir: Path, concurrency: int, warmup: float) -> SoakResult:
    mock = SoakUpstream(models=("gpt-4o",))
    port = _free_port()
    load = _Load(port, random.Random(13))
    log = workdir / "gateway.log"
    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(serve_mock_upstream, mock)
        upstream_port = int(upstream.rsplit(":", 1)[1].split("/")[0])
        env = {
            **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))},
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": upstream,
            "GOMODEL_MASTER_KEY": MASTER_KEY,
            "SQLITE_PATH": str(workdir / "usage.db"),
            "USAGE_SPILL_DIR": str(workdir / "spill"),
            "USAGE_FLUSH_INTERVAL": "0.5",
            "HTTP_STREAM_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
            "HTTP_RESPONSE_HEADER_TIMEOUT": str(IDLE_TIMEOUT),
            "SHUTDOWN_GRACE_PERIOD": "5",
            "LOG_LEVEL": "warning",
            # One attempt per request: each fault is the client's answer, and every provider
            # request is one request's one row (retries and failover: tests/pipeline).
            "RETRY_MAX_RETRIES": "0",
            # Faults come thick and fast here: an open breaker would answer requests whose own
            # fault is none with a 503 (breakers: tests/pipeline).
            "CIRCUIT_BREAKER_ENABLED": "false",
        }
        with log.open("wb") as out:
            process = await trio.lowlevel.open_process(
                [sys.executable, "-m", "gomodel", "serve", "--port", str(port)],
                cwd=workdir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            with trio.fail_after(30):
                while True:
                    assert process.returncode is None, log.read_text()[-3000:]
                    try:
                        if await _chat_answers(port, load):
                            break
                    except OSError:
                        pass
                    await trio.sleep(0.1)
            await _load(load, concurrency, warmup)
            fds_start = await _quiet(process.pid, port, upstream_port)
            rss_start = rss_mb(process.pid)
            peak = rss_start

            async def sample() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, rss_mb(process.pid))
                    await trio.sleep(0.25)

            started, before = time.monotonic(), len(load.sent)
            async with trio.open_nursery() as sampling:
                sampling.start_soon(sample)
                await _load(load, concurrency, seconds)
                sampling.cancel_scope.cancel()
            elapsed = time.monotonic() - started
            soak_streams = len(load.sent) - before
            fds_end = await _quiet(process.pid, port, upstream_port)
            rss_end = rss_mb(process.pid)
            answers = await _chat_answers(port, load)
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                with trio.move_on_after(30):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        nursery.cancel_scope.cancel()
    chats = [r for r in mock.requests if r.path.endswith("/chat/completions")]
    upstream_ids = Counter(r.header("x-client-request-id") for r in chats)
    with sqlite3.connect(workdir / "usage.db") as db:
        rows = Counter(row[0] for row in db.execute("SELECT request_id FROM usage"))
    sent = set(load.sent)
    streams = sum(1 for rid in load.sent if not rid.startswith("soak-check-"))
    text = log.read_text(errors="replace")
    problems = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
    return SoakResult(
        seconds=elapsed,
        concurrency=concurrency,
        streams=streams,
        soak_streams=soak_streams,
        outcomes=dict(load.outcomes),
        faults=dict(load.faults),
        unexpected=load.unexpected,
        upstream_requests=len(chats),
        usage_rows=sum(rows.values()),
        rows_missing=sum(1 for rid in upstream_ids if rid not in rows),
        rows_doubled=sum(1 for n in rows.values() if n > 1),
        rows_unknown=sum(1 for rid in rows if rid not in sent and rid is not None),
        fds_start=fds_start,
        fds_end=fds_end,
        rss_start_mb=rss_start,
        rss_end_mb=rss_end,
        rss_peak_mb=peak,
        answers_after=answers,
        exit_code=process.returncode,
        log_errors=problems[:20],
    )


def run_soak(
    seconds: float, workdir: Path, *, concurrency: int = 32, warmup: float = 5.0
) -> SoakResult:
    """The soak, ``seconds`` long after ``warmup`` seconds at the same load."""
    workdir.mkdir(parents=True, exist_ok=True)
    return trio.run(_soak, seconds, workdir, concurrency, warmup)
