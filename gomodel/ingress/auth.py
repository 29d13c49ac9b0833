"""Bearer authentication against ``GOMODEL_MASTER_KEY`` (SPEC §9). Pure.

Only ``Authorization: Bearer <token>`` is accepted; the token is compared in constant time.
"""

from __future__ import annotations

import hmac

from gomodel.errors import AuthenticationFailed

__all__ = ["check_bearer"]


def check_bearer(authorization: bytes | None, master_key: bytes) -> None:
    """Raise :class:`AuthenticationFailed` unless ``authorization`` carries the master key."""
    if authorization is None:
        raise AuthenticationFailed("missing authorization header")
    if not authorization.startswith(b"Bearer "):
        raise AuthenticationFailed("invalid authorization header format, expected 'Bearer <token>'")
    if not hmac.compare_digest(authorization[7:], master_key):
        raise AuthenticationFailed("invalid master key")
