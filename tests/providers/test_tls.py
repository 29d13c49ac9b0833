"""The transport over TLS, as every hosted provider is reached: verified handshake, the
connection kept alive and reused, a server's hang-up noticed, an untrusted certificate refused;
and the whole gateway trusting a private CA through SSL_CERT_FILE."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest
import trio
import trustme

from gomodel.providers.links import tcp_connector
from gomodel.providers.transport import UpstreamTransport
from gomodel.testing import MockUpstream
from tests.app.gateway import ONE_ATTEMPT, Gateway, start_gateway

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


async def _tls_gateway(nursery: trio.Nursery, tmp_path: Path, ca: trustme.CA) -> Gateway:
    """The whole gateway in front of an in-process mock provider served over TLS for
    "localhost", its certificate issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    mock = MockUpstream(models=("gpt-4o-mini",))
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    tls_listener = trio.SSLListener(listener, context, https_compatible=True)
    nursery.start_soon(trio.serve_listeners, mock.serve_connection, [tls_listener])
    provider = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"https://localhost:{port}/v1"}
    return await start_gateway(nursery, tmp_path, {**ONE_ATTEMPT, **provider}, mock=mock)


CHAT = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_gateway_trusts_a_private_ca_from_ssl_cert_file(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/deployment.md: SSL_CERT_FILE names the CA bundle the gateway verifies providers
    against (instead of certifi's), so a provider behind a private CA is reachable."""
    private = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    private.cert_pem.write_to_path(str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    gateway = await _tls_gateway(nursery, tmp_path, private)
    async with gateway.http() as client:
        with trio.fail_after(30):
            response = await client.post("/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"]
    nursery.cancel_scope.cancel()


async def test_gateway_without_the_ca_answers_a_clear_error(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the CA the handshake is refused: the client gets an OpenAI-style error naming
    the certificate check, not a 500 with a traceback."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    gateway = await _tls_gateway(nursery, tmp_path, trustme.CA())
    async with gateway.http() as client:
        with trio.fail_after(30):
            response = await client.post("/chat/completions", json=CHAT)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_unreachable"
    assert "CERTIFICATE_VERIFY_FAILED" in error["message"]
    assert "Traceback" not in response.text
    nursery.cancel_scope.cancel()
