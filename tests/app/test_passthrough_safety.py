"""What a client can make the gateway send to a provider, and what comes back (docs/security.md).

The request targets here go over the socket byte for byte (httpx would normalise ``..``), and
the mock upstream records the request line it received.
"""

from __future__ import annotations

import h11
import httpx
import pytest
import trio

from gomodel.testing import Reply
from tests.app.gateway import MASTER_KEY, Gateway


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
