"""Redaction: secret headers by name, configured secrets and gateway keys anywhere in text, and
a body cap that cannot leave half a secret behind."""

from __future__ import annotations

import orjson
import pytest

from gomodel.audit.redact import REDACTED, SECRET_HEADERS, Redactor

KEY = "sk-proj-Abc123/def456"
R = Redactor([KEY, "short", "gw-master-key-0001"])


@pytest.mark.parametrize("name", sorted(SECRET_HEADERS))
def test_secret_headers_by_name(name: str) -> None:
    flat = R.headers([(name.upper().encode(), b"anything at all"), (b"accept", b"*/*")])
    assert flat == {name: REDACTED, "accept": "*/*"}


def test_secrets_anywhere_in_text() -> None:
    text = f"key={KEY}; json escaped: {orjson.dumps(KEY).decode()}; gw sk_gom_{'x' * 43}; short"
    out = R.text(text)
    assert KEY not in out and "sk_gom_" not in out
    assert out.count(REDACTED) == 3 and out.endswith("; short")  # 5 characters: not a secret
    assert R.headers([(b"x-custom", f"Bearer {KEY}".encode())]) == {
        "x-custom": f"Bearer {REDACTED}"
    }


def test_repeated_headers_joined() -> None:
    assert R.headers([(b"X-A", b"1"), (b"x-a", b"2")]) == {"x-a": "1, 2"}


def test_whole_json_body_parsed_and_redacted() -> None:
    body = R.body(orjson.dumps({"messages": [{"content": f"my key {KEY}"}]}), cap=1024)
    assert body.value == {"messages": [{"content": f"my key {REDACTED}"}]}
    assert not body.truncated


@pytest.mark.parametrize("cut", range(990, 1030))
def test_cap_never_leaves_part_of_a_secret(cut: int) -> None:
    """Wherever the cap falls relative to the key, not even its first 5 characters remain."""
    raw = ("a" * (cut - 5) + KEY + "b" * 2000).encode()
    body = R.body(raw, cap=1000)
    assert body.truncated and body.size == len(raw)
    assert len(body.value.encode()) <= 1000
    assert KEY[:5] not in body.value


def test_invalid_utf8_and_not_json_kept_as_text() -> None:
    body = R.body(b"\xff\xfeplain", cap=100)
    assert isinstance(body.value, str) and body.value.endswith("plain")
