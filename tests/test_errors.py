"""Upstream errors become gateway errors with the right status, type and message (SPEC §6.3)."""

from __future__ import annotations

import pytest

from gomodel.errors import error_from_upstream

OPENAI_BODY = (
    b'{"error":{"message":"Rate limit reached","type":"requests","param":null,'
    b'"code":"rate_limit_exceeded"}}'
)


@pytest.mark.parametrize(
    ("status", "expected_status", "error_type"),
    [
        (400, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (403, 403, "authentication_error"),
        (404, 404, "not_found_error"),
        (408, 408, "invalid_request_error"),
        (422, 422, "invalid_request_error"),
        (429, 429, "rate_limit_error"),
        (500, 500, "provider_error"),
        (503, 503, "provider_error"),
        (504, 504, "provider_error"),
        (201, 502, "provider_error"),
        (302, 502, "provider_error"),
    ],
)
def test_status_mapping(status: int, expected_status: int, error_type: str) -> None:
    """Each upstream status maps to the gateway status and OpenAI error type of SPEC §6.3."""
    error = error_from_upstream("openai", status, OPENAI_BODY)
    assert (error.status, error.error_type) == (expected_status, error_type)


def test_message_param_code_kept_and_retry_after_forwarded() -> None:
    """The upstream's message and code survive; retry-after travels with a 429."""
    error = error_from_upstream("groq", 429, OPENAI_BODY, retry_after="7")
    assert error.message == "groq: Rate limit reached"
    assert error.code == "rate_limit_exceeded"
    assert error.headers == {"retry-after": "7"}
    assert error.envelope() == {
        "error": {
            "message": "groq: Rate limit reached",
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def test_anthropic_shaped_body() -> None:
    """Anthropic's {"type":"error","error":{"type","message"}} gives its message (the mapping
    by error type is translate.anthropic_response's)."""
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}'
    error = error_from_upstream("anthropic", 400, body)
    assert error.status == 400
    assert error.message == "anthropic: bad"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html><body><h1>502 Bad Gateway</h1><script>x()</script></body></html>", "text/html"),
        (b"\n  <!DOCTYPE html><html>...</html>", ""),
        (b"\x00\x01\x02" * 400, "application/octet-stream"),
    ],
)
def test_html_or_binary_never_relayed(body: bytes, content_type: str) -> None:
    """A load balancer's HTML page (or binary junk) never reaches the client."""
    error = error_from_upstream("openai", 502, body, content_type=content_type)
    assert error.message == "openai returned HTTP 502"
    assert "<" not in error.message


def test_short_plain_text_reason_kept() -> None:
    """A short plain-text body is a useful message and is kept."""
    error = error_from_upstream("ollama", 400, b"model 'x' not found")
    assert error.message == "ollama: model 'x' not found"
