"""The mock upstream's HTTP/1.1 server side: h11 over any ``trio.abc.Stream``.

One connection runs two tasks in its own nursery:

* the **reader** keeps calling ``receive_some`` for the whole life of the connection, even while
  a response is being written or a script is sleeping. The moment it gets ``b""`` or a broken or
  closed stream, it records ``closed_by="client"`` at ``trio.current_time()`` and cancels the
  connection. This is what lets tests measure *at the provider's socket* when a gateway let go.
* the **responder** takes requests off the h11 state machine, asks the upstream for a
  :class:`~gomodel.testing.Reply` and plays its steps; keep-alive serves several requests in turn.

When the responder ends the connection (``Close``/``Reset`` steps, ``Connection: close``, bytes
it cannot parse) the record says ``closed_by="server"``.
"""

from __future__ import annotations

import http
import socket
import struct
from typing import Any, Literal, Protocol

import attrs
import h11
import orjson
import trio

from gomodel.testing._reply import Close, Reply, Reset, Silence, Sleep, Truncate

__all__ = ["ConnectionRecord", "RecordedRequest", "serve_h11"]

_READ_SIZE = 65536
_FRAMING = frozenset({"content-length", "transfer-encoding"})


@attrs.frozen
class RecordedRequest:
    """One request as the mock upstream received it."""

    method: str
    path: str  # without the query string
    query: str
    headers: tuple[tuple[str, str], ...]  # (lowercased name, value)
    body: bytes
    json: Any  # the parsed body, or None when it is not JSON
    received_at: float  # trio.current_time() once the whole request was in
    connection_id: int

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)


@attrs.define
class ConnectionRecord:
    """One TCP (or in-memory) connection to the mock upstream."""

    id: int
    opened_at: float
    closed_at: float | None = None
    closed_by: Literal["client", "server"] | None = None
    requests: int = 0


class Upstream(Protocol):
    """What the connection handler needs from :class:`~gomodel.testing.MockUpstream`."""

    def _reply_to(self, request: RecordedRequest) -> Reply: ...

    def _changed(self) -> None: ...


class _HangUp(Exception):
    def __init__(self, *, reset: bool) -> None:
        super().__init__("hang up")
        self.reset = reset


async def serve_h11(stream: trio.abc.Stream, record: ConnectionRecord, upstream: Upstream) -> None:
    """Serve HTTP/1.1 on ``stream`` until either side closes it; keep ``record`` up to date."""
    connection = _Connection(stream, record, upstream)
    try:
        async with trio.open_nursery() as nursery:
            connection.scope = nursery.cancel_scope
            nursery.start_soon(connection.read_loop)
            nursery.start_soon(connection.respond_loop)
    finally:
        connection.mark_closed("server")
        await trio.aclose_forcefully(stream)


class _Connection:
    def __init__(
        self, stream: trio.abc.Stream, record: ConnectionRecord, upstream: Upstream
    ) -> None:
        self.stream = stream
        self.record = record
        self.upstream = upstream
        self.h11 = h11.Connection(h11.SERVER)
        self.scope = trio.CancelScope()
        self._arrived = trio.Event()

    def mark_closed(self, by: Literal["client", "server"]) -> None:
        if self.record.closed_at is None:
            self.record.closed_at = trio.current_time()
            self.record.closed_by = by
            self.upstream._changed()

    async def read_loop(self) -> None:
        while True:
            try:
                data = await self.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if not data:
                self.mark_closed("client")
                self.scope.cancel()
                return
            self.h11.receive_data(bytes(data))
            self._arrived.set()
            self._arrived = trio.Event()

    async def respond_loop(self) -> None:
        try:
            while True:
                request = await self._receive_request()
                self.record.requests += 1
                await self._send_reply(self.upstream._reply_to(request), request.method)
                if self.h11.our_state is h11.MUST_CLOSE:
                    raise _HangUp(reset=False)
                self.h11.start_next_cycle()
        except _HangUp as hangup:
            if hangup.reset and isinstance(self.stream, trio.SocketStream):
                self.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.mark_closed("server")
            await trio.aclose_forcefully(self.stream)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.mark_closed("client")
        self.scope.cancel()

    async def _next_event(self) -> h11.Event:
        while True:
            arrived = self._arrived
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                raise _HangUp(reset=False) from None  # bytes we cannot parse: just close
            if event is h11.NEED_DATA:
                await arrived.wait()
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                raise _HangUp(reset=False)  # not reached: EOF goes to the reader, never to h11
            else:
                assert isinstance(event, h11.Event)
                return event

    async def _receive_request(self) -> RecordedRequest:
        head = await self._next_event()
        if not isinstance(head, h11.Request):
            raise _HangUp(reset=False)
        body = bytearray()
        while not isinstance(event := await self._next_event(), h11.EndOfMessage):
            if isinstance(event, h11.Data):
                body += event.data
        path, _, query = head.target.decode("ascii").partition("?")
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = None
        return RecordedRequest(
            method=head.method.decode("ascii"),
            path=path,
            query=query,
            headers=tuple((k.decode("ascii"), v.decode("latin-1")) for k, v in head.headers),
            body=bytes(body),
            json=parsed,
            received_at=trio.current_time(),
            connection_id=self.record.id,
        )

    async def _send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            await self.stream.send_all(data)

    async def _send_reply(self, reply: Reply, method: str) -> None:
        if reply.headers_delay > 0:
            await trio.sleep(reply.headers_delay)
        headers = list(reply.headers)
        if not any(name.lower() in _FRAMING for name, _ in headers):
            if reply.chunked:
                headers.append(("transfer-encoding", "chunked"))
            else:
                length = sum(len(step) for step in reply.body if isinstance(step, bytes))
                headers.append(("content-length", str(length)))
        try:
            reason = http.HTTPStatus(reply.status).phrase
        except ValueError:
            reason = ""
        await self._send(h11.Response(status_code=reply.status, headers=headers, reason=reason))
        for step in reply.body:
            if isinstance(step, bytes):
                if step and method != "HEAD":
                    await self._send(h11.Data(data=step))
            elif isinstance(step, Sleep):
                await trio.sleep(step.seconds)
            elif isinstance(step, Silence):
                await trio.sleep_forever()
            elif isinstance(step, Close | Reset):
                raise _HangUp(reset=isinstance(step, Reset))
            elif isinstance(step, Truncate):
                half = step.data[: len(step.data) // 2]
                size = f"{len(step.data):x}\r\n".encode() if reply.chunked else b""
                await self.stream.send_all(size + half)  # past h11: a frame it would not send
                raise _HangUp(reset=False)
        await self._send(h11.EndOfMessage())
