"""Who the client is, behind proxies we trust (TRUSTED_PROXY_HOPS). Pure.

Each proxy appends the address it received the request from to ``X-Forwarded-For``; only the
last ``hops`` entries were written by proxies we run, so the client is the entry ``hops`` from
the end. Anything before it came from the client and cannot be trusted.
"""

from __future__ import annotations

from gomodel.ingress.snapshot import RequestSnapshot

__all__ = ["client_address"]


def client_address(snapshot: RequestSnapshot, trusted_hops: int) -> str | None:
    """The client's address: the peer's, or the X-Forwarded-For entry ``trusted_hops`` back."""
    if trusted_hops <= 0:
        return _host(snapshot.client)
    entries = [
        entry.strip()
        for name, value in snapshot.headers
        if name == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
        if entry.strip()
    ]
    if not entries:
        return _host(snapshot.client)
    return entries[max(len(entries) - trusted_hops, 0)]


def _host(peer: str | None) -> str | None:
    return None if peer is None else peer.rsplit(":", 1)[0]
