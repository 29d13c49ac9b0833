"""TLS to a provider: an ``ssl.SSLObject`` and two memory BIOs over the raw socket, the parts of
a :class:`~gomodel.providers.links.Link` for ``https``.

``trio.SSLStream`` costs more than the encryption itself on a relay's small messages: every
``send_all`` and ``receive_some`` takes two locks, goes through a retry loop that checkpoints,
and moves data between the BIOs and the socket in several trips (TLS added a fifth to a third
to a request's CPU in the gateway; docs/decisions.md §22). Here:

* ``send_all`` encrypts the whole request and hands the ciphertext to the kernel in one write; a
  request the kernel takes at once returns without yielding, as on plain TCP;
* ``receive`` reads up to 64 KiB of ciphertext at a time and returns every complete record it
  holds, up to ``max_bytes``; it yields only to wait until the socket is readable;
* no locks: the pool drives a connection from one task at a time (send, then read).

Semantics kept from ``SSLStream(https_compatible=True)``: certificate and host name checked by
the context (SNI sent for names); a handshake failure raises the ``ssl.SSLError`` that says why;
the peer hanging up without ``close_notify`` between records is an end of stream (HTTP framing
tells a cut body), in the middle of a record it is :class:`trio.BrokenResourceError`; a send
cancelled halfway leaves the link broken (a torn record cannot be resumed), a cancelled receive
consumes nothing; ``aclose`` sends ``close_notify`` without waiting for the peer's; session
tickets that arrive while the connection is idle do not make it look closed.
"""

from __future__ import annotations

import os
import select
import ssl

import trio

__all__ = ["TLSConnection"]

_READ_SIZE = 64 * 1024 + 1024  # a few full records (16 KiB of payload plus framing each)


class _RecordBoundary:
    """Where the ciphertext stream is between TLS records (5-byte header, then its length):
    at an EOF it tells a peer that hung up between records from one cut in the middle."""

    __slots__ = ("_header", "_left")

    def __init__(self) -> None:
        self._left = 0  # payload bytes of the current record still to come
        self._header = b""  # a header split across reads

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left:
                step = min(self._left, len(view))
                self._left -= step
                view = view[step:]
                continue
            header = self._header + bytes(view[: 5 - len(self._header)])
            view = view[5 - len(self._header) :]
            if len(header) < 5:
                self._header = header
                return
            self._header = b""
            self._left = int.from_bytes(header[3:5], "big")

    @property
    def at_boundary(self) -> bool:
        return not self._left and not self._header


class TLSConnection:
    """One TLS connection over a connected non-blocking socket; after :meth:`handshake` its
    bound methods make the link. The caller closes the socket if the handshake raises
    (``ssl.SSLError`` for a refused certificate or a failed handshake)."""

    __slots__ = (
        "_boundary",
        "_broken",
        "_closed",
        "_eof",
        "_fd",
        "_in",
        "_obj",
        "_out",
        "_poller",
        "_sock",
    )

    def __init__(
        self, sock: trio.socket.SocketType, context: ssl.SSLContext, server_hostname: str
    ) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_hostname=server_hostname)
        self._boundary = _RecordBoundary()
        self._eof = False
        self._broken = False
        self._closed = False
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)

    # -- moving ciphertext ---------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("connection closed")
        if self._broken:
            raise trio.BrokenResourceError("TLS connection broken by an earlier failure")

    async def _flush(self) -> None:
        """Everything the SSL object wrote goes to the socket: one write when the kernel takes
        it (the usual case), else in pieces as it becomes writable."""
        data = self._out.read()
        if not data:
            return
        view = memoryview(data)
        try:
            while True:
                self._check()
                try:
                    view = view[os.write(self._fd, view) :]
                except BlockingIOError:
                    pass
                if not view:
                    return
                await trio.lowlevel.wait_writable(self._fd)
        except BaseException:
            self._broken = True  # part of a record went out: nothing can follow it
            raise

    async def _fill(self) -> None:
        """More ciphertext from the socket (or the end of it) into the incoming BIO."""
        while True:
            self._check()
            try:
                data = os.read(self._fd, _READ_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)
                continue
            if data:
                self._boundary.feed(data)
                self._in.write(data)
            else:
                self._eof = True
                self._in.write_eof()
            return

    # -- the link ------------------------------------------------------------------------------

    async def handshake(self) -> None:
        while True:
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
                continue
            await self._flush()
            return

    async def send_all(self, data: bytes) -> None:
        self._check()
        self._obj.write(data)  # into the memory BIO: never waits
        await self._flush()

    async def receive(self, max_bytes: int) -> bytes:
        obj = self._obj
        while True:
            self._check()
            try:
                data = obj.read(max_bytes)
            except ssl.SSLWantReadError:
                if self._out.pending:  # a post-handshake message to answer (key update)
                    await self._flush()
                await self._fill()
                continue
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLEOFError as exc:
                if not self._boundary.at_boundary:
                    self._broken = True
                    raise trio.BrokenResourceError("TLS record cut short by the peer") from exc
                data = b""  # hung up between records, as some HTTPS servers do
            except ssl.SSLError as exc:
                self._broken = True
                raise trio.BrokenResourceError(str(exc)) from exc
            if not data:  # the end (the ssl module returns b"" for a close_notify)
                self._eof = True
            elif self._in.pending and len(data) < max_bytes:
                data = self._more(data, max_bytes)
            return data

    def _more(self, data: bytes, max_bytes: int) -> bytes:
        """The rest of the records already read, up to ``max_bytes`` in all: one receive per
        burst, not one per 16 KiB record."""
        parts = [data]
        size = len(data)
        while size < max_bytes and self._in.pending:
            try:
                part = self._obj.read(max_bytes - size)
            except ssl.SSLError:
                break  # a partial record, or an error the next receive reports
            if not part:
                break
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def peer_closed(self) -> bool:
        """While idle: did the peer hang up or send data? A readable socket may hold only
        session tickets (TLS 1.3 sends them after the handshake, and a server may send them
        late); those are taken in without counting as data, or every connection would be
        used once."""
        if self._eof or self._closed or self._broken or self._obj.pending():
            return True
        if not self._poller.poll(0) and not self._in.pending:
            return False
        try:
            data = os.read(self._fd, _READ_SIZE)
        except BlockingIOError:
            data = None
        except OSError:
            return True
        if data == b"":
            self._eof = True
            return True
        if data:
            self._boundary.feed(data)
            self._in.write(data)
        try:
            self._obj.read(1)  # data, or b"" for close_notify: either way not reusable
        except ssl.SSLWantReadError:
            return False  # only handshake messages (or part of a record)
        except ssl.SSLError:
            return True
        return True

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    async def aclose(self) -> None:
        """``close_notify``, sent if the kernel takes it at once, then close."""
        if not (self._closed or self._broken):
            try:
                self._obj.unwrap()
            except (ssl.SSLError, ValueError):
                pass  # SSLWantReadError: ours is written, the peer's is not awaited
            try:
                data = self._out.read()
                if data:
                    os.write(self._fd, data)
            except OSError:
                pass
        self.close()
        await trio.lowlevel.checkpoint()
