"""``serve_gateway``'s connections (gomodel/serve.py, gomodel/connections.py), in memory.

The real server runs: hypercorn's HTTP/1.1 protocol and ``TCPServer`` behind
``serve_gateway``'s own accept loop, over in-memory client connections, in front of the mock
provider on the gateway's real transport, all under ``MockClock`` with autojump. A client that
stops reading is a lockstep stream (zero buffering: every write waits for the client's read), so
"blocked in hypercorn's shielded write" happens exactly when the client stops, and every time
asserted below is exact virtual time. RELIABILITY.md §8 rows 5, 19 and 23.
"""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import wrap_app

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.connections import ConnectionLimits
from gomodel.serve import LAST_WRITE, ServerSettings, hypercorn_config, serve_gateway
from gomodel.termination import Termination
from gomodel.testing import MockUpstream, memory_transport
from gomodel.usage.record import MemoryUsageSink, UsageRecord
from tests.conftest import VIRTUAL_TIME_ENV

LONG = [{"role": "user", "content": "x" * 500}]  # 104 chunks, one a second
STALL = 60.0  # STREAM_STALL_TIMEOUT's default
SEND = 90.0  # CLIENT_SEND_TIMEOUT's default
HEAD = 10.0  # HEADER_READ_TIMEOUT's default


@attrs.define
class _FakeSocket:
    """What hypercorn asks of a connection's socket: its family and both addresses."""

    port: int
    family: int = socket.AF_INET

    def getpeername(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", 8080)


class _Accepted(trio.abc.HalfCloseableStream):
    """The server's end of an in-memory connection, with the socket hypercorn asks for."""

    def __init__(self, stream: trio.StapledStream[Any, Any], port: int) -> None:
        self._stream = stream
        self.socket = _FakeSocket(port)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self._stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


class MemoryListener(trio.abc.Listener[_Accepted]):
    """Hands ``serve_gateway`` the connections :meth:`connect` makes."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[_Accepted](math.inf)

    async def connect(self) -> trio.StapledStream[Any, Any]:
        """A new client connection, lockstep: the client's reads pace the server's writes."""
        client, server = trio.testing.lockstep_stream_pair()
        await self._send.send(_Accepted(server, 40000 + id(server) % 20000))
        return client

    async def accept(self) -> _Accepted:
        return await self._receive.receive()

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()


class TimedSink(MemoryUsageSink):
    """Usage records, with the virtual time each one was taken."""

    times: list[float]

    def __init__(self) -> None:
        super().__init__()
        self.times = []

    def record(self, record: UsageRecord) -> None:
        self.times.append(trio.current_time())
        super().record(record)


def _request(doc: dict[str, Any], path: str = "/v1/chat/completions") -> bytes:
    body = orjson.dumps(doc)
    head = f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


async def _read_events(stream: trio.abc.ReceiveStream, count: int) -> bytes:
    """Read until ``count`` SSE data events have arrived; then the client stops reading."""
    received = b""
    while received.count(b"data: ") < count:
        data = await stream.receive_some()
        assert data, received
        received += data
    return received


def _tasks() -> int:
    """Tasks alive in this trio run."""

    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


@attrs.define
class Served:
    listener: MemoryListener
    mock: MockUpstream
    usage: TimedSink
    stop: trio.Event
    stopped_at: list[float]


@asynccontextmanager
async def served(
    tmp_path: Path, env: dict[str, str] | None = None, *, grace: float = 30.0
) -> AsyncIterator[Served]:
    """``serve_gateway`` on an in-memory listener until the block ends (then a graceful
    shutdown, whose end time lands in ``stopped_at``)."""
    mock = MockUpstream(models=("gpt-4o",), stream_gap=1.0)
    config = load_config(
        {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": "http://upstream.test/v1",
            **VIRTUAL_TIME_ENV,
            **(env or {}),
        },
        cwd=tmp_path,
    )
    usage = TimedSink()
    listener = MemoryListener()
    stop = trio.Event()
    stopped_at: list[float] = []
    settings = attrs.evolve(ServerSettings.from_config(config), graceful_timeout=grace)
    with trio.fail_after(100_000):  # a hang is a failure, in virtual time
        async with trio.open_nursery() as nursery:
            app = GatewayApp(
                config,
                transport_factory=lambda _: memory_transport(mock, nursery),
                usage=usage,
            )

            async def serve() -> None:
                await serve_gateway(
                    app, settings=settings, listeners=[listener], shutdown_trigger=stop.wait
                )
                stopped_at.append(trio.current_time())
                nursery.cancel_scope.cancel()  # the mock's connections

            nursery.start_soon(serve)
            await trio.testing.wait_all_tasks_blocked()
            yield Served(listener, mock, usage, stop, stopped_at)
            stop.set()


def _chat_connection(mock: MockUpstream, index: int = 0) -> Any:
    ids = [r.connection_id for r in mock.requests if r.path.endswith("/chat/completions")]
    return mock.connections[ids[index]]


async def test_client_that_stops_reading_is_cut_off_and_leaves_its_row(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 5: the client reads three events and then nothing, its connection left open. The
    provider is closed at STREAM_STALL_TIMEOUT, the client at CLIENT_SEND_TIMEOUT (both counted
    from the write that blocked), and then the request ends: its usage row is written and no
    task of it is left, without the client ever closing."""
    async with served(tmp_path) as s:
        baseline = _tasks()
        client = await s.listener.connect()
        await client.send_all(_request({"model": "gpt-4o", "messages": LONG, "stream": True}))
        await _read_events(client, 3)  # the role chunk (t=0) and two chunks (t=1, t=2)
        blocked_at = 3.0  # the mock's next chunk: the write that never completes
        conn = _chat_connection(s.mock)
        assert await s.mock.wait_closed(conn.id) == blocked_at + STALL
        assert conn.closed_by == "client"  # the gateway closed the provider's connection
        while not s.usage.records:  # noqa: ASYNC110 (the sink is a plain list)
            await trio.sleep(1)
        assert s.usage.times == [blocked_at + SEND]
        assert s.usage.records[0].termination is Termination.STALLED_CLIENT
        while await client.receive_some():  # the write that was cut, then the end:
            pass  # the gateway closed the client's connection
        await trio.testing.wait_all_tasks_blocked()
        assert _tasks() <= baseline  # (the idle model-list connection expired meanwhile)


async def test_without_the_write_deadline_the_request_never_ends(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The same client against hypercorn's own connection handler (what ``gomodel serve`` ran
    before, and what ``hypercorn gomodel.asgi:app`` runs): the provider is still closed at the
    stall timeout, but the write stays blocked in hypercorn's shielded send, so the request
    never ends and its usage row is never written. This is what the test above guards."""
    mock = MockUpstream(models=("gpt-4o",), stream_gap=1.0)
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://upstream.test/v1", **VIRTUAL_TIME_ENV}
    config = load_config(env, cwd=tmp_path)
    usage = MemoryUsageSink()
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config, transport_factory=lambda _: memory_transport(mock, nursery), usage=usage
        )
        async with app.serving():
            client, server = trio.testing.lockstep_stream_pair()
            asgi = wrap_app(app, 0, "asgi")  # type: ignore[arg-type]
            handler = TCPServer(asgi, hypercorn_config("127.0.0.1", 0), WorkerContext(None), {},
                                _Accepted(server, 40001))  # fmt: skip
            nursery.start_soon(handler.run)
            await client.send_all(_request({"model": "gpt-4o", "messages": LONG, "stream": True}))
            await _read_events(client, 3)
            assert await mock.wait_closed(_chat_connection(mock).id) == 3.0 + STALL
            await trio.sleep(10_000)
            assert usage.records == []
            await client.aclose()  # only the client's leaving ends the write
            await trio.testing.wait_all_tasks_blocked()
            assert len(usage.records) == 1
            nursery.cancel_scope.cancel()


async def test_shutdown_with_a_client_that_stops_reading(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 23 with a stalled client: SIGTERM (the shutdown trigger) while one client reads its
    stream and another has stopped reading. At the grace period both streams are cancelled and
    their provider connections closed; the reader gets the server_shutdown event; the stalled
    write is cut off LAST_WRITE later; the server has stopped by then, with both usage rows."""
    grace = 5.0
    async with served(tmp_path, grace=grace) as s:
        reader = await s.listener.connect()
        stalled = await s.listener.connect()
        body = _request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await reader.send_all(body)
        await stalled.send_all(body)
        await _read_events(stalled, 3)  # then nothing: its next write blocks at t=3

        async def read_all() -> None:
            received.append(await _read_events(reader, 1))
            while data := await reader.receive_some():
                received.append(data)

        received: list[bytes] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            await trio.sleep(10.0)
            stopped = trio.current_time()
            s.stop.set()
            await trio.sleep(grace + LAST_WRITE + 1.0)
        assert s.stopped_at == [stopped + grace + LAST_WRITE]
        chats = [_chat_connection(s.mock, i) for i in (0, 1)]
        assert [c.closed_at for c in chats] == [stopped + grace] * 2
        assert b'"code":"server_shutdown"' in b"".join(received)
        assert sorted(s.usage.times) == [stopped + grace, stopped + grace + LAST_WRITE]
        assert {r.termination for r in s.usage.records} == {Termination.SHUTDOWN}


async def test_request_head_must_arrive_within_the_header_timeout(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 19 (slowloris): a head sent in pieces is cut off HEADER_READ_TIMEOUT after the
    connection opened, long before the keep-alive timeout (75 s) that bounded it before; the
    app never sees it."""
    async with served(tmp_path) as s:
        client = await s.listener.connect()
        opened = trio.current_time()
        for piece in (b"POST /v1/chat/completions HT", b"TP/1.1\r\n", b"Host: gw\r\n"):
            await client.send_all(piece)
            await trio.sleep(3.0)
        assert await client.receive_some() == b""
        assert trio.current_time() == opened + HEAD
        assert s.mock.requests[1:] == []  # only the model list


async def test_header_timeout_counts_from_the_first_byte_on_a_kept_alive_connection(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """On a kept-alive connection the wait for the next request is the keep-alive timeout's
    (an idle minute is fine); the header deadline starts with the next request's first byte."""
    async with served(tmp_path) as s:
        client = await s.listener.connect()
        await client.send_all(b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += await client.receive_some()
        await trio.sleep(60.0)  # idle, below KEEP_ALIVE_TIMEOUT
        await client.send_all(b"GET /health HTTP/1.1\r\nHost: gw\r\n\r\n")
        second = b""
        while not second.endswith(b'{"status":"ok"}'):
            second += await client.receive_some()
        assert second.startswith(b"HTTP/1.1 200 ")
        await trio.sleep(30.0)
        started = trio.current_time()
        await client.send_all(b"GET /hea")
        assert await client.receive_some() == b""
        assert trio.current_time() == started + HEAD


@pytest.mark.parametrize("timeouts", [(20.0, 10.0), (600.0, 30.0)])
async def test_settings_reach_the_connections(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, timeouts: tuple[float, float]
) -> None:
    """HEADER_READ_TIMEOUT and CLIENT_SEND_TIMEOUT are the connections' deadlines."""
    send, head = timeouts
    env = {"CLIENT_SEND_TIMEOUT": str(send), "HEADER_READ_TIMEOUT": str(head)}
    env["FAILOVER_HOLD_PRELUDE"] = "false"  # the role chunk is the first write, at t=0
    async with served(tmp_path, env) as s:
        slow = await s.listener.connect()
        await slow.send_all(b"GET /health HT")
        stalled = await s.listener.connect()
        await stalled.send_all(_request({"model": "gpt-4o", "messages": LONG, "stream": True}))
        await _read_events(stalled, 1)  # the next write (t=1) blocks
        assert await slow.receive_some() == b""
        assert trio.current_time() == head
        while not s.usage.records:  # noqa: ASYNC110 (the sink is a plain list)
            await trio.sleep(1)
        assert s.usage.times == [1.0 + send]


def test_limits_from_config(tmp_path: Path) -> None:
    config = load_config({"CLIENT_SEND_TIMEOUT": "2m", "HEADER_READ_TIMEOUT": "3"}, cwd=tmp_path)
    assert ServerSettings.from_config(config).limits == ConnectionLimits(120.0, 3.0)
