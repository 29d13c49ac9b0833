"""The sans-IO parsers fed arbitrary bytes (h11's fuzzing invariant, RELIABILITY.md §4.3): each
input parses, or raises the parser's own error, nothing else; and how the bytes are split into
reads changes nothing. A provider's bytes reach these first, so a crash here would be a 500.

Inputs are raw binary and valid messages with bytes inserted, replaced or cut (which reach
further into the grammar than noise does). Examples are capped, without per-example deadlines.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gomodel.wire.http1 import BodyDecoder, ProtocolError, parse_head
from gomodel.wire.sse import EventTooLarge, SSEDecoder

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;x=y\r\nhello\r\nB\r\n, chunked!!\r\n0\r\nX-T: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world!",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    b"HTTP/1.0 502 Bad Gateway\nServer: lb\n\n<html>down</html>",
    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}",
]
STREAMS = [
    b'data: {"choices":[{"delta":{"content":"h\xc3\xa9"}}]}\n\n'
    b"event: ping\r\ndata: a\r\ndata: b\r\n\r\n: comment\n\nid: 7\nretry: 10\ndata:x\n\n"
    b"data: [DONE]\n\n",
    b"\xef\xbb\xbfdata: bom\r\r\rdata: cr only\r\r",
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed message with a few bytes inserted, replaced or removed, or pure noise."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "replace", "delete"]))
        piece = draw(st.binary(min_size=1, max_size=4) | st.sampled_from([b"\r", b"\n", b":"]))
        if action == "insert":
            data[at:at] = piece
        elif action == "replace":
            data[at : at + len(piece)] = piece
        else:
            del data[at : at + len(piece)]
    return bytes(data)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _decode_sse(pieces: list[bytes], limit: int) -> tuple[list[tuple[object, ...]], str]:
    decoder = SSEDecoder(limit)
    events = []
    try:
        for piece in pieces:
            events += [(e.data, e.event, e.raw) for e in decoder.feed(piece)]
    except EventTooLarge as exc:
        events += [(e.data, e.event, e.raw) for e in exc.events]
        return events, "too large"
    return events, repr(decoder.finish())


@FUZZ
@given(
    data=mutated(STREAMS),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    limit=st.sampled_from([8, 64, 1024 * 1024]),
)
def test_sse_decoder_takes_any_bytes_the_same_in_any_split(
    data: bytes, cuts: list[int], limit: int
) -> None:
    """Whole, split anywhere or byte by byte: the same events (or the same EventTooLarge), and
    no other exception. Raised only past the cap, so an uncapped decoder never raises."""
    whole = _decode_sse([data], limit)
    assert _decode_sse(_split(data, cuts), limit)[1:] == whole[1:]
    if whole[1] != "too large":  # the cap is checked per read, so only where it is not hit
        assert _decode_sse(_split(data, cuts), limit) == whole
        assert _decode_sse([data[i : i + 1] for i in range(len(data))], limit) == whole
    assert _decode_sse([data], len(data) + 1)[1] != "too large"


def _parse_response(pieces: list[bytes], method: bytes) -> tuple[object, ...]:
    """A response as the transport reads it: the head (1xx skipped), then the body to EOF."""
    buffer = b""
    try:
        feed = iter(pieces)
        while True:
            parsed = parse_head(buffer, request_method=method)
            if parsed is None:
                piece = next(feed, None)
                if piece is None:
                    return ("incomplete head",)
                buffer += piece
                continue
            head, size = parsed
            buffer = buffer[size:]
            if 100 <= head.status < 200 and head.status != 101:
                continue
            break
        decoder = BodyDecoder(head.framing, head.length)
        body = b"".join(decoder.feed(buffer)) if buffer else b""
        for piece in feed:
            if decoder.done:
                break
            body += b"".join(decoder.feed(piece))
        if not decoder.done:
            decoder.eof()
        return (head.status, head.framing, body)
    except ProtocolError:
        return ("protocol error",)


@FUZZ
@given(
    data=mutated(HEADS),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    method=st.sampled_from([b"GET", b"POST", b"HEAD"]),
)
def test_http1_parser_takes_any_bytes_the_same_in_any_split(
    data: bytes, cuts: list[int], method: bytes
) -> None:
    """A response head and body parse, or raise ProtocolError, whatever the bytes; split into
    reads anywhere (or byte by byte) the outcome is the same."""
    whole = _parse_response([data], method)
    assert _parse_response(_split(data, cuts), method) == whole
    assert _parse_response([data[i : i + 1] for i in range(len(data))], method) == whole
