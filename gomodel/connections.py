"""Client connections as ``gomodel serve`` runs them: a deadline on every write, one on
reading a request head, and a way to cut every connection off at shutdown.

hypercorn's trio worker writes to the client inside a shielded cancel scope with no deadline
(RELIABILITY.md §1.2, §5.2-3): a client that stops reading but keeps its socket open holds the
writing task, its request and its usage row for as long as the kernel keeps the connection, and
a shutdown waits for it forever. Until a request head is complete, hypercorn's only deadline is
the keep-alive timeout (75 s, to suit nginx), so a client can trickle a head for that long on
any number of connections (slowloris). :class:`ClientStream` wraps each accepted stream before
hypercorn's ``TCPServer`` sees it:

* every ``send_all`` must finish within ``send_timeout`` (``CLIENT_SEND_TIMEOUT``); a cancel
  scope *inside* hypercorn's shield still fires. Past it the connection is closed and hypercorn
  gets ``BrokenResourceError``, exactly what a client that vanished gives: the ASGI app receives
  ``http.disconnect``, its sends return, the request ends and leaves its usage row;
* a request head must be complete within ``header_timeout`` (``HEADER_READ_TIMEOUT``) from the
  connection's start, or from the first byte of a later request on a kept-alive connection; past
  it the connection is closed without an answer (as Go's ``ReadHeaderTimeout`` does). hypercorn
  says when a head is complete (``Updated(idle=False)``) and when the connection is idle again
  (``Updated(idle=True)``); :mod:`gomodel.serve` passes both to :meth:`ClientStream.set_idle`;
* :meth:`Connections.cut_off` bounds every write still pending, and every later one, by one
  instant: after the shutdown grace period nothing can keep the process alive.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import trio

from gomodel.config import Config

__all__ = ["ClientStream", "ConnectionLimits", "ConnectionStatistics", "Connections"]


@attrs.frozen
class ConnectionLimits:
    send_timeout: float = 90.0  # one write to the client, seconds
    header_timeout: float = 10.0  # a request head, from its first byte (a connection's start)

    @classmethod
    def from_config(cls, config: Config) -> ConnectionLimits:
        return cls(config.client_send_timeout, config.header_read_timeout)


@attrs.frozen
class ConnectionStatistics:
    open: int  # connections open now
    accepted: int
    send_timeouts: int  # closed because one write took longer than the send timeout
    header_timeouts: int  # closed because a request head did not arrive in time
    cut_off: int  # closed at shutdown with a write still pending


@attrs.define(eq=False)
class Connections:
    """The client connections of one server, and the counters about them."""

    limits: ConnectionLimits = attrs.field(factory=ConnectionLimits)
    cutoff: float = math.inf  # trio clock: no write outlives this instant
    open: set[ClientStream] = attrs.field(factory=set)
    accepted: int = 0
    send_timeouts: int = 0
    header_timeouts: int = 0
    cut: int = 0

    def wrap(self, stream: Any) -> ClientStream:
        """``stream`` (a ``trio.SocketStream``, or any stream with a ``socket``) as hypercorn
        should see it; it counts as open until it is closed."""
        return ClientStream(stream, self)

    def cut_off(self, deadline: float) -> None:
        """Every write pending now, and every later one, ends by ``deadline`` (trio clock)."""
        self.cutoff = min(self.cutoff, deadline)
        for connection in self.open:
            scope = connection._send_scope
            if scope is not None and scope.deadline > self.cutoff:
                scope.deadline = self.cutoff

    def statistics(self) -> ConnectionStatistics:
        return ConnectionStatistics(
            open=len(self.open),
            accepted=self.accepted,
            send_timeouts=self.send_timeouts,
            header_timeouts=self.header_timeouts,
            cut_off=self.cut,
        )


class ClientStream(trio.abc.HalfCloseableStream):
    """One accepted client connection, with the deadlines above. ``socket`` is the underlying
    socket, which hypercorn asks for the peer's and its own address."""

    def __init__(self, stream: Any, connections: Connections) -> None:
        self._stream = stream
        self.socket = stream.socket
        self._connections = connections
        limits = connections.limits
        self._send_timeout = limits.send_timeout
        self._header_timeout = limits.header_timeout
        # A new connection owes its first request head from now.
        self._awaiting_head = True
        self._head_deadline = trio.current_time() + self._header_timeout
        self._send_scope: trio.CancelScope | None = None
        self._closed = False
        connections.open.add(self)
        connections.accepted += 1

    def set_idle(self, idle: bool) -> None:
        """hypercorn's news: ``False`` when a request head is complete, ``True`` when the
        connection waits for the next request (keep-alive), whose first byte starts the header
        deadline again."""
        self._awaiting_head = idle
        self._head_deadline = math.inf

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        deadline = self._head_deadline
        data: bytes | bytearray
        if deadline == math.inf:
            data = await self._stream.receive_some(max_bytes)
        else:
            with trio.move_on_at(deadline) as scope:
                data = await self._stream.receive_some(max_bytes)
            if scope.cancelled_caught:
                self._connections.header_timeouts += 1
                await self._abort()
                # hypercorn closes without an answer on a read timeout (a 400 on a bare EOF).
                raise trio.TooSlowError
        if data and self._awaiting_head and deadline == math.inf:
            self._head_deadline = trio.current_time() + self._header_timeout
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        connections = self._connections
        deadline = min(trio.current_time() + self._send_timeout, connections.cutoff)
        # Inside hypercorn's shielded scope: this scope is the only deadline the write has.
        with trio.CancelScope(deadline=deadline) as scope:
            self._send_scope = scope
            try:
                await self._stream.send_all(data)
            finally:
                self._send_scope = None
        if scope.cancelled_caught:
            if connections.cutoff <= trio.current_time():
                connections.cut += 1
            else:
                connections.send_timeouts += 1
            await self._abort()
            raise trio.BrokenResourceError("the client accepted no data in time")

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        self.forget()
        await self._stream.aclose()

    async def _abort(self) -> None:
        self.forget()
        await trio.aclose_forcefully(self._stream)

    def forget(self) -> None:
        """No longer counted as open (closed, or its handler has ended)."""
        if not self._closed:
            self._closed = True
            self._connections.open.discard(self)
