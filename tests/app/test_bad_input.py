"""Bad input over real HTTP: a clear OpenAI-style error, never a 500, never an upstream call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, memory_transport
from gomodel.usage.record import MemoryUsageSink
from tests.app.gateway import Gateway, start_gateway
from tests.conftest import VIRTUAL_TIME_ENV

MESSAGES = b'"messages": [{"role": "user", "content": "hi"}]'

BAD_BODIES = [
    ("not-json", b"{model: gpt-4o}", None),
    ("empty", b"", None),
    ("array", b"[]", None),
    ("invalid-utf8", b'{"model": "gpt-4o\xff", ' + MESSAGES + b"}", None),
    ("nan", b'{"model": "gpt-4o", "temperature": NaN, ' + MESSAGES + b"}", None),
    ("infinity", b'{"model": "gpt-4o", "temperature": 1e999, ' + MESSAGES + b"}", None),
    ("lone-surrogate", b'{"model": "gpt-4o\\ud800", ' + MESSAGES + b"}", None),
    ("deep-nesting", b'{"model": "gpt-4o", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None),
    (
        "5000-digit-int",  # past any float: not a JSON number the gateway can read
        b'{"model": "gpt-4o", "max_tokens": 1' + b"0" * 5000 + b", " + MESSAGES + b"}",
        None,
    ),
    (
        "30-digit-int",
        b'{"model": "gpt-4o", "max_tokens": 1' + b"0" * 30 + b", " + MESSAGES + b"}",
        "max_tokens",
    ),
    ("model-type", b'{"model": ["gpt-4o"], ' + MESSAGES + b"}", "model"),
    ("missing-model", b"{" + MESSAGES + b"}", "model"),
    ("messages-type", b'{"model": "gpt-4o", "messages": "hi"}', "messages"),
    ("stream-type", b'{"model": "gpt-4o", "stream": 1, ' + MESSAGES + b"}", "stream"),
    (
        "temperature-type",
        b'{"model": "gpt-4o", "temperature": "1", ' + MESSAGES + b"}",
        "temperature",
    ),
]


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await start_gateway(nursery, tmp_path, {"BODY_SIZE_LIMIT": "1M"})


@pytest.mark.parametrize(
    ("body", "param"), [c[1:] for c in BAD_BODIES], ids=[c[0] for c in BAD_BODIES]
)
async def test_bad_body_is_400(gw: Gateway, body: bytes, param: str | None) -> None:
    """Each malformed body gets 400 invalid_request_error, and the provider sees nothing."""
    async with gw.http() as client:
        response = await client.post(
            "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        health = await client.get(gw.url.removesuffix("/v1") + "/health")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"]
    assert not [r for r in gw.mock.requests if r.path.endswith("/chat/completions")]
    assert health.status_code == 200  # the process is still healthy


async def test_body_over_limit_is_413(gw: Gateway) -> None:
    """A body over BODY_SIZE_LIMIT is 413, whether or not it declared its length."""
    big = b'{"model": "gpt-4o", "pad": "' + b"x" * (1024 * 1024) + b'", ' + MESSAGES + b"}"

    async def chunks() -> Any:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    async with gw.http() as client:
        declared = await client.post("/chat/completions", content=big)
        streamed = await client.post("/chat/completions", content=chunks())
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "body_too_large"
    assert not [r for r in gw.mock.requests if r.path.endswith("/chat/completions")]


async def test_slow_body_is_408(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A body that trickles in past BODY_READ_TIMEOUT is answered 408 at that instant."""
    config = load_config(
        {
            "OPENAI_API_KEY": "k",
            "OPENAI_MODELS": "gpt-4o",
            "BODY_READ_TIMEOUT": "10",
            **VIRTUAL_TIME_ENV,
        },
        cwd=tmp_path,
    )
    mock = MockUpstream()
    sent: list[tuple[float, dict[str, Any]]] = []
    inbox, receive = trio.open_memory_channel[dict[str, Any]](10)

    async def send(message: dict[str, Any]) -> None:
        sent.append((trio.current_time(), message))

    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery),
            usage=MemoryUsageSink(),
        )
        async with app.serving():
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/v1/chat/completions",
                "query_string": b"",
                "headers": [],
            }
            nursery.start_soon(app, scope, receive.receive, send)  # type: ignore[arg-type]
            for _ in range(3):
                await inbox.send({"type": "http.request", "body": b"{", "more_body": True})
                await trio.sleep(4)
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    start = next(m for _, m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408
    assert sent[0][0] == 10.0
    assert not [r for r in mock.requests if r.path.endswith("/chat/completions")]


async def test_no_provider_still_serves(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no provider configured the gateway starts, says which variables to set, is
    healthy and lists no models."""
    app = GatewayApp(load_config({}, cwd=tmp_path), usage=MemoryUsageSink())
    url = await nursery.start(serve_gateway, app)
    async with httpx.AsyncClient(base_url=url) as client:
        health = await client.get("/health")
        models = await client.get("/v1/models")
        chat = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
        )
    assert health.json() == {"status": "ok"}
    assert models.json() == {"object": "list", "data": []}
    assert chat.status_code == 404
    assert chat.json()["error"]["code"] == "model_not_found"
    assert "OPENAI_API_KEY" in caplog.text
    assert "GOMODEL_MASTER_KEY is not set" in caplog.text
