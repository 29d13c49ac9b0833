"""What came over the wire, captured once and never mutated.

Every later stage reads the request from a :class:`RequestSnapshot`, so "the body was already
consumed" cannot happen. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Headers", "RequestSnapshot", "asgi_headers", "ensure_request_id", "header"]

# Header names are lower-case bytes, as ASGI delivers them; order and repeats are kept.
Headers = tuple[tuple[bytes, bytes], ...]

# A client-supplied X-Request-ID is reused when it is printable ASCII without spaces, at most
# 128 characters; anything else is replaced, so it is always safe to log and to send upstream.
_REQUEST_ID = re.compile(rb"[!-~]{1,128}")


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of a header (``name`` in lower case), or ``None``."""
    for key, value in headers:
        if key == name:
            return value
    return None


def ensure_request_id(inbound: bytes | None) -> str:
    """Reuse a well-formed inbound request id, otherwise make a new one."""
    if inbound is not None and _REQUEST_ID.fullmatch(inbound):
        return inbound.decode("ascii")
    return str(uuid.uuid4())


@attrs.frozen(slots=True)
class RequestSnapshot:
    method: str
    path: str
    query: bytes
    headers: Headers
    body: bytes
    request_id: str
    client: str | None = None
    received_at: float = 0.0
    # The path as the client sent it, before percent-decoding (ASGI ``raw_path``; None when the
    # server gives none). Paths that go upstream are built from it (gomodel.ingress.paths).
    raw_path: bytes | None = None

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` in lower case), or ``None``."""
        return header(self.headers, name)

    @classmethod
    def from_asgi(
        cls,
        scope: Mapping[str, Any],
        body: bytes,
        request_id: str,
        *,
        received_at: float = 0.0,
        headers: Headers | None = None,
    ) -> RequestSnapshot:
        """``headers``: the scope's, if the caller already made them bytes."""
        client = scope.get("client")
        if headers is None:
            headers = asgi_headers(scope)
        raw_path = scope.get("raw_path")
        return cls(
            method=str(scope["method"]),
            path=str(scope["path"]),
            query=bytes(scope.get("query_string", b"")),
            headers=headers,
            body=body,
            request_id=request_id,
            client=f"{client[0]}:{client[1]}" if isinstance(client, (list, tuple)) else None,
            received_at=received_at,
            raw_path=bytes(raw_path) if raw_path is not None else None,
        )


def asgi_headers(scope: Mapping[str, Any]) -> Headers:
    """The scope's headers as a tuple of byte pairs."""
    return tuple((bytes(k), bytes(v)) for k, v in scope.get("headers", ()))
