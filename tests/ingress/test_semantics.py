"""The semantic peek: bad bodies get a 400 naming the field; good ones keep every field."""

from __future__ import annotations

import pytest

from gomodel.errors import InvalidRequest
from gomodel.ingress.semantics import parse_chat

OK = b'"messages":[{"role":"user","content":"hi"}]'


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        (b"", None, "empty"),
        (b"   ", None, "empty"),
        (b"{", None, "invalid request body"),
        (b"[1, 2]", None, "expected a JSON object"),
        (b'"x"', None, "expected a JSON object"),
        (b'{"model": "m", "messages": [], "t": NaN}', None, "invalid request body"),
        (b'{"model": "\\ud800", ' + OK + b"}", None, "invalid request body"),
        (b'{"model": "\xff\xfe", ' + OK + b"}", None, "invalid request body"),
        (b"[" * 5000 + b"]" * 5000, None, "invalid request body"),
        (b'{"model": 1e999, ' + OK + b"}", None, "invalid request body"),
        (b"{" + OK + b"}", "model", "model is required"),
        (b'{"model": "", ' + OK + b"}", "model", "model is required"),
        (b'{"model": 5, ' + OK + b"}", "model", "must be a string"),
        (b'{"model": "m"}', "messages", "messages is required"),
        (b'{"model": "m", "messages": {}}', "messages", "must be an array"),
        (b'{"model": "m", "messages": []}', "messages", "at least one"),
        (b'{"model": "m", "messages": ["hi"]}', "messages[0]", "must be an object"),
        (b'{"model": "m", "messages": [{"content": "x"}]}', "messages[0].role", "role"),
        (b'{"model": "m", "stream": "yes", ' + OK + b"}", "stream", "boolean"),
        (b'{"model": "m", "stream_options": [], ' + OK + b"}", "stream_options", "object"),
        (
            b'{"model": "m", "stream_options": {"include_usage": 1}, ' + OK + b"}",
            "stream_options.include_usage",
            "boolean",
        ),
        (b'{"model": "m", "max_tokens": "12", ' + OK + b"}", "max_tokens", "integer"),
        (b'{"model": "m", "max_tokens": true, ' + OK + b"}", "max_tokens", "integer"),
        (b'{"model": "m", "max_tokens": -1, ' + OK + b"}", "max_tokens", "integer"),
        (b'{"model": "m", "max_tokens": 1e30, ' + OK + b"}", "max_tokens", "integer"),
        (
            b'{"model": "m", "max_tokens": 123456789012345678901234567890, ' + OK + b"}",
            "max_tokens",
            "integer",
        ),
        (b'{"model": "m", "temperature": "hot", ' + OK + b"}", "temperature", "number"),
        (b'{"model": "m", "provider": 3, ' + OK + b"}", "provider", "string"),
    ],
)
def test_bad_bodies(body: bytes, param: str | None, fragment: str) -> None:
    """Each malformed body is a 400 invalid_request_error with the field named."""
    with pytest.raises(InvalidRequest) as info:
        parse_chat(body)
    error = info.value
    assert error.status == 400
    assert error.error_type == "invalid_request_error"
    assert error.param == param
    assert fragment in error.message


def test_good_body_keeps_unknown_fields() -> None:
    """A valid body parses, and fields the gateway does not know are still there."""
    sem = parse_chat(
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,'
        b' "stream_options": {"include_usage": true}, "x_vendor": [1], "max_tokens": 5}'
    )
    assert (sem.model, sem.stream, sem.include_usage, sem.has_stream_options) == (
        "m",
        True,
        True,
        True,
    )
    assert sem.has_max_tokens and not sem.has_temperature
    assert sem.doc["x_vendor"] == [1]
