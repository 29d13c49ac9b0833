"""The transport over TLS, as every hosted provider is reached: verified handshake, the
connection kept alive and reused, a server's hang-up noticed, an untrusted certificate refused."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial

import httpx
import pytest
import trio
import trustme

from gomodel.providers.links import tcp_connector
from gomodel.providers.transport import UpstreamTransport

BODY = b'{"object":"list","data":[]}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _serve_tls(
    nursery: trio.Nursery, ca: trustme.CA, *, requests_per_connection: int
) -> tuple[int, list[int]]:
    """A TLS server for "localhost" answering each request; it hangs up after the given number
    of requests on a connection. Returns its port and the request count of every connection."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    connections: list[int] = []

    async def handler(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, context, server_side=True)
        connections.append(0)
        index = len(connections) - 1
        buffer = b""
        try:
            while connections[index] < requests_per_connection:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                connections[index] += 1
                await stream.send_all(ANSWER)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        finally:
            await trio.aclose_forcefully(stream)

    [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listener.socket.getsockname()[1]), connections


def _client(ca: trustme.CA) -> Callable[[], httpx.AsyncClient]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return lambda: httpx.AsyncClient(transport=UpstreamTransport(connector=tcp_connector(context)))


async def test_tls_connection_is_verified_and_reused(nursery: trio.Nursery, ca: trustme.CA) -> None:
    port, connections = await _serve_tls(nursery, ca, requests_per_connection=100)
    async with _client(ca)() as client:
        with trio.fail_after(30):
            for _ in range(3):
                response = await client.get(f"https://localhost:{port}/v1/models")
                assert response.content == BODY
    assert connections == [3]  # one handshake, three requests


async def test_tls_hang_up_while_idle_is_noticed(nursery: trio.Nursery, ca: trustme.CA) -> None:
    """The server closes each connection after one answer: the next request must not be sent
    on the dead connection (no error), but on a new one."""
    port, connections = await _serve_tls(nursery, ca, requests_per_connection=1)
    async with _client(ca)() as client:
        with trio.fail_after(30):
            for _ in range(3):
                response = await client.get(f"https://localhost:{port}/v1/models")
                assert response.content == BODY
                await trio.sleep(0.05)  # let the server's close arrive
    assert connections == [1, 1, 1]


async def test_untrusted_certificate_is_a_connect_error(nursery: trio.Nursery) -> None:
    port, _ = await _serve_tls(nursery, trustme.CA(), requests_per_connection=1)
    other = trustme.CA()
    async with _client(other)() as client:
        with trio.fail_after(30), pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"):
            await client.get(f"https://localhost:{port}/v1/models")
