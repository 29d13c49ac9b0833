"""Managed key secrets: how one is made, hashed and shown (SPEC §9). Pure.

A token is ``sk_gom_`` followed by 32 random bytes from :mod:`secrets` in base64url without
padding (43 characters). Storage keeps only the SHA-256 hex digest of the part after the prefix
(as GOModel does, so its databases stay readable) and the redacted form ``sk_gom_...`` + the last
4 characters, which lets an operator tell keys apart. The plaintext exists once: in the answer
to the create request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

import attrs

__all__ = ["MAX_TOKEN_BYTES", "PREFIX", "SECRET_BYTES", "IssuedSecret", "hash_token", "redact"]

PREFIX = "sk_gom_"
SECRET_BYTES = 32
# A token longer than this was not issued here (ours are 50 bytes): it is unknown unhashed.
MAX_TOKEN_BYTES = 512

_PREFIX_BYTES = PREFIX.encode("ascii")


@attrs.frozen(repr=False)
class IssuedSecret:
    """A new key's secret with what storage keeps of it. ``repr`` never shows the value."""

    value: str
    secret_hash: str
    redacted: str

    @classmethod
    def generate(cls) -> IssuedSecret:
        body = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
        value = PREFIX + body.decode("ascii")
        return cls(value, hashlib.sha256(body).hexdigest(), redact(value))

    def __repr__(self) -> str:
        return f"IssuedSecret(redacted={self.redacted!r})"


def hash_token(token: bytes) -> str | None:
    """The stored hash a presented token would have, or ``None`` when it cannot be a managed
    key (no ``sk_gom_`` prefix, nothing after it, or too long), so it needs no lookup at all.
    Surrounding whitespace is ignored, as GOModel trims it."""
    if len(token) > MAX_TOKEN_BYTES:
        return None
    token = token.strip()
    if not token.startswith(_PREFIX_BYTES):
        return None
    body = token[len(_PREFIX_BYTES) :]
    if not body:
        return None
    return hashlib.sha256(body).hexdigest()


def redact(value: str) -> str:
    """``sk_gom_...`` and the last 4 characters (just ``sk_gom_...`` for a short value)."""
    if len(value) <= len(PREFIX) + 4:
        return PREFIX + "..."
    return PREFIX + "..." + value[-4:]
