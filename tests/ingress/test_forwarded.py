"""The client address behind trusted proxies."""

from __future__ import annotations

import pytest

from gomodel.ingress.forwarded import client_address
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
