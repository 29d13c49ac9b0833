"""How the upstream transport reaches a provider: a :class:`Link` per connection, made by a
:class:`Connector`.

The default connector opens TCP (with TLS for ``https``). On plain TCP the link reads and writes
the file descriptor directly; TLS goes through an ``ssl.SSLObject`` on the same descriptor
(:mod:`gomodel.providers.tls`); the tests' in-memory streams through trio streams
(:func:`stream_link`).
"""

from __future__ import annotations

import os
import select
import ssl
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

import attrs
import httpx
import trio

from gomodel.providers.tls import TLSConnection

__all__ = ["Connector", "Link", "stream_link", "tcp_connector"]


async def _checkpoint_after(close: Callable[[], None]) -> None:
    close()
    await trio.lowlevel.checkpoint()


def _cannot_send_now(data: bytes) -> int:
    return 0


@attrs.frozen
class Link:
    """One connection as the pool sees it: a few functions, so a plain TCP socket can skip
    the layers a TLS or in-memory stream needs."""

    send_all: Callable[[bytes], Awaitable[None]]
    receive: Callable[[int], Awaitable[bytes | bytearray]]
    """At most ``n`` bytes; ``b""`` at end of stream."""
    peer_closed: Callable[[], bool]
    """While idle: the peer hung up or sent something unasked (either way, unusable)."""
    close: Callable[[], None]
    """Closes at once, without a goodbye; safe to call twice."""
    try_send: Callable[[bytes], int] = _cannot_send_now
    """Sends what the kernel takes without waiting; returns how many bytes that was."""
    aclose: Callable[[], Awaitable[None]] | None = None
    """A graceful close for an idle connection, if the link has one."""


def stream_link(
    stream: trio.abc.Stream, peer_closed: Callable[[], bool], close: Callable[[], None]
) -> Link:
    """A link over any trio stream (TLS, in-memory)."""
    return Link(stream.send_all, stream.receive_some, peer_closed, close, aclose=stream.aclose)


def _socket_link(stream: trio.SocketStream) -> Link:
    """Plain TCP: reads and writes go to the file descriptor directly.

    ``trio.SocketStream`` makes every send and receive a full scheduling checkpoint; on a relay
    that is several trips through the run loop per request. Here a send the kernel takes at
    once (a request is a few kB) returns without yielding, and a receive yields only to wait
    until the socket is readable. ``close`` goes through trio's socket so that a task waiting on
    the descriptor is woken, and the descriptor is never touched after it is closed.
    """
    sock = stream.socket
    fd = sock.fileno()
    closed = False

    def try_send(data: bytes) -> int:
        if closed:
            raise trio.ClosedResourceError("connection closed")
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0

    async def send_all(data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = try_send(view)  # type: ignore[arg-type]
            view = view[sent:]
            if view:
                await trio.lowlevel.wait_writable(fd)

    async def receive(max_bytes: int) -> bytes:
        while True:
            if closed:
                raise trio.ClosedResourceError("connection closed")
            try:
                return os.read(fd, max_bytes)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(fd)

    poller = select.poll()
    poller.register(fd, select.POLLIN)

    def close() -> None:
        nonlocal closed
        closed = True
        sock.close()

    return Link(
        send_all,
        receive,
        lambda: bool(poller.poll(0)),
        close,
        try_send=try_send,
        aclose=partial(_checkpoint_after, close),
    )


class Connector(Protocol):
    async def __call__(self, host: str, port: int, *, tls: bool) -> Link: ...


class _TCPConnector:
    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context

    async def __call__(self, host: str, port: int, *, tls: bool) -> Link:
        stream = await trio.open_tcp_stream(host, port)
        if not tls:
            return _socket_link(stream)
        sock = stream.socket
        if self._ssl_context is None:  # loading the CA bundle costs ms: only when needed
            self._ssl_context = httpx.create_ssl_context()
        conn = TLSConnection(sock, self._ssl_context, host)
        try:
            await conn.handshake()
        except BaseException:
            sock.close()
            raise
        return Link(conn.send_all, conn.receive, conn.peer_closed, conn.close, aclose=conn.aclose)


def tcp_connector(ssl_context: ssl.SSLContext | None = None) -> Connector:
    """TCP, with TLS for ``https`` (verified against ``ssl_context``; by default httpx's:
    the file ``SSL_CERT_FILE`` names, else the directory ``SSL_CERT_DIR`` names, else
    certifi's CA bundle; loaded at the first TLS connection)."""
    return _TCPConnector(ssl_context)
