"""Tests for the sans-IO HTTP/1.1 client framing (gomodel.wire.http1), table-driven.

Tables drive the response-head parser (framing, keep-alive, malformed heads) and the body
decoder (whole, byte by byte, with bytes past the end); hypothesis checks that a payload
framed as random chunks or with a Content-Length decodes the same however it is split.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.wire.http1 import (
    MAX_HEAD_SIZE,
    BodyDecoder,
    Head,
    ProtocolError,
    encode_request,
    parse_head,
)

OK = b"HTTP/1.1 200 OK\r\n"


def head(raw: bytes, method: bytes = b"GET") -> Head:
    """The head of ``raw`` (which must be complete), checked to end where the blank line does."""
    parsed = parse_head(raw + b"BODY", request_method=method)
    assert parsed is not None
    result, size = parsed
    assert size == len(raw)
    return result


def decode(
    framing: str, chunks: Iterable[bytes], length: int = 0, *, eof: bool = False
) -> tuple[bytes, bool, bytes]:
    """Feed every chunk to a fresh decoder: (payload, done, extra)."""
    decoder = BodyDecoder(framing, length)  # type: ignore[arg-type]
    payload = b"".join(piece for chunk in chunks for piece in decoder.feed(chunk))
    if eof:
        decoder.eof()
    return payload, decoder.done, decoder.extra


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# -- parse_head ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"HTTP/1.1 200 OK", OK, OK + b"Content-Length: 2\r\n", OK + b"A: b\r\n\r", OK + b"\r"],
)
def test_incomplete_head_is_none(raw: bytes) -> None:
    """Without its blank line a head is not parsed yet, however much of it is there."""
    assert parse_head(raw, request_method=b"GET") is None


def test_line_ends_names_status_and_reason() -> None:
    """CRLF and bare LF (mixed) end lines; names are lower-cased, values trimmed, order kept."""
    raw = b"HTTP/1.1 404 Not  Found\nX-One:  a b \r\nx-ONE:\tc\nContent-Length: 0\r\n\n"
    assert head(raw) == Head(
        404,
        b"Not  Found",
        [(b"x-one", b"a b"), (b"x-one", b"c"), (b"content-length", b"0")],
        "none",
        0,
        True,
    )
    assert head(b"HTTP/1.0 200\r\n\r\n").reason == b""


# (status line and headers, request method, framing, length)
FRAMING: list[tuple[bytes, bytes, str, int]] = [
    (OK + b"Content-Length: 5\r\n", b"HEAD", "none", 0),
    (OK + b"Transfer-Encoding: chunked\r\n", b"HEAD", "none", 0),
    (b"HTTP/1.1 100 Continue\r\n", b"POST", "none", 0),
    (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n", b"GET", "none", 0),
    (b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n", b"GET", "none", 0),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n", b"GET", "none", 0),
    (OK + b"Transfer-Encoding: chunked\r\n", b"GET", "chunked", 0),
    (OK + b"Transfer-Encoding: Chunked\r\n", b"GET", "chunked", 0),
    (OK + b"Transfer-Encoding: gzip, chunked\r\n", b"GET", "chunked", 0),
    (OK + b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", b"GET", "chunked", 0),
    (OK + b"Transfer-Encoding: chunked, gzip\r\n", b"GET", "close", 0),
    (OK + b"Transfer-Encoding: gzip\r\n", b"GET", "close", 0),
    (OK + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", b"GET", "chunked", 0),
    (OK + b"Content-Length: 5\r\n", b"GET", "length", 5),
    (OK + b"Content-Length: 5\r\nContent-Length: 5\r\n", b"GET", "length", 5),
    (OK + b"Content-Length: 5, 5\r\n", b"GET", "length", 5),
    (OK + b"Content-Length:  12 \r\n", b"POST", "length", 12),
    (OK + b"Content-Length: 0\r\n", b"GET", "none", 0),
    (OK + b"Content-Type: text/plain\r\n", b"GET", "close", 0),
    (OK, b"GET", "close", 0),
]


@pytest.mark.parametrize(("lines", "method", "framing", "length"), FRAMING)
def test_body_framing(lines: bytes, method: bytes, framing: str, length: int) -> None:
    """RFC 9112 §6.3: no body, chunked as the last coding, Content-Length, or until close."""
    parsed = head(lines + b"\r\n", method)
    assert (parsed.framing, parsed.length) == (framing, length)


@pytest.mark.parametrize(
    "value", [b"5, 6", b"5\r\nContent-Length: 6", b"+5", b"-1", b"5x", b"0x5", b"", b"5 5"]
)
def test_bad_content_length_is_an_error(value: bytes) -> None:
    """Conflicting or non-digit lengths could smuggle a second response: ProtocolError."""
    with pytest.raises(ProtocolError):
        parse_head(OK + b"Content-Length: " + value + b"\r\n\r\n", request_method=b"GET")


LENGTH = b"Content-Length: 0\r\n"

# (status line and headers, keep_alive)
KEEP_ALIVE: list[tuple[bytes, bool]] = [
    (OK + LENGTH, True),
    (OK + LENGTH + b"Connection: close\r\n", False),
    (OK + LENGTH + b"Connection: Close\r\n", False),
    (OK + LENGTH + b"Connection: keep-alive, close\r\n", False),
    (OK + LENGTH + b"Connection: upgrade\r\nConnection: close\r\n", False),
    (OK + LENGTH + b"Connection: keep-alive\r\n", True),
    (b"HTTP/1.0 200 OK\r\n" + LENGTH, False),
    (b"HTTP/1.0 200 OK\r\n" + LENGTH + b"Connection: keep-alive\r\n", True),
    (b"HTTP/1.0 200 OK\r\n" + LENGTH + b"Connection: Keep-Alive\r\n", True),
    (b"HTTP/1.0 200 OK\r\n" + LENGTH + b"Connection: keep-alive, close\r\n", False),
    (OK, False),  # close-delimited: the end of the body is the end of the connection
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", False),
    (OK + b"Transfer-Encoding: gzip\r\n", False),
    (b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n", False),
]


@pytest.mark.parametrize(("lines", "keep_alive"), KEEP_ALIVE)
def test_keep_alive(lines: bytes, keep_alive: bool) -> None:
    """HTTP/1.1 persists unless told to close, HTTP/1.0 only if told to keep alive."""
    assert head(lines + b"\r\n").keep_alive is keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 20 OK\r\n",
        b"HTTP/1.1 2000 OK\r\n",
        b"HTTP/1.1 abc OK\r\n",
        b"HTTP/1.1  200 OK\r\n",
        b"HTTP/2 200 OK\r\n",
        b"http/1.1 200 OK\r\n",
        b"HTTP/1.1\r\n",
        b"ICY 200 OK\r\n",
        b"garbage\r\n",
        OK + b"No-Colon\r\n",
        OK + b"Name : value\r\n",
        OK + b"Name\t: value\r\n",
        OK + b": no name\r\n",
        OK + b"Bad Name: value\r\n",
        OK + b"X-A: one\r\n two\r\n",  # obs-fold
        OK + b"X-A: one\r\n\ttwo: three\r\n",  # obs-fold that looks like a field
        OK + b"X-A: one\rtwo\r\n",  # a bare CR inside a value
        OK + b"X-A: one\x00two\r\n",
    ],
)
def test_malformed_head_is_an_error(raw: bytes) -> None:
    """A bad status line, a field line without a name and colon, or a folded line."""
    with pytest.raises(ProtocolError):
        parse_head(raw + b"\r\n", request_method=b"GET")


def test_head_size_limit() -> None:
    """A head up to MAX_HEAD_SIZE parses; past it, complete or not, it is a ProtocolError."""
    filler = OK + b"X-Pad: "
    fits = filler + b"a" * (MAX_HEAD_SIZE - len(filler)) + b"\r\n\r\n"
    assert head(fits).status == 200
    assert parse_head(b"a" * MAX_HEAD_SIZE, request_method=b"GET") is None
    too_big = filler + b"a" * MAX_HEAD_SIZE
    with pytest.raises(ProtocolError):
        parse_head(too_big, request_method=b"GET")
    with pytest.raises(ProtocolError):
        parse_head(too_big + b"\r\n\r\n", request_method=b"GET")


# -- encode_request --------------------------------------------------------------------------


def test_encode_request_exact_bytes() -> None:
    """Request line, the headers as given (case and order kept), a blank line, the body."""
    headers = [(b"Host", b"api.test"), (b"content-type", b"a/b; q=1"), (b"X-Tab", b"a\tb")]
    assert encode_request(b"POST", b"/v1/x?y=1", headers, b"{}") == (
        b"POST /v1/x?y=1 HTTP/1.1\r\nHost: api.test\r\ncontent-type: a/b; q=1\r\n"
        b"X-Tab: a\tb\r\n\r\n{}"
    )
    assert encode_request(b"GET", b"/", [], b"") == b"GET / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (b"X-A", b"one\r\nX-Injected: 1"),
        (b"X-A", b"one\nX-Injected: 1"),
        (b"X-A", b"one\rtwo"),
        (b"X-A", b"one\x00two"),
        (b"", b"v"),
        (b"X A", b"v"),
        (b"X-A:", b"v"),
        (b"X-A\r\nX-B", b"v"),
        ("X-É".encode(), b"v"),
    ],
)
def test_encode_request_rejects_header_that_splits_the_message(name: bytes, value: bytes) -> None:
    with pytest.raises(ValueError):
        encode_request(b"GET", b"/", [(b"Host", b"h"), (name, value)], b"")


@pytest.mark.parametrize(
    ("method", "target"),
    [
        (b"GET / HTTP/1.1\r\nX: y", b"/"),
        (b"GET\r\n", b"/"),
        (b"", b"/"),
        (b"GET", b""),
        (b"GET", b"/a b"),
        (b"GET", b"/a\r\nX-Injected: 1"),
        (b"GET", b"/\x00"),
    ],
)
def test_encode_request_rejects_request_line_that_splits_the_message(
    method: bytes, target: bytes
) -> None:
    with pytest.raises(ValueError):
        encode_request(method, target, [(b"Host", b"h")], b"")


# -- BodyDecoder -----------------------------------------------------------------------------

# (framing, length, encoded body, payload)
BODIES: list[tuple[str, int, bytes, bytes]] = [
    ("length", 5, b"hello", b"hello"),
    ("length", 1, b"\r", b"\r"),
    ("chunked", 0, b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    ("chunked", 0, b"5\nhello\n6\n world\n0\n\n", b"hello world"),
    ("chunked", 0, b"5;name=value;x\r\nhello\r\n0;last\r\n\r\n", b"hello"),
    ("chunked", 0, b'5 ; q="a;b"\r\nhello\r\n0\r\n\r\n', b"hello"),
    ("chunked", 0, b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij"),
    ("chunked", 0, b"0005\r\nhello\r\n000\r\n\r\n", b"hello"),
    ("chunked", 0, b"2\r\nhi\r\n0\r\nX-Trailer: a\r\nX-Other: b\r\n\r\n", b"hi"),
    ("chunked", 0, b"0\r\n\r\n", b""),
]


@pytest.mark.parametrize(("framing", "length", "body", "payload"), BODIES)
def test_body_decodes_whole_split_and_with_extra(
    framing: str, length: int, body: bytes, payload: bytes
) -> None:
    """Each body decodes whole and byte by byte; bytes past its end are ``extra``."""
    assert decode(framing, [body], length) == (payload, True, b"")
    assert decode(framing, [body[i : i + 1] for i in range(len(body))], length) == (
        payload,
        True,
        b"",
    )
    assert decode(framing, [body + b"HTTP/1.1 200 OK"], length) == (
        payload,
        True,
        b"HTTP/1.1 200 OK",
    )
    assert decode(framing, [body, b"", b"more", b"!"], length) == (payload, True, b"more!")
    assert decode(framing, [body + b"\r\n"], length) == (payload, True, b"\r\n")
    assert decode(framing, [body[:-1]], length)[1] is False


@pytest.mark.parametrize(
    "body",
    [
        b"0x10\r\n",
        b"+5\r\n",
        b"-5\r\n",
        b"1_0\r\n",
        b"\r\n",
        b" \r\n",
        b";ext\r\n",
        b"g\r\n",
        b"1 0\r\n",
        b"12345678901234567\r\n",  # 17 hex digits
        b"5\r\nhelloX\r\n",  # data longer than its size
        b"5\r\nhello world\r\n0\r\n\r\n",
        b"1;" + b"x" * 5000,  # a size line without end past the limit
    ],
)
def test_malformed_chunked_body_is_an_error(body: bytes) -> None:
    """A chunk size that is not plain hex, chunk data past its size, or an endless line."""
    with pytest.raises(ProtocolError):
        decode("chunked", [body])
    with pytest.raises(ProtocolError):
        decode("chunked", [body[i : i + 1] for i in range(len(body))])


def test_close_delimited_body_runs_until_eof() -> None:
    """Framing "close": every byte is payload, and only the end of the connection ends it."""
    decoder = BodyDecoder("close")
    assert decoder.feed(b"0\r\n\r\n") == [b"0\r\n\r\n"]
    assert decoder.feed(b"") == []
    assert decoder.feed(b"HTTP/1.1 200 OK\r\n") == [b"HTTP/1.1 200 OK\r\n"]
    assert not decoder.done
    decoder.eof()
    assert (decoder.done, decoder.extra) == (True, b"")


def test_no_body_is_done_at_once() -> None:
    """Framing "none" (HEAD, 204, 304): done before any byte; whatever comes is extra."""
    decoder = BodyDecoder("none")
    assert decoder.done
    decoder.eof()
    assert decoder.feed(b"junk") == []
    assert decoder.extra == b"junk"


@pytest.mark.parametrize(
    ("framing", "length", "body"),
    [
        ("length", 5, b""),
        ("length", 5, b"hell"),
        ("chunked", 0, b""),
        ("chunked", 0, b"5\r\nhel"),
        ("chunked", 0, b"5\r\nhello\r\n"),
        ("chunked", 0, b"5\r\nhello\r\n0\r\n"),
        ("chunked", 0, b"5\r\nhello\r\n0\r\n\r"),
        ("chunked", 0, b"0\r\nX-Trailer: a\r\n"),
    ],
)
def test_eof_before_the_end_is_an_error(framing: str, length: int, body: bytes) -> None:
    """A connection closed inside a framed body is a truncated response, not a short one."""
    with pytest.raises(ProtocolError):
        decode(framing, [body], length, eof=True)


def test_eof_after_the_end_is_fine() -> None:
    assert decode("length", [b"hi"], 2, eof=True) == (b"hi", True, b"")
    assert decode("chunked", [b"0\r\n\r\n"], eof=True) == (b"", True, b"")


# -- properties ------------------------------------------------------------------------------


@st.composite
def chunked_bodies(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(payload, its chunked encoding) with random sizes, hex case, extensions, line ends and
    trailers."""
    pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
    out = []
    for piece in pieces:
        eol = draw(st.sampled_from([b"\r\n", b"\n"]))
        size = f"{len(piece):x}".encode()
        size = draw(st.sampled_from([size, size.upper(), b"00" + size]))
        ext = draw(st.sampled_from([b"", b";a=b", b" ; x", b';q="1;2"']))
        out.append(size + ext + eol + piece + draw(st.sampled_from([b"\r\n", b"\n"])))
    trailers = draw(st.lists(st.sampled_from([b"X-T: 1\r\n", b"Y:\n", b"Z: 2;3\r\n"]), max_size=3))
    out.append(b"0" + draw(st.sampled_from([b"", b";end"])) + b"\r\n" + b"".join(trailers))
    out.append(draw(st.sampled_from([b"\r\n", b"\n"])))
    return b"".join(pieces), b"".join(out)


@given(
    st.one_of(chunked_bodies(), st.binary(min_size=1, max_size=300).map(lambda b: (b, b""))),
    st.sampled_from([b"", b"\r\n", b"\n", b"0\r\n\r\n", OK]) | st.binary(max_size=20),
    st.lists(st.integers(0, 10_000), max_size=30),
)
def test_any_split_gives_the_payload_back(
    body: tuple[bytes, bytes], suffix: bytes, cuts: list[int]
) -> None:
    """However a body (chunked, or with a Content-Length when ``encoded`` is empty) and what
    follows it are split into reads, the payload comes out whole, ``done`` turns true with the
    last byte of the body and not before, and what follows is ``extra``."""
    payload, encoded = body
    if encoded:
        decoder = BodyDecoder("chunked")
    else:
        encoded = payload
        decoder = BodyDecoder("length", len(payload))
    data = encoded + suffix
    out = b""
    fed = 0
    for part in split(data, {c % (len(data) + 1) for c in cuts}):
        out += b"".join(decoder.feed(part))
        fed += len(part)
        assert decoder.done is (fed >= len(encoded))
    assert (out, decoder.done, decoder.extra) == (payload, True, suffix)
    decoder.eof()
