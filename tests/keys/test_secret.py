"""Managed key secrets: GOModel's token format, stored hash and redacted form (SPEC §9)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from gomodel.keys.secret import PREFIX, IssuedSecret, hash_token, redact


def test_token_format_hash_and_redaction_match_gomodel() -> None:
    """sk_gom_ + unpadded base64url of 32 bytes; hash = SHA-256 hex of the part after the
    prefix; redacted = sk_gom_... + the last 4 characters."""
    issued = IssuedSecret.generate()
    assert re.fullmatch(r"sk_gom_[A-Za-z0-9_-]{43}", issued.value)
    body = issued.value.removeprefix(PREFIX)
    assert len(base64.urlsafe_b64decode(body + "=")) == 32
    assert issued.secret_hash == hashlib.sha256(body.encode()).hexdigest()
    assert issued.redacted == "sk_gom_..." + issued.value[-4:]
    assert hash_token(issued.value.encode()) == issued.secret_hash
    assert hash_token(f" {issued.value}\t".encode()) == issued.secret_hash  # trimmed, as GOModel


def test_tokens_are_unique() -> None:
    """Every generated token is new (32 bytes from the secrets module)."""
    assert len({IssuedSecret.generate().value for _ in range(200)}) == 200


def test_repr_never_shows_the_secret() -> None:
    """Logging or printing an issued secret shows only its redacted form."""
    issued = IssuedSecret.generate()
    assert issued.value not in repr(issued)
    assert issued.value.removeprefix(PREFIX) not in repr(issued)
    assert issued.redacted in repr(issued)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        b"sk_gom_",
        b" sk_gom_ ",
        b"sk-gom_abc",
        b"Bearer sk_gom_abc",
        b"gw-master-key",
        b"sk_gom_" + b"a" * 600,
    ],
)
def test_tokens_that_cannot_be_managed_keys_have_no_hash(token: bytes) -> None:
    """No prefix, nothing after it, or absurdly long: unknown without a lookup."""
    assert hash_token(token) is None


def test_redact_short_values() -> None:
    """A value too short to show 4 characters of shows none."""
    assert redact("sk_gom_ab") == "sk_gom_..."
    assert redact("sk_gom_abcdefgh") == "sk_gom_...efgh"
