"""What a client can make the gateway send to a provider, and what comes back (docs/security.md).

The request targets here go over the socket byte for byte (httpx would normalise ``..``), and
the mock upstream records the request line it received.
"""

from __future__ import annotations

from pathlib import Path

import h11
import httpx
import pytest
import trio

from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from tests.app.gateway import MASTER_KEY, UPSTREAM_KEY, Gateway, start_gateway


async def raw_request(
    gw: Gateway,
    method: str,
    target: bytes,
    *,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
) -> tuple[int, bytes]:
    """Send ``target`` exactly as given; the status and body of the answer."""
    url = httpx.URL(gw.url)
    conn = h11.Connection(h11.CLIENT)
    all_headers = [
        ("host", f"{url.host}:{url.port}"),
        ("authorization", f"Bearer {MASTER_KEY}"),
        ("content-length", str(len(body))),
        ("connection", "close"),
        *headers,
    ]
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(url.host, url.port or 80)
        async with stream:
            request = h11.Request(method=method, target=target, headers=all_headers)
            await stream.send_all(conn.send(request) + conn.send(h11.Data(data=body)))
            await stream.send_all(conn.send(h11.EndOfMessage()))
            status, answer = 0, bytearray()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    answer += event.data
                elif isinstance(event, h11.EndOfMessage):
                    return status, bytes(answer)


# target -> what the provider (base path /v1) must see: (path, query), or None for a 400.
PASSTHROUGH_PATHS: list[tuple[bytes, tuple[str, str] | None]] = [
    (b"/p/openai/../../admin", None),
    (b"/p/openai/v1/../../admin", None),
    (b"/p/openai/%2e%2e/%2e%2e/admin", None),
    (b"/p/openai/%2E%2E/models", None),
    (b"/p/openai/.%2e/models", None),
    (b"/p/openai/./models", None),
    (b"/p/openai/models/..", None),
    (b"/p/openai/..%2fadmin", None),
    (b"/p/openai/..%5cadmin", None),
    (b"/p/openai/%252e%252e/admin", None),
    (b"/p/openai/..;/admin", None),
    (b"/p/openai/%u002e%u002e/admin", None),
    (b"/p/openai/%2e%2e%00/admin", None),
    (b"/p/openai/%EF%BC%8E%EF%BC%8E/admin", None),  # fullwidth dots, NFKC ".."
    (b"/p/openai/%ff/admin", None),  # not UTF-8 once decoded
    (b"/p%2fopenai/models", None),
    (b"/p/openai/models%3Flimit=1", ("/v1/models%3Flimit=1", "")),
    (b"/p/openai/models%3flimit=1?after=a", ("/v1/models%3Flimit=1", "after=a")),
    (b"/p/openai/files/f%23x/content", ("/v1/files/f%23x/content", "")),
    (b"/p/openai/models?x=1#frag", ("/v1/models", "x=1%23frag")),
    (b"/p/openai/files/a%25b", ("/v1/files/a%25b", "")),
    (b"/p/openai/files/a%0d%0ab", ("/v1/files/a%0D%0Ab", "")),
    (b"/p/openai/files/a%5Cb", ("/v1/files/a%5Cb", "")),
    (b"/p/openai/files/caf%C3%A9", ("/v1/files/caf%C3%A9", "")),
    (b"/p/openai/files/a%20b", ("/v1/files/a%20b", "")),
    (b"/p/open%61i/v1/models", ("/v1/models", "")),
    (b"/p/openai/models/gpt-4o:generate", ("/v1/models/gpt-4o:generate", "")),
    (b"/p/openai/files/a%2Fb", ("/v1/files/a%2Fb", "")),
]


@pytest.mark.parametrize(("target", "expected"), PASSTHROUGH_PATHS, ids=lambda v: repr(v))
async def test_passthrough_path_stays_under_base(
    gw: Gateway, target: bytes, expected: tuple[str, str] | None
) -> None:
    """A passthrough path reaches the provider under its base path with its segments literal
    (no ``?`` or ``#`` made of ``%3F``/``%23``), or is a 400 that never reaches the provider."""
    gw.mock.script(Reply.json({"ok": True}))
    seen = len(gw.mock.requests)  # the model list the gateway loaded at start
    status, body = await raw_request(gw, "GET", target)
    if expected is None:
        assert status == 400, body
        assert b"invalid_request_error" in body
        assert gw.mock.requests[seen:] == []
    else:
        assert status == 200, body
        [sent] = gw.mock.requests[seen:]
        assert (sent.path, sent.query) == expected


LIFECYCLE_PATHS: list[tuple[str, bytes]] = [
    ("GET", b"/v1/responses/%2e%2e"),
    ("GET", b"/v1/responses/.."),
    ("POST", b"/v1/responses/%2e%2e/cancel"),
    ("GET", b"/v1/responses/resp_1%3Fx=1"),
    ("POST", b"/v1/responses/resp_1%23x/cancel"),
    ("GET", b"/v1/responses/resp_1%2Fcancel"),
    ("DELETE", b"/v1/responses/resp%0d%0a1"),
    ("GET", b"/v1/responses/resp%C3%A9"),
    ("GET", b"/v1/responses/" + b"r" * 200),
]


@pytest.mark.parametrize(("method", "target"), LIFECYCLE_PATHS, ids=lambda v: repr(v))
async def test_lifecycle_id_refused(gw: Gateway, method: str, target: bytes) -> None:
    """A response id that is not letters, digits, ``_`` and ``-`` is a 400; no provider call."""
    seen = len(gw.mock.requests)
    status, body = await raw_request(gw, method, target)
    assert status == 400, body
    assert b"invalid_request_error" in body
    assert gw.mock.requests[seen:] == []


async def test_lifecycle_id_forwarded(gw: Gateway) -> None:
    """A well-formed id still reaches the provider, with the client's query string."""
    gw.mock.script(Reply.json({"id": "resp_A-1", "object": "response"}))
    seen = len(gw.mock.requests)
    status, _ = await raw_request(gw, "GET", b"/v1/responses/resp_A-1?include=x")
    assert status == 200
    [sent] = gw.mock.requests[seen:]
    assert (sent.path, sent.query) == ("/v1/responses/resp_A-1", "include=x")


# -- headers --

REFUSED_REQUEST_HEADERS = {
    "openai-organization": "org-other",
    "openai-project": "proj-other",
    "x-real-ip": "203.0.113.7",
    "x-forwarded-for": "203.0.113.7",
    "x-forwarded-host": "gateway.example",
    "x-forwarded-proto": "https",
    "forwarded": "for=203.0.113.7",
    "true-client-ip": "203.0.113.7",
    "x-goog-api-key": "client-google-key",
    "api-key": "client-azure-key",
    "x-api-key": "client-key",
    "proxy-authorization": "Basic eDp5",
    "cookie": "session=1",
    "x-gomodel-user-path": "/team",
    "x-client-request-id": "client-chosen",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "x-stainless-os": "Linux",
    "x-custom": "anything",
    "http-referer": "https://client.example",
    "user-agent": "client-agent/1.0",
}
ALLOWED_REQUEST_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "openai-beta": "assistants=v2",
    "idempotency-key": "idem-1",
}


async def test_request_headers_allow_list(gw: Gateway) -> None:
    """Only the allow-listed client headers reach the provider; its auth is the gateway's."""
    gw.mock.script(Reply.json({"ok": True}), path="/chat/completions")
    async with httpx.AsyncClient(base_url=gw.url.removesuffix("/v1"), timeout=10) as client:
        response = await client.post(
            "/p/openai/chat/completions",
            content=b'{"model": "gpt-4o"}',
            headers={
                "authorization": f"Bearer {MASTER_KEY}",
                **REFUSED_REQUEST_HEADERS,
                **ALLOWED_REQUEST_HEADERS,
            },
        )
    assert response.status_code == 200, response.text
    sent = gw.mock.requests[-1]
    # the gateway sends its own request id and user agent instead of the client's
    own = {"x-client-request-id", "user-agent"}
    leaked = {name: sent.header(name) for name in REFUSED_REQUEST_HEADERS if name not in own}
    assert leaked == dict.fromkeys(leaked)
    assert sent.header("x-client-request-id") == response.headers["x-request-id"]
    assert (sent.header("user-agent") or "").startswith("gomodel/")
    assert {name: sent.header(name) for name in ALLOWED_REQUEST_HEADERS} == (
        ALLOWED_REQUEST_HEADERS
    )
    assert sent.header("authorization") == f"Bearer {UPSTREAM_KEY}"


async def test_anthropic_sdk_style_request(nursery: trio.Nursery, tmp_path: Path) -> None:
    """An Anthropic SDK request (its version and beta headers, its own x-api-key) works: the
    client's version and beta go through, the key is the gateway's."""
    mock = MockUpstream(models=("claude-sonnet-4",), dialect="anthropic", require_key="ak")
    upstream = await nursery.start(serve_mock_upstream, mock)
    gw = await start_gateway(
        nursery, tmp_path, {"ANTHROPIC_API_KEY": "ak", "ANTHROPIC_BASE_URL": upstream}
    )
    body = {
        "model": "claude-sonnet-4",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}],
    }
    async with httpx.AsyncClient(base_url=gw.url.removesuffix("/v1"), timeout=10) as client:
        response = await client.post(
            "/p/anthropic/v1/messages",
            json=body,
            headers={
                "authorization": f"Bearer {MASTER_KEY}",
                "x-api-key": "sk-ant-client",
                "anthropic-version": "2023-06-01",
                "anthropic-beta": "prompt-caching-2024-07-31",
                "openai-organization": "org-other",
                "x-forwarded-for": "203.0.113.7",
            },
        )
    assert response.status_code == 200, response.text
    sent = mock.requests[-1]
    assert sent.header("x-api-key") == "ak"
    assert sent.header("anthropic-version") == "2023-06-01"
    assert sent.header("anthropic-beta") == "prompt-caching-2024-07-31"
    assert [v for k, v in sent.headers if k == "anthropic-version"] == ["2023-06-01"]
    assert sent.header("openai-organization") is None
    assert sent.header("x-forwarded-for") is None


async def test_response_headers_allow_list(gw: Gateway) -> None:
    """What the provider says about the operator's account (organisation, project, rate
    limits, cookies, its servers) stays behind; content and retry headers come back."""
    refused = {
        "openai-organization": "org-operator",
        "openai-project": "proj-operator",
        "anthropic-organization-id": "org-uuid",
        "x-ratelimit-remaining-requests": "99",
        "x-ratelimit-limit-tokens": "2000000",
        "anthropic-ratelimit-tokens-remaining": "100",
        "set-cookie": "__cf_bm=1",
        "cf-ray": "abc-AMS",
        "operation-location": "https://operator.openai.azure.com/x",
        "x-custom": "kept?",
    }
    allowed = {
        "content-type": "application/json",
        "content-disposition": 'attachment; filename="f.jsonl"',
        "openai-processing-ms": "12",
        "request-id": "req_provider",
        "retry-after": "3",
        "retry-after-ms": "3000",
        "x-should-retry": "false",
    }
    gw.mock.script(
        Reply(
            headers=(
                *refused.items(),
                *allowed.items(),
                ("x-request-id", "req_upstream"),
                ("server", "cloudflare"),
            ),
            body=(b"{}",),
            chunked=False,
        ),
        path="/files/f/content",
    )
    async with gw.http() as client:
        response = await client.get(gw.url.removesuffix("/v1") + "/p/openai/files/f/content")
    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in refused} == dict.fromkeys(refused)
    assert {name: response.headers.get(name) for name in allowed} == allowed
    assert response.headers.get_list("server") != ["cloudflare"]
    assert response.headers.get_list("x-request-id") != ["req_upstream"]
    assert len(response.headers.get_list("x-request-id")) == 1
