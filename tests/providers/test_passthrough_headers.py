"""The passthrough header allow-lists, both ways."""

from __future__ import annotations

import pytest

from gomodel.errors import InvalidRequest
from gomodel.providers.passthrough_headers import request_headers_for, response_headers_for

OWN = [("authorization", "Bearer sk-gw"), ("x-client-request-id", "rid")]


@pytest.mark.parametrize(
    ("provider_type", "name", "kept"),
    [
        ("openai", b"openai-beta", True),
        ("azure", b"openai-beta", True),
        ("groq", b"openai-beta", False),
        ("anthropic", b"openai-beta", False),
        ("anthropic", b"anthropic-version", True),
        ("anthropic", b"anthropic-beta", True),
        ("openai", b"anthropic-beta", False),
        ("vllm", b"content-type", True),
        ("openai", b"idempotency-key", True),
        ("openai", b"openai-organization", False),
        ("openai", b"openai-project", False),
        ("openai", b"x-forwarded-for", False),
        ("openai", b"x-real-ip", False),
        ("openai", b"forwarded", False),
        ("gemini", b"x-goog-api-key", False),
        ("azure", b"api-key", False),
        ("openai", b"authorization", False),
        ("openai", b"host", False),
        ("openai", b"content-length", False),
        ("openai", b"transfer-encoding", False),
        ("openai", b"accept-encoding", False),
        ("openai", b"x-stainless-arch", False),
    ],
)
def test_request_allow_list(provider_type: str, name: bytes, kept: bool) -> None:
    """A client header reaches the provider only when its type's list has it."""
    headers = request_headers_for([(name, b"v")], provider_type, [])
    assert (headers == [(name.decode(), "v")]) is kept


def test_own_headers_added_client_version_wins() -> None:
    """The gateway's auth and request id are always its own; an allowed header the client set
    replaces the gateway's default of the same name."""
    client = [
        (b"authorization", b"Bearer master"),
        (b"x-client-request-id", b"mine"),
        (b"anthropic-version", b"2024-01-01"),
    ]
    own = [*OWN, ("anthropic-version", "2023-06-01")]
    assert request_headers_for(client, "anthropic", own) == [
        ("anthropic-version", "2024-01-01"),
        *OWN,
    ]


def test_connection_named_header_stays() -> None:
    """An allowed header the client marked hop-by-hop in ``Connection`` is not forwarded."""
    client = [(b"connection", b"keep-alive, Idempotency-Key"), (b"idempotency-key", b"k")]
    assert request_headers_for(client, "openai", []) == []


def test_response_allow_list() -> None:
    """Only the listed provider headers come back, lower-cased, values untouched."""
    upstream = [
        (b"Content-Type", b"application/json"),
        (b"Retry-After", b"2"),
        (b"request-id", b"req_1"),
        (b"openai-organization", b"org-operator"),
        (b"x-ratelimit-remaining-tokens", b"10"),
        (b"anthropic-ratelimit-requests-remaining", b"3"),
        (b"anthropic-organization-id", b"uuid"),
        (b"set-cookie", b"a=1"),
        (b"x-request-id", b"upstream"),
        (b"content-length", b"2"),
        (b"content-encoding", b"gzip"),
        (b"connection", b"close"),
    ]
    assert response_headers_for(upstream) == [
        (b"content-type", b"application/json"),
        (b"retry-after", b"2"),
        (b"request-id", b"req_1"),
    ]


def test_a_non_ascii_value_of_a_forwarded_header_is_a_400() -> None:
    """hypercorn passes header bytes above 0x7f through; httpx cannot send them (found by
    tests/app/test_fuzz.py: a 500 before). Headers that stay behind may hold anything."""
    with pytest.raises(InvalidRequest) as refused:
        request_headers_for([(b"content-type", b"application/\xe9")], "openai", [])
    assert (refused.value.status, refused.value.param) == (400, "content-type")
    assert request_headers_for([(b"x-note", b"caf\xe9")], "openai", []) == []
