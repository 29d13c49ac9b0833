"""The client address behind trusted proxies."""

from __future__ import annotations

import pytest

from gomodel.ingress.forwarded import client_address, is_local_client
from gomodel.ingress.snapshot import RequestSnapshot


def _snapshot(*forwarded: bytes) -> RequestSnapshot:
    headers = tuple((b"x-forwarded-for", value) for value in forwarded)
    return RequestSnapshot("GET", "/", b"", headers, b"", "rid", client="10.0.0.5:5555")


@pytest.mark.parametrize(
    ("forwarded", "hops", "expected"),
    [
        ((), 0, "10.0.0.5"),
        ((b"1.2.3.4",), 0, "10.0.0.5"),  # no trusted proxy: the header is the client's word
        ((b"1.2.3.4",), 1, "1.2.3.4"),
        ((b"6.6.6.6, 1.2.3.4",), 1, "1.2.3.4"),  # the client cannot spoof past nginx
        ((b"6.6.6.6, 1.2.3.4, 10.1.1.1",), 2, "1.2.3.4"),
        ((b"6.6.6.6", b"1.2.3.4"), 1, "1.2.3.4"),  # repeated headers read in order
        ((b"1.2.3.4",), 3, "1.2.3.4"),  # fewer entries than hops: the farthest one
        ((), 1, "10.0.0.5"),
    ],
)
def test_client_address(forwarded: tuple[bytes, ...], hops: int, expected: str) -> None:
    """Only the last `hops` X-Forwarded-For entries are trusted."""
    assert client_address(_snapshot(*forwarded), hops) == expected


@pytest.mark.parametrize(
    ("peer", "forwarded", "hops", "local"),
    [
        ("127.0.0.1", (), 0, True),
        ("127.8.9.10", (), 0, True),
        ("::1", (), 0, True),
        ("::ffff:127.0.0.1", (), 0, True),
        (None, (), 0, True),  # no network peer: a Unix socket
        ("10.0.0.5", (), 0, False),
        ("192.168.1.20", (b"127.0.0.1",), 1, False),  # a remote peer cannot claim to be local
        ("::ffff:10.0.0.5", (), 0, False),
        ("127.0.0.1", (b"203.0.113.7",), 0, True),  # no trusted proxy: the header is ignored
        ("127.0.0.1", (b"203.0.113.7",), 1, False),  # a local nginx forwarding a remote client
        ("127.0.0.1", (b"127.0.0.1",), 1, True),  # ... or a local one
        ("127.0.0.1", (b"203.0.113.7, 127.0.0.1",), 1, True),
        ("127.0.0.1", (b"localhost",), 1, False),  # only addresses count
        ("127.0.0.1", (b"not an address",), 1, False),
        ("127.0.0.1", (), 1, True),  # no header: the peer is the client
    ],
)
def test_is_local_client(
    peer: str | None, forwarded: tuple[bytes, ...], hops: int, local: bool
) -> None:
    """Without a master key only this machine's clients are served: the peer and the client the
    trusted proxies name must both be loopback addresses."""
    headers = tuple((b"x-forwarded-for", value) for value in forwarded)
    assert is_local_client(peer, headers, hops) is local
