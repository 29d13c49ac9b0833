"""An outbound proxy from the environment: the provider's requests go through it."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import trio

from gomodel.config import load_config
from gomodel.providers.client import make_provider


async def _one_shot_server(nursery: trio.Nursery, received: bytearray) -> int:
    async def handler(stream: trio.SocketStream) -> None:
        while b"\r\n\r\n" not in received:
            received.extend(await stream.receive_some(65536))
        await stream.send_all(b'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"data":[]}')

    [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    return int(listener.socket.getsockname()[1])


async def _list_models(tmp_path: Path, base_url: str) -> bytes:
    config = load_config({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": base_url}, cwd=tmp_path)
    provider = make_provider(config.providers[0], config)
    request = provider.build_request(
        "GET", f"{base_url}/models", body=None, request_id=None, stream=False
    )
    response = await provider.send(request)
    body = await response.aread()
    await provider.aclose()
    return body


@pytest.mark.parametrize("excluded", [False, True], ids=["proxied", "no_proxy"])
async def test_http_proxy_from_environment(
    nursery: trio.Nursery, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, excluded: bool
) -> None:
    """With HTTP_PROXY set the request reaches the proxy in absolute form; a host listed in
    NO_PROXY is connected to directly."""
    proxy_saw, direct_saw = bytearray(), bytearray()
    proxy_port = await _one_shot_server(nursery, proxy_saw)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
    if not excluded:
        monkeypatch.delenv("NO_PROXY", raising=False)
        body = await _list_models(tmp_path, "http://upstream.test/v1")
        assert proxy_saw.startswith(b"GET http://upstream.test/v1/models HTTP/1.1\r\n")
    else:
        # A local server as the provider, its address excluded from the proxy.
        direct_port = await _one_shot_server(nursery, direct_saw)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        body = await _list_models(tmp_path, f"http://127.0.0.1:{direct_port}/v1")
        assert direct_saw.startswith(b"GET /v1/models HTTP/1.1\r\n")
        assert not proxy_saw
    assert body == b'{"data":[]}'
    nursery.cancel_scope.cancel()
