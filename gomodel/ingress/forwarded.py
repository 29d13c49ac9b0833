"""Who the client is, behind proxies we trust (TRUSTED_PROXY_HOPS). Pure.

Each proxy appends the address it received the request from to ``X-Forwarded-For``; only the
last ``hops`` entries were written by proxies we run, so the client is the entry ``hops`` from
the end. Anything before it came from the client and cannot be trusted.
"""

from __future__ import annotations

import ipaddress

from gomodel.ingress.snapshot import Headers, RequestSnapshot

__all__ = ["client_address", "forwarded_client", "is_local_client", "is_loopback"]


def client_address(snapshot: RequestSnapshot, trusted_hops: int) -> str | None:
    """The client's address: the peer's, or the X-Forwarded-For entry ``trusted_hops`` back."""
    return forwarded_client(_host(snapshot.client), snapshot.headers, trusted_hops)


def forwarded_client(peer: str | None, headers: Headers, trusted_hops: int) -> str | None:
    """The client's address given the peer's (``peer``, no port) and the request's headers."""
    if trusted_hops <= 0:
        return peer
    entries = [
        entry.strip()
        for name, value in headers
        if name == b"x-forwarded-for"
        for entry in value.decode("latin-1").split(",")
        if entry.strip()
    ]
    if not entries:
        return peer
    return entries[max(len(entries) - trusted_hops, 0)]


def is_local_client(peer: str | None, headers: Headers, trusted_hops: int) -> bool:
    """Whether the request comes from this machine: the peer is a loopback address and so is
    the client the trusted proxies name. A peer on another machine is never local, whatever
    its ``X-Forwarded-For`` says; no peer address at all (a Unix socket) is."""
    if peer is None:
        return True
    if not is_loopback(peer):
        return False
    return trusted_hops <= 0 or is_loopback(forwarded_client(peer, headers, trusted_hops))


def is_loopback(address: str | None) -> bool:
    """``127.0.0.0/8``, ``::1`` or ``::ffff:127.x.y.z``; anything else (a name, garbage) not."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def _host(peer: str | None) -> str | None:
    return None if peer is None else peer.rsplit(":", 1)[0]
