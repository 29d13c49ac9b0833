"""Who reaches a gateway that has no master key: this machine's clients only, unless
GOMODEL_ALLOW_UNAUTHENTICATED says everyone (docs/security.md, "Without a master key").

The gateway runs on loopback behind an imagined local nginx (TRUSTED_PROXY_HOPS=1), so a client
on another machine is one whose X-Forwarded-For entry is not a loopback address; the official
SDK is the client.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx
import openai
import pytest
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import Config, load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, serve_mock_upstream
from gomodel.usage.record import MemoryUsageSink

REMOTE = {"x-forwarded-for": "203.0.113.7"}  # appended by the proxy: a client elsewhere
LOCAL = {"x-forwarded-for": "127.0.0.1"}
HI = [{"role": "user", "content": "hi"}]


async def _gateway(nursery: trio.Nursery, tmp_path: Path, **env: str) -> tuple[str, MockUpstream]:
    mock = MockUpstream(models=("gpt-4o",))
    upstream = await nursery.start(serve_mock_upstream, mock)
    config = load_config(
        {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": upstream, "TRUSTED_PROXY_HOPS": "1", **env},
        cwd=tmp_path,
    )
    app = GatewayApp(config, usage=MemoryUsageSink())
    url = await nursery.start(partial(serve_gateway, app))
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    return url, mock


def _sdk(url: str, key: str, headers: dict[str, str]) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=url + "/v1", api_key=key, max_retries=0, default_headers=headers
    )


def _chats(mock: MockUpstream) -> int:
    return sum(1 for r in mock.requests if r.path.endswith("/chat/completions"))


async def test_without_a_key_clients_elsewhere_are_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """No GOMODEL_MASTER_KEY: a client on another machine gets 403 on every route but the
    probes, passthrough and admin included, and nothing reaches the provider; a client on this
    machine is served."""
    url, mock = await _gateway(nursery, tmp_path, ENABLE_PASSTHROUGH_ROUTES="true")
    async with _sdk(url, "x", REMOTE) as remote:
        with pytest.raises(openai.PermissionDeniedError) as refused:
            await remote.chat.completions.create(model="gpt-4o", messages=HI)
    assert refused.value.status_code == 403
    assert refused.value.code == "unauthenticated_remote_client"
    assert "GOMODEL_MASTER_KEY" in refused.value.message
    async with httpx.AsyncClient(base_url=url, headers=REMOTE) as client:
        statuses = {
            path: (await client.get(path)).status_code
            for path in (
                "/v1/models",
                "/p/openai/models",
                "/admin/api/v1/usage/summary",
                "/admin/api/v1/auth-keys",
                "/health",
                "/ready",
            )
        }
    assert statuses == {
        "/v1/models": 403,
        "/p/openai/models": 403,
        "/admin/api/v1/usage/summary": 403,
        "/admin/api/v1/auth-keys": 403,
        "/health": 200,
        "/ready": 200,
    }
    assert _chats(mock) == 0 and not [r for r in mock.requests if r.path == "/v1/models"][1:]
    async with _sdk(url, "x", LOCAL) as local:
        answer = await local.chat.completions.create(model="gpt-4o", messages=HI)
    assert answer.choices[0].message.content == "Mock response to: hi"


async def test_allow_unauthenticated_serves_everyone(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """GOMODEL_ALLOW_UNAUTHENTICATED=true is the explicit choice of an open gateway (GOModel's
    behaviour without a key), and the startup log says so."""
    url, _ = await _gateway(nursery, tmp_path, GOMODEL_ALLOW_UNAUTHENTICATED="true")
    async with _sdk(url, "x", REMOTE) as remote:
        answer = await remote.chat.completions.create(model="gpt-4o", messages=HI)
    assert answer.choices[0].message.content == "Mock response to: hi"
    assert "from anyone who can reach it" in caplog.text


async def test_with_a_master_key_the_key_decides(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With a master key, where the client is makes no difference: the key is what counts."""
    url, _ = await _gateway(nursery, tmp_path, GOMODEL_MASTER_KEY="mk")
    async with _sdk(url, "mk", REMOTE) as good:
        answer = await good.chat.completions.create(model="gpt-4o", messages=HI)
    assert answer.choices[0].message.content == "Mock response to: hi"
    async with _sdk(url, "nope", LOCAL) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(model="gpt-4o", messages=HI)


def test_loopback_is_the_default_address() -> None:
    """Without GOMODEL_HOST the gateway listens on 127.0.0.1: reachable from this machine only
    (`gomodel demo` and `gomodel serve` alike; test_cli.py starts the demo that way)."""
    assert Config().host == "127.0.0.1"
    assert Config().allow_unauthenticated is False
