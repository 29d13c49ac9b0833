"""X-GoModel-User-Path normalisation."""

from __future__ import annotations

import pytest

from gomodel.errors import InvalidRequest
from gomodel.ingress.user_path import normalize_user_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "/"),
        (b"", "/"),
        (b"  team/a ", "/team/a"),
        (b"/team//a/", "/team/a"),
        (b"///", "/"),
    ],
)
def test_normalised(raw: bytes | None, expected: str) -> None:
    """Leading slash added, empty segments and surrounding blanks dropped."""
    assert normalize_user_path(raw) == expected


@pytest.mark.parametrize("raw", [b"/a/../b", b"/./a", b"/a:b", b"/caf\xc3\xa9", b"/a\x01"])
def test_rejected(raw: bytes) -> None:
    """Dot segments, colons and non-ASCII are a 400 naming the header."""
    with pytest.raises(InvalidRequest) as info:
        normalize_user_path(raw)
    assert info.value.param == "X-GoModel-User-Path"
