"""Who is calling: the credential a request presents, and the principal it proves (SPEC §9).

Clients present a credential as ``Authorization: Bearer <token>`` or, as the Anthropic SDK
sends it, ``x-api-key: <token>``. The token is the master key (``GOMODEL_MASTER_KEY``, compared
in constant time) or a managed key (:mod:`gomodel.keys`). Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum
import hmac

import attrs

from gomodel.errors import AuthenticationFailed
from gomodel.ingress.snapshot import Headers, header
from gomodel.keys.record import AuthKey

__all__ = ["ANONYMOUS", "MASTER", "AuthMethod", "Principal", "is_master", "presented_token"]


class AuthMethod(enum.Enum):
    NONE = "none"  # no key is configured: the gateway is open (loopback only by default)
    MASTER_KEY = "master_key"
    MANAGED_KEY = "managed_key"


@attrs.frozen(slots=True)
class Principal:
    """The authenticated caller, as every later stage sees it."""

    method: AuthMethod
    key: AuthKey | None = None  # the managed key it presented

    @property
    def key_id(self) -> str | None:
        return None if self.key is None else self.key.id

    @property
    def user_path(self) -> str | None:
        """A managed key's user path: it wins over the request's own header."""
        return None if self.key is None else self.key.user_path


ANONYMOUS = Principal(AuthMethod.NONE)
MASTER = Principal(AuthMethod.MASTER_KEY)


def presented_token(headers: Headers) -> bytes | None:
    """The token the request presents: ``Authorization: Bearer <token>``, else ``x-api-key``.

    ``None`` when it presents none; an ``Authorization`` header of another scheme is a 401."""
    authorization = header(headers, b"authorization")
    if authorization is not None:
        if not authorization.startswith(b"Bearer "):
            raise AuthenticationFailed(
                "invalid authorization header format, expected 'Bearer <token>'"
            )
        return authorization[7:].strip()
    api_key = header(headers, b"x-api-key")
    return api_key.strip() if api_key is not None else None


def is_master(token: bytes | None, master_key: bytes | None) -> bool:
    """Whether ``token`` is the master key (constant time)."""
    if token is None or master_key is None:
        return False
    return hmac.compare_digest(token, master_key)
