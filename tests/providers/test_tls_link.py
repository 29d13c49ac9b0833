"""The TLS link (gomodel.providers.tls) against real TLS servers on loopback: what a provider
connection must survive besides the happy path (big bodies, a peer cut mid-record, cancellation,
a graceful close, SNI and host name checks, failed handshakes)."""

from __future__ import annotations

import select
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest
import trio
import trio.testing
import trustme

from gomodel.providers.tls import TLSConnection

Handler = Callable[[trio.SocketStream], Awaitable[None]]
MIB = 1 << 20


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def _serve(nursery: trio.Nursery, handler: Handler) -> int:
    [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listener.socket.getsockname()[1])


_opened: list[TLSConnection] = []


@pytest.fixture(autouse=True)
async def _close_connections() -> AsyncIterator[None]:
    yield
    while _opened:
        _opened.pop().close()


async def _connect(port: int, context: ssl.SSLContext, name: str = "localhost") -> TLSConnection:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    connection = TLSConnection(stream.socket, context, name)
    try:
        await connection.handshake()
    except BaseException:
        stream.socket.close()
        raise
    _opened.append(connection)
    return connection


async def _receive_exactly(connection: TLSConnection, size: int) -> bytes:
    data = b""
    while len(data) < size:
        piece = await connection.receive(65536)
        assert piece, f"end of stream after {len(data)} of {size} bytes"
        data += piece
    return data


class _RawTLSServer:
    """A TLS server on memory BIOs over a raw TCP stream, so a test can send a record in part
    or hang up without ``close_notify``."""

    def __init__(self, stream: trio.SocketStream, context: ssl.SSLContext) -> None:
        self.stream = stream
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = context.wrap_bio(self.incoming, self.outgoing, server_side=True)

    async def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self.stream.send_all(self.outgoing.read())
                self.incoming.write(await self.stream.receive_some(65536))
        await self.stream.send_all(self.outgoing.read())

    def encrypt(self, data: bytes) -> bytes:
        self.obj.write(data)
        return self.outgoing.read()


async def test_large_bodies_both_ways(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    """3 MiB up and 3 MiB back, byte for byte: many records, partial kernel writes, receives
    that join records."""
    body = bytes(range(256)) * (3 * MIB // 256)

    async def echo(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, server_context, server_side=True)
        received = b""
        while len(received) < len(body):
            received += await stream.receive_some(MIB)
        await stream.send_all(received)
        await stream.aclose()

    port = await _serve(nursery, echo)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        async with trio.open_nursery() as inner:  # the echo waits for all of it: send and read
            inner.start_soon(connection.send_all, body)
            echoed = await _receive_exactly(connection, len(body))
        assert echoed == body
        assert await connection.receive(65536) == b""  # the server's close_notify


async def test_receive_returns_a_burst_of_records_at_once(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    """Records that arrived together come back in one receive (up to its size), not one per
    record: a streamed answer's burst reaches the relay as one piece."""
    ready = trio.Event()

    async def handler(raw: trio.SocketStream) -> None:
        server = _RawTLSServer(raw, server_context)
        await server.handshake()
        await raw.send_all(b"".join(server.encrypt(b"x" * 1000) for _ in range(10)))
        ready.set()
        await trio.sleep_forever()

    port = await _serve(nursery, handler)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        await ready.wait()
        await trio.testing.wait_all_tasks_blocked()
        first = await connection.receive(65536)
    assert len(first) > 1000  # more than the first record (all ten, unless the kernel split)


@pytest.mark.parametrize("cut", ["mid_record", "between_records", "close_notify"])
async def test_the_peer_hanging_up(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext, cut: str
) -> None:
    """A hang-up between records is an end of stream (as HTTPS servers do; the HTTP framing
    tells a cut body); in the middle of a record the data is lost: an error."""

    async def handler(raw: trio.SocketStream) -> None:
        server = _RawTLSServer(raw, server_context)
        await server.handshake()
        record = server.encrypt(b"hello")
        if cut == "mid_record":
            record = record[: len(record) // 2]
        elif cut == "close_notify":
            try:
                server.obj.unwrap()
            except ssl.SSLWantReadError:
                pass
            record += server.outgoing.read()
        await raw.send_all(record)
        await raw.aclose()

    port = await _serve(nursery, handler)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        if cut == "mid_record":
            with pytest.raises(trio.BrokenResourceError, match="cut short"):
                await connection.receive(65536)
            with pytest.raises(trio.BrokenResourceError):  # and it stays broken
                await connection.receive(65536)
        else:
            assert await connection.receive(65536) == b"hello"
            assert await connection.receive(65536) == b""
            assert connection.peer_closed()


async def test_cancelled_receive_consumes_nothing(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    release = trio.Event()

    async def handler(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, server_context, server_side=True)
        await stream.do_handshake()
        await release.wait()
        await stream.send_all(b"late answer")
        await trio.sleep_forever()

    port = await _serve(nursery, handler)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as inner:
                inner.start_soon(connection.receive, 65536)
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
        assert scope.cancelled_caught
        assert not connection.peer_closed()
        release.set()
        assert await connection.receive(65536) == b"late answer"


async def test_cancelled_send_leaves_the_link_broken(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    """A send cancelled with part of a record written cannot be resumed: later calls fail
    instead of sending bytes the peer would take for a corrupt record."""

    async def handler(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, server_context, server_side=True)
        await stream.do_handshake()
        await trio.sleep_forever()  # never reads: the sender blocks

    port = await _serve(nursery, handler)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as inner:
                inner.start_soon(connection.send_all, b"x" * (64 * MIB))
                await trio.testing.wait_all_tasks_blocked()
                scope.cancel()
        assert scope.cancelled_caught
        with pytest.raises(trio.BrokenResourceError):
            await connection.send_all(b"more")
        with pytest.raises(trio.BrokenResourceError):
            await connection.receive(65536)
        connection.close()
        with pytest.raises(trio.ClosedResourceError):
            await connection.receive(65536)


async def test_aclose_sends_close_notify(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    seen: list[str] = []
    done = trio.Event()

    async def handler(raw: trio.SocketStream) -> None:
        server = _RawTLSServer(raw, server_context)
        await server.handshake()
        try:
            while True:
                try:
                    if not server.obj.read(65536):
                        raise ssl.SSLZeroReturnError  # the ssl module's clean end
                except ssl.SSLWantReadError:
                    data = await raw.receive_some(65536)
                    if not data:
                        server.incoming.write_eof()
                    else:
                        server.incoming.write(data)
        except ssl.SSLZeroReturnError:
            seen.append("close_notify")
        except ssl.SSLError as exc:
            seen.append(type(exc).__name__)
        done.set()

    port = await _serve(nursery, handler)
    connection = await _connect(port, _client_context(ca))
    with trio.fail_after(30):
        await connection.aclose()
        await done.wait()
    assert seen == ["close_notify"]
    with pytest.raises(trio.ClosedResourceError):
        await connection.send_all(b"after close")


async def test_sni_and_host_name(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc]

    async def handler(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, context, server_side=True)
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError:
            return  # the client refused our certificate
        await stream.aclose()

    port = await _serve(nursery, handler)
    with trio.fail_after(30):
        connection = await _connect(port, _client_context(ca), "localhost")
        connection.close()
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            await _connect(port, _client_context(ca), "api.example.com")
    assert names == ["localhost", "api.example.com"]


async def test_handshake_failures_raise_why(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    async def tls(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, server_context, server_side=True)
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError:
            return

    async def hang_up(raw: trio.SocketStream) -> None:
        await raw.receive_some(65536)  # the ClientHello, then nothing
        await raw.aclose()

    untrusted = _client_context(trustme.CA())
    with trio.fail_after(30):
        with pytest.raises(ssl.SSLCertVerificationError, match="CERTIFICATE_VERIFY_FAILED"):
            await _connect(await _serve(nursery, tls), untrusted)
        with pytest.raises(ssl.SSLError):
            await _connect(await _serve(nursery, hang_up), _client_context(ca))


async def test_session_tickets_while_idle_are_not_a_hang_up(
    nursery: trio.Nursery, ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    """TLS 1.3 servers send session tickets after the handshake: an idle connection whose
    socket holds only those stays reusable; one with data or a close does not."""
    handshaken, answer = trio.Event(), trio.Event()

    async def handler(raw: trio.SocketStream) -> None:
        server = _RawTLSServer(raw, server_context)
        await server.handshake()  # its last flight holds the tickets
        handshaken.set()
        await answer.wait()
        await raw.send_all(server.encrypt(b"unasked"))
        await trio.sleep_forever()

    port = await _serve(nursery, handler)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    connection = TLSConnection(stream.socket, _client_context(ca), "localhost")
    _opened.append(connection)
    with trio.fail_after(30):
        await connection.handshake()
        await handshaken.wait()
        await trio.testing.wait_all_tasks_blocked()
        poller = select.poll()
        poller.register(stream.socket.fileno(), select.POLLIN)
        assert poller.poll(0)  # the tickets are there to read
        assert not connection.peer_closed()
        answer.set()
        await trio.testing.wait_all_tasks_blocked()
        while not connection.peer_closed():  # noqa: ASYNC110 (loopback: the bytes are on their way)
            await trio.sleep(0.001)
