"""Client paths that become provider paths: the segment rule and the re-encoding."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, unquote_to_bytes

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gomodel.errors import InvalidRequest
from gomodel.ingress.paths import (
    passthrough_path,
    request_segments,
    response_path,
    upstream_query,
)


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        (b"/p/openai/chat/completions", ("p", "openai", "chat", "completions")),
        (b"/p/open%61i/a%2Fb", ("p", "openai", "a/b")),
        (b"/p/x/a%3Fb%23c%25d", ("p", "x", "a?b#c%d")),
        (b"/p/x/caf%C3%A9", ("p", "x", "café")),
        (b"/p/x//y/", ("p", "x", "", "y", "")),
        (b"/p/x/...", ("p", "x", "...")),
        (b"/p/x/a.b/.c/d.", ("p", "x", "a.b", ".c", "d.")),
        (b"/p/x/y?ignored", ("p", "x", "y")),
    ],
)
def test_segments_decoded_once(raw: bytes, segments: tuple[str, ...]) -> None:
    """Each segment of the raw path is percent-decoded exactly once; empty ones are kept."""
    assert request_segments(raw, "/ignored") == segments


@pytest.mark.parametrize(
    "raw",
    [
        b"/p/x/..",
        b"/p/x/.",
        b"/p/x/%2e%2E",
        b"/p/x/.%2e",
        b"/p/x/%2e",
        b"/p/x/..%2Fy",
        b"/p/x/y%2F..",
        b"/p/x/..%5cy",
        b"/p/x/..;y",
        b"/p/x/y;..",
        b"/p/x/%252e%252e",
        b"/p/x/%25252e%25252e",
        b"/p/x/%2e%2e%00",
        b"/p/x/%2e%00",
        b"/p/x/%20..%09",
        b"/p/x/.%E2%80%8B.",  # a zero-width space between the dots
        b"/p/x/%EF%BC%8E%EF%BC%8E",  # fullwidth full stops
        b"/p/x/%E2%80%A5",  # two dot leader
        b"/p/x/%u002e%u002e",
        b"/p/x/%zz",
        b"/p/x/%2",
        b"/p/x/%ff",
        b"/p/x/%C3",
        b"/p/x/a\x00b",
        b"/p/x/caf\xc3\xa9",
        b"/p/x/a b",
    ],
)
def test_unsafe_segment_refused(raw: bytes) -> None:
    """A dot segment in any disguise, a malformed escape, raw bytes that should have been
    escaped and non-UTF-8 are a 400."""
    with pytest.raises(InvalidRequest) as info:
        request_segments(raw, "/ignored")
    assert info.value.status == 400
    assert info.value.code == "invalid_path"


def test_decoded_path_without_raw_path() -> None:
    """Without ``raw_path`` the decoded ``path`` is used as it is (not decoded again)."""
    assert request_segments(None, "/p/x/a%2e") == ("p", "x", "a%2e")
    with pytest.raises(InvalidRequest):
        request_segments(None, "/p/x/../y")
    assert passthrough_path(None, "/p/x/a?b").upstream_endpoint == "a%3Fb"


@pytest.mark.parametrize(
    ("raw", "provider", "endpoint", "v1"),
    [
        (b"/p/openai/v1/chat/completions", "openai", "chat/completions", True),
        (b"/p/openai/models%3Flimit=1", "openai", "models%3Flimit=1", False),
        (b"/p/openai/files/f%23x/content", "openai", "files/f%23x/content", False),
        (b"/p/openai/a%25b/a%5Cb/a;b/a%0Ab", "openai", "a%25b/a%5Cb/a%3Bb/a%0Ab", False),
        (b"/p/gemini/models/g:generateContent", "gemini", "models/g:generateContent", False),
        (b"/p/openai/caf%c3%a9/%41", "openai", "caf%C3%A9/A", False),
        (b"/p/openai/", "openai", "", False),
        (b"/p/openai/v1", "openai", "", True),
        (b"/p/openai/v1/", "openai", "", True),
        (b"/p/openai//", "openai", "", False),
        (b"/p/openai//models", "openai", "/models", False),
    ],
)
def test_passthrough_endpoint(raw: bytes, provider: str, endpoint: str, v1: bool) -> None:
    """The endpoint under the base URL is the segments after the provider (minus the v1
    alias), each re-encoded; empty when nothing is left."""
    target = passthrough_path(raw, "/ignored")
    assert (target.provider, target.upstream_endpoint, target.v1_alias) == (
        provider,
        endpoint,
        v1,
    )


def test_passthrough_path_recorded_encoded() -> None:
    """The path kept for usage and logs is the client's, re-encoded: no control characters."""
    assert passthrough_path(b"/p/openai/a%0d%0ab", "").path == "/p/openai/a%0D%0Ab"


@pytest.mark.parametrize("raw", [b"/p", b"/x/openai/models", b"/p%2Fopenai/models"])
def test_not_a_passthrough_path(raw: bytes) -> None:
    """Only /p/{provider}/... with a literal (or plainly encoded) ``p`` is one."""
    with pytest.raises(InvalidRequest):
        passthrough_path(raw, "")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", ""),
        (b"a=1&b=2", "?a=1&b=2"),
        (b"a=%23&b=%zz", "?a=%23&b=%zz"),
        (b"a=1#frag", "?a=1%23frag"),
        (b"a=caf\xc3\xa9 \r\n", "?a=caf%C3%A9%20%0D%0A"),
    ],
)
def test_upstream_query(query: bytes, expected: str) -> None:
    """The client's query goes on as sent, except that it cannot start a fragment."""
    assert upstream_query(query) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"/v1/responses/resp_abc-1", ("resp_abc-1", "")),
        (b"/v1/responses/resp_abc-1/", ("resp_abc-1", "")),
        (b"/v1/responses/resp_abc/cancel", ("resp_abc", "cancel")),
        (b"/v1/responses/resp_abc/a/b", ("resp_abc", "a/b")),
        (b"/v1/responses/input_tokens", ("input_tokens", "")),
        (b"/v1/responses/", ("", "")),
        (b"/v1/responses/r%5Fx", ("r_x", "")),
        (b"/v1/responses/" + b"r" * 128, ("r" * 128, "")),
    ],
)
def test_response_path(raw: bytes, expected: tuple[str, str]) -> None:
    """``(id, action)``, the id decoded once."""
    assert response_path(raw, "") == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"/v1/responses/resp%3Fx",
        b"/v1/responses/resp%23x/cancel",
        b"/v1/responses/a%2Fb",
        b"/v1/responses/a.b",
        b"/v1/responses/%2e%2e",
        b"/v1/responses/r%0a",
        b"/v1/responses/caf%C3%A9",
        b"/v1/responses/" + b"r" * 129,
        b"/v1/responses%2Fresp_1",
    ],
)
def test_response_id_refused(raw: bytes) -> None:
    """Anything but letters, digits, ``_`` and ``-`` (up to 128) in an id is a 400."""
    with pytest.raises(InvalidRequest) as info:
        response_path(raw, "")
    assert info.value.status == 400


# -- properties --

BASES = [
    "https://api.example.com/v1",
    "http://127.0.0.1:8080/openai/deployments/d",
    "http://localhost:11434",
]
TRICKY = [
    b"..",
    b".",
    b"%2e",
    b"%2E",
    b"%2f",
    b"%2F",
    b"%3F",
    b"%23",
    b"%25",
    b"%252e",
    b"%5c",
    b"%00",
    b"%0d%0a",
    b"%",
    b";",
    b"#",
    b"\\",
    b"v1",
    b"%C3%A9",
    b"%EF%BC%8E",
    b"",
]
raw_segments = st.lists(
    st.lists(st.sampled_from(TRICKY) | st.binary(max_size=4), max_size=4).map(b"".join),
    min_size=1,
    max_size=6,
)


def _upstream_url(base: str, raw_path: bytes, query: bytes) -> str | None:
    """The URL the passthrough handler builds, or None when it refuses the request."""
    try:
        target = passthrough_path(raw_path, "")
    except InvalidRequest:
        return None
    if not target.upstream_endpoint:
        return None
    return f"{base}/{target.upstream_endpoint}{upstream_query(query)}"


def _dot_when_decoded(segment: bytes) -> bool:
    text = segment.decode("ascii")
    for _ in range(4):
        if text in (".", ".."):
            return True
        text = unquote(text)
    return False


@settings(deadline=None)
@given(
    base=st.sampled_from(BASES),
    segments=raw_segments,
    query=st.binary(max_size=12) | st.sampled_from([b"a=1#x", b"%23", b"a=%zz"]),
)
@example(base=BASES[0], segments=[b"..", b"..", b"admin"], query=b"")
@example(base=BASES[0], segments=[b"models%3Flimit=1%23x"], query=b"a=1")
def test_upstream_url_stays_under_base(base: str, segments: list[bytes], query: bytes) -> None:
    """For any path, the upstream URL (as httpx parses it) is on the provider's host, under its
    base path, with the client's segments one for one and only the client's query."""
    raw_path = b"/p/openai/" + b"/".join(segments)
    url = _upstream_url(base, raw_path, query)
    if url is None:
        return
    parsed, base_url = httpx.URL(url), httpx.URL(base)
    assert (parsed.scheme, parsed.host, parsed.port) == (
        base_url.scheme,
        base_url.host,
        base_url.port,
    )
    assert parsed.fragment == ""
    path, _, sent_query = parsed.raw_path.partition(b"?")
    prefix = base_url.raw_path.rstrip(b"/") + b"/"
    assert path.startswith(prefix)
    sent = path[len(prefix) :].split(b"/")
    assert not any(_dot_when_decoded(s) for s in sent)
    expected = request_segments(raw_path, "")[2:]
    expected = expected[1:] if expected[:1] == ("v1",) else expected
    assert [unquote_to_bytes(s).decode() for s in sent] == list(expected)
    assert sent_query == parsed.query
    assert unquote_to_bytes(parsed.query) == unquote_to_bytes(query)


@settings(deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=5))
def test_encoded_segments_round_trip(segments: list[str]) -> None:
    """Segments a client encodes fully arrive decoded as they were, unless they read as a dot
    segment some way (which needs a dot, a dot-like letter or an escape in them)."""
    raw = "/p/x/" + "/".join(quote(s, safe="") for s in segments)
    try:
        target = passthrough_path(raw.encode("ascii"), "")
    except InvalidRequest:
        assert any("." in unicodedata.normalize("NFKC", s) or "%" in s for s in segments)
        return
    assert list(target.endpoint) == segments
    sent = target.path.removeprefix("/p/x/").split("/")
    assert [unquote(s) for s in sent] == segments
