"""The upstream request is built without httpx's ``content=`` path (docs/benchmarks.md), and is
the same request that path would build: what the provider receives must not change."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gomodel.config import load_config
from gomodel.providers.client import Provider, make_provider


@pytest.fixture
def provider() -> Provider:
    config = load_config({"OPENAI_API_KEY": "k"}, cwd="/")
    return make_provider(config.providers[0], config, lambda _: httpx.AsyncHTTPTransport())


CASES: list[tuple[str, str, list[tuple[Any, Any]], bytes | None]] = [
    ("POST", "http://up.test/v1/chat/completions", [("authorization", "Bearer k")], b'{"a":1}'),
    ("post", "http://up.test:8080/v1/x", [("content-type", "application/json")], b""),
    ("POST", "http://up.test/v1/x", [], None),
    ("GET", "https://up.test/v1/models", [("accept", "application/json")], None),
    ("PUT", "http://up.test/x", [(b"Host", b"other.test"), (b"User-Agent", b"me")], b"1"),
    ("POST", "http://up.test/x", [("Content-Length", "3"), (b"x-a", "é".encode())], b"abc"),
    ("POST", "http://up.test/x", [("transfer-encoding", "chunked")], b"abc"),
    ("POST", "http://up.test/x", [("transfer-encoding", "chunked")], None),
    ("DELETE", "http://[::1]:9/x?q=1", [], None),
]


@pytest.mark.parametrize(("method", "url", "headers", "body"), CASES)
def test_same_request_as_httpx_content_form(
    provider: Provider, method: str, url: str, headers: list[tuple[Any, Any]], body: bytes | None
) -> None:
    ours = provider.request(method, url, headers=list(headers), body=body)
    expected_headers = list(headers)
    if not any(list(httpx.Headers([(n, v)])) == ["user-agent"] for n, v in headers):
        expected_headers.append(("user-agent", ours.headers["user-agent"]))
    theirs = httpx.Request(method, url, headers=expected_headers, content=body)
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    assert ours.headers.raw == theirs.headers.raw
    assert ours.content == theirs.content
    assert ours.extensions["timeout"] == provider.timeouts
