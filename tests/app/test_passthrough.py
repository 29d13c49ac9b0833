"""/p/{provider}/...: a provider's own API through the gateway's auth, relay and usage."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from tests.app.gateway import MASTER_KEY, UPSTREAM_KEY, Gateway, start_gateway


def _client(gw: Gateway) -> httpx.AsyncClient:
    root = gw.url.removesuffix("/v1")
    return httpx.AsyncClient(
        base_url=root, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=10
    )


async def test_json_call_and_header_filtering(gw: Gateway) -> None:
    """Body and query go verbatim; headers off the allow-list (client credentials, cookies,
    Connection-named ones, unknown ones) stay behind; the provider's key is added; status and
    allowed headers come back (tests/app/test_passthrough_safety.py has the lists)."""
    gw.mock.script(
        Reply.json(
            {"ok": True, "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}},
            status=201,
            headers=[("retry-after-ms", "99"), ("set-cookie", "s=1")],
        ),
        path="/chat/completions",
    )
    body = b'{"model": "gpt-4o",  "messages": [], "weird": 1.50}'
    async with _client(gw) as client:
        response = await client.post(
            "/p/openai/v1/chat/completions?trace=1",
            content=body,
            headers={
                "x-custom": "dropped",
                "idempotency-key": "kept",
                "cookie": "secret=1",
                "x-api-key": "client-key",
                "connection": "x-hop",
                "x-hop": "dropped",
                "content-type": "application/json",
            },
        )
    assert response.status_code == 201
    assert response.headers["retry-after-ms"] == "99"
    assert "set-cookie" not in response.headers
    assert response.headers["x-gomodel-route"] == "passthrough"
    sent = gw.mock.requests[-1]
    assert (sent.path, sent.query, sent.body) == ("/v1/chat/completions", "trace=1", body)
    assert sent.header("authorization") == f"Bearer {UPSTREAM_KEY}"
    assert sent.header("x-custom") is None
    assert sent.header("idempotency-key") == "kept"
    assert sent.header("cookie") is None
    assert sent.header("x-api-key") is None
    assert sent.header("x-hop") is None
    [record] = await gw.records(1)
    assert record.endpoint == "/p/openai/v1/chat/completions"
    assert record.usage is not None and record.usage.total_tokens == 7


async def test_binary_body_both_ways(gw: Gateway) -> None:
    """A binary body reaches the provider and comes back byte for byte."""
    blob = bytes(range(256)) * 40
    gw.mock.script(
        Reply(headers=(("content-type", "application/octet-stream"),), body=(blob,), chunked=False),
        path="/files",
    )
    async with _client(gw) as client:
        response = await client.post(
            "/p/openai/files", content=blob, headers={"content-type": "application/octet-stream"}
        )
    assert response.content == blob
    assert gw.mock.requests[-1].body == blob


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/p/groq/chat/completions", "enabled provider types: openai, anthropic"),
        ("/p/nope/x", "not configured"),
        ("/p/openai/", "endpoint is required"),
        ("/p/openai/v1", "endpoint is required"),
    ],
)
async def test_refused(gw: Gateway, path: str, fragment: str) -> None:
    """Disabled or unknown providers and empty endpoints are a 400 saying what is allowed."""
    async with _client(gw) as client:
        response = await client.post(path, json={})
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]


async def test_upstream_error_in_envelope(gw: Gateway) -> None:
    """An upstream 404 arrives as the OpenAI error envelope."""
    async with _client(gw) as client:
        response = await client.get("/p/openai/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"


async def test_auth_required(gw: Gateway) -> None:
    """Passthrough routes sit behind the gateway's key."""
    async with httpx.AsyncClient(base_url=gw.url.removesuffix("/v1")) as client:
        response = await client.get("/p/openai/models")
    assert response.status_code == 401


async def test_sse_disconnect_closes_upstream(gw: Gateway) -> None:
    """A streamed passthrough call whose client leaves closes the provider connection."""
    gw.mock.stream_gap = 0.05
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 500}], "stream": True}
    async with (
        _client(gw) as client,
        client.stream("POST", "/p/openai/chat/completions", json=body) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data: ")
            if seen == 2:
                break
    conn = gw.mock.requests[-1].connection_id
    with trio.fail_after(5):
        await gw.mock.wait_closed(conn)
    [record] = await gw.records(1)
    assert record.termination.value == "client_disconnect"


async def test_anthropic_messages_usage(nursery: trio.Nursery, tmp_path: Path) -> None:
    """/p/anthropic/v1/messages speaks Anthropic's own API; its usage is recorded."""
    mock = MockUpstream(models=("claude-sonnet-4",), dialect="anthropic", require_key="ak")
    upstream = await nursery.start(serve_mock_upstream, mock)
    gw = await start_gateway(
        nursery, tmp_path, {"ANTHROPIC_API_KEY": "ak", "ANTHROPIC_BASE_URL": upstream}
    )
    body = {
        "model": "claude-sonnet-4",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with _client(gw) as client:
        response = await client.post(
            "/p/anthropic/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "message"
    sent = mock.requests[-1]
    assert sent.header("x-api-key") == "ak"
    assert orjson.loads(sent.body) == body
    [record] = await gw.records(1)
    assert record.provider_type == "anthropic"
    assert record.usage is not None and record.usage.output_tokens == 20
