"""Who is calling: the credential a request presents, and the principal it proves (SPEC §9).

Today the one credential is ``GOMODEL_MASTER_KEY`` as ``Authorization: Bearer <token>``,
compared in constant time. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum
import hmac

import attrs

from gomodel.errors import AuthenticationFailed

__all__ = ["ANONYMOUS", "MASTER", "AuthMethod", "Principal", "check_bearer"]


class AuthMethod(enum.Enum):
    NONE = "none"  # no key is configured: the gateway is open (loopback only by default)
    MASTER_KEY = "master_key"


@attrs.frozen(slots=True)
class Principal:
    """The authenticated caller, as every later stage sees it."""

    method: AuthMethod
    key_id: str | None = None  # a managed key's id
    user_path: str | None = None  # a managed key's user path; it wins over the request header
    allowed_models: tuple[str, ...] | None = None  # None: every model


ANONYMOUS = Principal(AuthMethod.NONE)
MASTER = Principal(AuthMethod.MASTER_KEY)


def check_bearer(authorization: bytes | None, master_key: bytes) -> None:
    """Raise :class:`AuthenticationFailed` unless ``authorization`` carries the master key."""
    if authorization is None:
        raise AuthenticationFailed("missing authorization header")
    if not authorization.startswith(b"Bearer "):
        raise AuthenticationFailed("invalid authorization header format, expected 'Bearer <token>'")
    if not hmac.compare_digest(authorization[7:], master_key):
        raise AuthenticationFailed("invalid master key")
