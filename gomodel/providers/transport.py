"""The upstream transport: HTTP/1.1 under httpx's transport API, with a pool built for a relay.

httpx's default transport (httpcore) was the largest cost in a profile of the gateway after
hypercorn itself (docs/benchmarks.md): on every request its pool asks every idle connection
whether its socket is readable (one ``poll()`` each), and the h11 state machine runs on every
event. Here:

* idle connections wait on a stack per origin; a request takes the most recently used one and
  checks only that one (expired? did the peer hang up or send something unasked?);
* a connection slot is held from connect to close, ``max_connections`` of them in all; a request
  that finds none waits in line (FIFO) at most the pool timeout (``httpx.PoolTimeout``); a
  connection released while requests wait goes straight to the first one waiting for its origin;
* the request is one ``send_all`` (head and body); the response head and body are framed by
  :mod:`gomodel.wire.http1`; a body read to its end on a keep-alive connection returns the
  connection to its stack, anything else (an error, a cancel, a body left unread) closes it at
  once. Closing the TCP connection is a provider's only "stop generating" signal, so a
  cancelled read never leaves a connection half-read in the pool;
* connect, write and read timeouts come from the request's ``timeout`` extension as in httpx;
  failures are httpx's exception types, so callers cannot tell this transport from httpx's;
* a *reused* connection that fails before any byte of the response arrived (the write fails,
  or the peer closes or resets) is the keep-alive race: the provider closed it as idle while
  the request was on its way, so the request reached no application. The request is sent once
  more, on a fresh connection. A fresh connection's failure, a timeout, or a failure after the
  first response byte is never retried.

How a connection is made is a :class:`~gomodel.providers.links.Connector`: TCP (and TLS) by
default, in-memory streams in tests (:func:`gomodel.testing.memory_transport`).
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import AsyncIterator

import attrs
import httpx
import trio

from gomodel.providers.links import Connector, Link, tcp_connector
from gomodel.wire.http1 import BodyDecoder, Head, ProtocolError, encode_request, parse_head

__all__ = ["PoolStatistics", "UpstreamTransport"]

_READ_SIZE = 64 * 1024
_IO_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

Origin = tuple[bytes, str, int]


@attrs.frozen
class PoolStatistics:
    """The pool at one moment (the metrics sampler reads it)."""

    busy: int  # connections connecting or carrying a request
    idle: int  # connections pooled for reuse
    waiters: int  # requests waiting for a connection slot
    max_connections: int


@attrs.define(eq=False, slots=True)
class _Connection:
    origin: Origin
    link: Link
    buffer: bytes = b""
    idle_since: float = 0.0
    closed: bool = False
    exchanges: int = 0  # requests it carried (more than one: it came from the idle stack)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.link.close()


@attrs.define(eq=False, slots=True)
class _Waiter:
    origin: Origin
    event: trio.Event = attrs.field(factory=trio.Event)
    handed: _Connection | None = None
    slot: bool = False  # a freed slot was passed to this waiter (still counted as open)


class _NothingReceived(Exception):
    """The connection ended (or failed) before any byte of a response arrived."""

    def __init__(self, message: str, *, reset: bool) -> None:
        super().__init__(message)
        self.reset = reset


class UpstreamTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        connector: Connector | None = None,
        max_connections: int = 100,
        max_keepalive_connections: int = 100,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._connect = connector if connector is not None else tcp_connector()
        self._max = max_connections
        self._max_idle = max_keepalive_connections
        self._expiry = keepalive_expiry
        self._open = 0  # connections that hold a slot: connecting, busy or idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._waiters: deque[_Waiter] = deque()
        self._closed = False

    @property
    def busy_connections(self) -> int:
        """Connections connecting or carrying a request (not idle in the pool)."""
        return self._open - sum(len(stack) for stack in self._idle.values())

    def statistics(self) -> PoolStatistics:
        idle = sum(len(stack) for stack in self._idle.values())
        return PoolStatistics(self._open - idle, idle, len(self._waiters), self._max)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        origin = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme])
        data = _encode(request, await request.aread())
        connection = await self._checkout(origin, timeouts, request)
        retried = False
        while True:
            connection.exchanges += 1
            sent = False
            try:
                link = connection.link
                taken = link.try_send(data)
                if taken < len(data):
                    with _deadline(timeouts.get("write"), httpx.WriteTimeout, request):
                        await link.send_all(data[taken:])
                sent = True
                head = await self._read_head(connection, request, timeouts.get("read"))
                break
            except BaseException as exc:
                self._discard(connection)
                stale = isinstance(exc, _NothingReceived) or (
                    not sent and isinstance(exc, _IO_ERRORS)
                )
                if stale and connection.exchanges > 1 and not retried:
                    # The keep-alive race (see above): once more, on a new connection.
                    retried = True
                    connection = await self._checkout(origin, timeouts, request, fresh=True)
                    continue
                error: type[httpx.TransportError]
                if isinstance(exc, _NothingReceived):
                    error = httpx.ReadError if exc.reset else httpx.RemoteProtocolError
                    raise error(str(exc), request=request) from exc
                if isinstance(exc, _IO_ERRORS):
                    error = httpx.ReadError if sent else httpx.WriteError
                    raise error(str(exc) or type(exc).__name__, request=request) from exc
                if isinstance(exc, ProtocolError):
                    raise httpx.RemoteProtocolError(str(exc), request=request) from exc
                raise
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=_ResponseBody(self, connection, head, request, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle = [connection for stack in self._idle.values() for connection in stack]
        self._idle.clear()
        for connection in idle:
            self._open -= 1
            connection.closed = True
            if connection.link.aclose is not None:
                with trio.move_on_after(1.0):
                    await connection.link.aclose()
            connection.link.close()

    # -- the pool ------------------------------------------------------------------------------

    async def _checkout(
        self,
        origin: Origin,
        timeouts: dict[str, float | None],
        request: httpx.Request,
        *,
        fresh: bool = False,
    ) -> _Connection:
        """A connection for ``origin``: the most recently used idle one, else a new one
        (``fresh``: a new one, or one handed over by a request that has just finished)."""
        while True:
            connection = None if fresh else self._take_idle(origin)
            if connection is not None:
                return connection
            if self._open < self._max or self._evict_idle():
                self._open += 1
                try:
                    return await self._new_connection(origin, timeouts, request)
                except BaseException:
                    self._release_slot()
                    raise
            waiter = _Waiter(origin)
            self._waiters.append(waiter)
            try:
                with _deadline(timeouts.get("pool"), httpx.PoolTimeout, request):
                    await waiter.event.wait()
            except BaseException:
                if waiter.handed is not None:
                    self._checkin(waiter.handed)
                elif waiter.slot:
                    self._release_slot()  # pass it on
                else:
                    self._waiters.remove(waiter)
                raise
            if waiter.handed is not None:
                return waiter.handed
            if waiter.slot:  # ours alone: a newcomer cannot have taken it meanwhile
                try:
                    return await self._new_connection(origin, timeouts, request)
                except BaseException:
                    self._release_slot()
                    raise

    def _take_idle(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        if not stack:
            return None
        now = trio.current_time()
        while stack and now - stack[0].idle_since > self._expiry:
            self._drop(stack.pop(0))
        while stack:
            connection = stack.pop()
            if now - connection.idle_since <= self._expiry and not connection.link.peer_closed():
                return connection
            self._drop(connection)
        return None

    def _evict_idle(self) -> bool:
        """Closes the oldest idle connection of any origin to free a slot."""
        oldest = min(
            (stack[0] for stack in self._idle.values() if stack),
            key=lambda c: c.idle_since,
            default=None,
        )
        if oldest is None:
            return False
        self._idle[oldest.origin].remove(oldest)
        oldest.close()
        self._open -= 1
        return True

    async def _new_connection(
        self, origin: Origin, timeouts: dict[str, float | None], request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        try:
            with _deadline(timeouts.get("connect"), httpx.ConnectTimeout, request):
                link = await self._connect(host, port, tls=scheme == b"https")
        except (*_IO_ERRORS, ssl.SSLError) as exc:
            # trio reports a failed TLS handshake as BrokenResourceError caused by the SSLError
            # that says why (an unknown CA, a wrong host name): name that.
            cause = exc.__cause__ if isinstance(exc, trio.BrokenResourceError) else None
            detail = str(cause or exc) or type(exc).__name__
            raise httpx.ConnectError(detail, request=request) from exc
        return _Connection(origin, link)

    def _checkin(self, connection: _Connection) -> None:
        """A connection whose response was read to the end, ready for the next request."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.origin == connection.origin:
                waiter.handed = connection
                waiter.event.set()
                return
            # The first in line wants another origin: this connection's slot goes to it.
            connection.close()
            waiter.slot = True
            waiter.event.set()
            return
        stack = self._idle.setdefault(connection.origin, [])
        if self._closed or len(stack) >= self._max_idle:
            self._drop(connection)
            return
        connection.idle_since = trio.current_time()
        stack.append(connection)

    def _discard(self, connection: _Connection) -> None:
        if not connection.closed:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._release_slot()

    def _release_slot(self) -> None:
        """A slot is free: it passes to the first in line (and stays counted), so requests are
        served in order and none waits past its pool timeout; with no one waiting it is free."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.slot = True
            waiter.event.set()
        else:
            self._open -= 1

    # -- one exchange --------------------------------------------------------------------------

    async def _read_head(
        self, connection: _Connection, request: httpx.Request, read_timeout: float | None
    ) -> Head:
        buffer = connection.buffer
        while True:
            parsed = parse_head(buffer, request_method=request.method.encode())
            if parsed is not None:
                head, size = parsed
                buffer = buffer[size:]
                if 100 <= head.status < 200 and head.status != 101:
                    continue  # an interim answer (100 Continue, 103 Early Hints)
                connection.buffer = buffer
                return head
            try:
                with _deadline(read_timeout, httpx.ReadTimeout, request):
                    data = bytes(await connection.link.receive(_READ_SIZE))
            except _IO_ERRORS as exc:
                if buffer:
                    raise
                raise _NothingReceived(str(exc) or type(exc).__name__, reset=True) from exc
            if not data:
                message = "Server disconnected without sending a response."
                if not buffer:
                    raise _NothingReceived(message, reset=False)
                raise httpx.RemoteProtocolError(message, request=request)
            buffer += data


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(
        self,
        transport: UpstreamTransport,
        connection: _Connection,
        head: Head,
        request: httpx.Request,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._decoder = BodyDecoder(head.framing, head.length)
        self._keep_alive = head.keep_alive
        self._request = request
        self._read_timeout = read_timeout

    def __aiter__(self) -> AsyncIterator[bytes]:
        # An iterator object, not an async generator: one left unfinished by a caller that
        # stops reading needs no finalizer (the connection is closed by ``aclose``).
        if self._connection is None:
            raise httpx.StreamClosed()
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        if connection is None:
            raise StopAsyncIteration
        decoder = self._decoder
        try:
            while True:
                if connection.buffer:
                    data, connection.buffer = connection.buffer, b""
                elif decoder.done:
                    break
                else:
                    with _deadline(self._read_timeout, httpx.ReadTimeout, self._request):
                        data = bytes(await connection.link.receive(_READ_SIZE))
                    if not data:
                        decoder.eof()
                        break
                # All the payload of one read at once: a chunked SSE stream puts every event in
                # a chunk of its own, and the relay should see the burst as the burst it is.
                pieces = decoder.feed(data)
                if len(pieces) == 1:
                    return pieces[0]
                if pieces:
                    return b"".join(pieces)
        except BaseException as exc:
            self._close()
            if isinstance(exc, _IO_ERRORS):
                message = str(exc) or type(exc).__name__
                raise httpx.ReadError(message, request=self._request) from exc
            if isinstance(exc, ProtocolError):
                raise httpx.RemoteProtocolError(str(exc), request=self._request) from exc
            raise
        self._connection = None
        if self._keep_alive and not decoder.extra:
            self._transport._checkin(connection)
        else:
            self._transport._discard(connection)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        # Not read to its end (or failed): the connection cannot carry another request.
        if self._connection is not None:
            connection, self._connection = self._connection, None
            self._transport._discard(connection)


def _encode(request: httpx.Request, body: bytes) -> bytes:
    headers = request.headers.raw
    if any(name.lower() == b"transfer-encoding" for name, _ in headers):
        # The body was read whole: send it with a length instead.
        headers = [
            (n, v) for n, v in headers if n.lower() not in (b"transfer-encoding", b"content-length")
        ]
        headers.append((b"Content-Length", str(len(body)).encode()))
    try:
        return encode_request(request.method.encode(), request.url.raw_path, headers, body)
    except ValueError as exc:
        raise httpx.LocalProtocolError(str(exc), request=request) from exc


class _deadline:
    """``trio.fail_after`` that raises an httpx timeout; ``None`` means no deadline."""

    __slots__ = ("_error", "_request", "_scope")

    def __init__(
        self, seconds: float | None, error: type[httpx.TimeoutException], request: httpx.Request
    ) -> None:
        self._scope = (
            None if seconds is None else trio.CancelScope(deadline=trio.current_time() + seconds)
        )
        self._error = error
        self._request = request

    def __enter__(self) -> None:
        if self._scope is not None:
            self._scope.__enter__()

    def __exit__(self, *exc_info: object) -> bool:
        if self._scope is None:
            return False
        suppressed = self._scope.__exit__(*exc_info)  # type: ignore[arg-type]
        if self._scope.cancelled_caught:
            raise self._error("timed out", request=self._request)
        return bool(suppressed)
