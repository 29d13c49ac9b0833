"""The mock upstream fully in memory: the gateway's real transport, no sockets.

:class:`MemoryConnector` is a :class:`gomodel.providers.transport.Connector` that makes a
``trio.testing.memory_stream_pair()`` per connection and serves the far end with the mock's h11
handler. The gateway's own pool and HTTP/1.1 framing run on top, so connection reuse, pooling and
closing on cancel are exactly what production does, and under
``trio.testing.MockClock(autojump_threshold=0)`` every time is exact::

    async with trio.open_nursery() as nursery:
        transport = memory_transport(mock, nursery)
        async with httpx.AsyncClient(transport=transport, base_url="http://upstream.test/v1") as c:
            ...

The host and port are ignored: every connection reaches ``mock``. TLS is a no-op, so
``https://`` base URLs work too.
"""

from __future__ import annotations

import trio
import trio.testing

from gomodel.providers.links import Link, stream_link
from gomodel.providers.transport import UpstreamTransport
from gomodel.testing._h11server import serve_h11
from gomodel.testing.mock_upstream import MockUpstream

__all__ = ["MemoryConnector", "memory_transport"]


class MemoryConnector:
    """Connects the transport to ``mock`` over in-memory streams served in ``nursery``.

    ``connect_delay`` is slept before the connection exists (bounded by the transport's connect
    timeout, which raises ``httpx.ConnectTimeout``); a connect cancelled during it is not
    recorded by the mock.
    """

    def __init__(
        self, mock: MockUpstream, nursery: trio.Nursery, *, connect_delay: float = 0.0
    ) -> None:
        self._mock = mock
        self._nursery = nursery
        self._connect_delay = connect_delay

    async def __call__(self, host: str, port: int, *, tls: bool) -> Link:
        if self._connect_delay > 0:
            await trio.sleep(self._connect_delay)
        client, server = trio.testing.memory_stream_pair()
        peer_closed = False
        pump = server.send_stream.close_hook

        def close_hook() -> None:
            nonlocal peer_closed
            peer_closed = True  # the mock closed its end: unusable once idle
            if pump is not None:
                pump()

        def close() -> None:
            client.send_stream.close()
            client.receive_stream.close()

        server.send_stream.close_hook = close_hook
        # Synchronous from here on: the record exists exactly when the connection does.
        self._nursery.start_soon(serve_h11, server, self._mock._accept(), self._mock)
        # Data the mock sends unasked is not tracked; only its close is.
        return stream_link(client, lambda: peer_closed, close)


def memory_transport(
    mock: MockUpstream,
    nursery: trio.Nursery,
    *,
    connect_delay: float = 0.0,
    max_connections: int = 100,
) -> UpstreamTransport:
    """The gateway's upstream transport (HTTP/1.1) with every connection reaching ``mock``."""
    return UpstreamTransport(
        connector=MemoryConnector(mock, nursery, connect_delay=connect_delay),
        max_connections=max_connections,
    )
