"""The mock upstream fully in memory: real httpx and httpcore, no sockets.

:class:`MemoryNetworkBackend` is an ``httpcore.AsyncNetworkBackend`` whose ``connect_tcp`` makes a
``trio.testing.memory_stream_pair()`` and serves the far end with the mock's h11 handler. The real
httpcore pool and h11 client run on top, so connection reuse, pooling and closing on cancel are
httpcore's own, and under ``trio.testing.MockClock(autojump_threshold=0)`` every time is exact::

    async with trio.open_nursery() as nursery:
        transport = memory_transport(mock, nursery)
        async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test/v1") as c:
            ...

The host and port are ignored: every connection reaches ``mock``. TLS is a no-op, so
``https://`` base URLs work too.
"""

from __future__ import annotations

import math
import ssl
import typing
from collections.abc import Iterable

import httpcore
import httpx
import trio
import trio.testing

from gomodel.testing._h11server import serve_h11
from gomodel.testing.mock_upstream import MockUpstream

__all__ = ["MemoryNetworkBackend", "memory_transport"]

_READ_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


class _MemoryNetworkStream(httpcore.AsyncNetworkStream):
    """The client end of one in-memory connection, with httpcore's exceptions and timeouts."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self.peer_closed = False  # the mock closed its end: "is_readable" for httpcore

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        try:
            with trio.fail_after(math.inf if timeout is None else timeout):
                return bytes(await self._stream.receive_some(max_bytes))
        except trio.TooSlowError as exc:
            raise httpcore.ReadTimeout(exc) from exc
        except _READ_ERRORS as exc:
            raise httpcore.ReadError(exc) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if not buffer:
            return
        try:
            with trio.fail_after(math.inf if timeout is None else timeout):
                await self._stream.send_all(buffer)
        except trio.TooSlowError as exc:
            raise httpcore.WriteTimeout(exc) from exc
        except _READ_ERRORS as exc:
            raise httpcore.WriteError(exc) from exc

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return self  # no encryption in memory; the connection stays HTTP/1.1

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # httpcore drops an idle pooled connection whose socket is readable: the server
            # closed it. Data the mock sends unasked is not tracked; only its close is.
            return self.peer_closed
        return None


class MemoryNetworkBackend(httpcore.AsyncNetworkBackend):
    """Connects httpcore to ``mock`` over in-memory streams served in ``nursery``.

    ``connect_delay`` is slept before the connection exists (bounded by httpcore's connect
    timeout, which raises ``httpcore.ConnectTimeout``); a connect cancelled during it is not
    recorded by the mock.
    """

    def __init__(
        self, mock: MockUpstream, nursery: trio.Nursery, *, connect_delay: float = 0.0
    ) -> None:
        self._mock = mock
        self._nursery = nursery
        self._connect_delay = connect_delay

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self._connect_delay > 0:
            try:
                with trio.fail_after(math.inf if timeout is None else timeout):
                    await trio.sleep(self._connect_delay)
            except trio.TooSlowError as exc:
                raise httpcore.ConnectTimeout(exc) from exc
        client, server = trio.testing.memory_stream_pair()
        stream = _MemoryNetworkStream(client)
        pump = server.send_stream.close_hook

        def close_hook() -> None:
            stream.peer_closed = True
            if pump is not None:
                pump()

        server.send_stream.close_hook = close_hook
        # Synchronous from here on: the record exists exactly when the connection does.
        self._nursery.start_soon(serve_h11, server, self._mock._accept(), self._mock)
        return stream

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("MemoryNetworkBackend has no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)


def memory_transport(
    mock: MockUpstream,
    nursery: trio.Nursery,
    *,
    connect_delay: float = 0.0,
    max_connections: int = 100,
) -> httpx.AsyncHTTPTransport:
    """An ``httpx.AsyncHTTPTransport`` (HTTP/1.1) whose connections all reach ``mock`` in memory.

    Test-only seam: it replaces the transport's private ``_pool`` (httpx is pinned below 0.29).
    """
    # verify=False: the transport's own pool is discarded, so skip loading CA certificates.
    transport = httpx.AsyncHTTPTransport(http1=True, http2=False, verify=False)
    transport._pool = httpcore.AsyncConnectionPool(
        # Never used for real TLS (start_tls is a no-op); a bare context avoids httpcore
        # loading the CA bundle on every https:// connect.
        ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
        network_backend=MemoryNetworkBackend(mock, nursery, connect_delay=connect_delay),
        http1=True,
        http2=False,
        max_connections=max_connections,
    )
    return transport
