"""Who may read the metrics (docs/observability.md, "Access").

* ``Authorization: Bearer <METRICS_TOKEN>`` or ``Bearer <GOMODEL_MASTER_KEY>``: a scraper gets
  its own token, so Prometheus never holds the key that runs the whole gateway. Managed keys
  never can (they are clients, and the series name other clients' keys and models).
* With neither token configured, only clients on the loopback interface (the peer address, not
  ``X-Forwarded-For``): the metrics are never open to the network by accident.

Tokens are compared in constant time. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence

from gomodel.errors import AuthenticationFailed, PermissionDenied

__all__ = ["check_metrics_access"]


def check_metrics_access(
    authorization: bytes | None, peer: str | None, tokens: Sequence[bytes]
) -> None:
    """Raise unless the request may read the metrics. ``peer`` is ``host:port``."""
    if not tokens:
        if not _loopback(peer):
            raise PermissionDenied(
                "metrics are served only to loopback clients unless METRICS_TOKEN or "
                "GOMODEL_MASTER_KEY is set",
                code="metrics_forbidden",
            )
        return
    if authorization is None:
        raise AuthenticationFailed("missing authorization header")
    if not authorization.startswith(b"Bearer "):
        raise AuthenticationFailed("invalid authorization header format, expected 'Bearer <token>'")
    presented = authorization[7:]
    # Compare with every token, so the time taken says nothing about which one matched.
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(presented, token)
    if not matched:
        raise AuthenticationFailed("invalid metrics token", code="invalid_metrics_token")


def _loopback(peer: str | None) -> bool:
    if not peer:
        return False
    host = peer.rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
