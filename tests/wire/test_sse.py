"""Tests for the sans-IO SSE codec (gomodel.wire.sse), in h11's table-driven style.

One CASES table drives the decoder (fed whole, byte by byte, and with trailing incomplete bytes)
and the encoder (round trip). Hypothesis checks chunking invariance and generated round trips,
and the recorded provider streams are replayed byte for byte.
"""

from __future__ import annotations

import ast
import itertools
import sys
import tracemalloc
from collections.abc import Iterable
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.wire import sse
from gomodel.wire.sse import (
    DONE,
    Event,
    EventTooLarge,
    SSEDecoder,
    encode_data,
    encode_event,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "providers"
BOM = b"\xef\xbb\xbf"
TAIL = b"data: partial"  # an incomplete event: no blank line yet
KIB = 1024
MIB = 1024 * KIB


def decode(chunks: Iterable[bytes], max_event_size: int = MIB) -> tuple[list[Event], bytes]:
    """Feed every chunk to a fresh decoder; return the events and the leftover at EOF."""
    decoder = SSEDecoder(max_event_size)
    events: list[Event] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    return events, decoder.finish()


def split(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, duplicates allowed)."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# (input, expected events). No input ends with a lone "\r" (that case is tested on its own).
CASES: list[tuple[bytes, list[Event]]] = [
    (b"data: hello\n\n", [Event(b"data: hello\n\n", b"hello")]),
    (
        b"data: a\n\ndata: b\n\n",
        [Event(b"data: a\n\n", b"a"), Event(b"data: b\n\n", b"b")],
    ),
    (b"data: crlf\r\n\r\n", [Event(b"data: crlf\r\n\r\n", b"crlf")]),
    (
        b"data: cr\r\rdata: next\r\n\r\n",
        [Event(b"data: cr\r\r", b"cr"), Event(b"data: next\r\n\r\n", b"next")],
    ),
    (b"data: mix\n\r\n", [Event(b"data: mix\n\r\n", b"mix")]),
    (b"data: mix\r\n\n", [Event(b"data: mix\r\n\n", b"mix")]),
    (
        b"data: mix\n\rdata: b\n\n",
        [Event(b"data: mix\n\r", b"mix"), Event(b"data: b\n\n", b"b")],
    ),
    (b"data: a\rdata: b\n\n", [Event(b"data: a\rdata: b\n\n", b"a\nb")]),
    (b"data:nospace\n\n", [Event(b"data:nospace\n\n", b"nospace")]),
    (b"data:  two\n\n", [Event(b"data:  two\n\n", b" two")]),
    (b"data\n\n", [Event(b"data\n\n", b"")]),
    (b"data:\n\n", [Event(b"data:\n\n", b"")]),
    (b"data: a:b: c\n\n", [Event(b"data: a:b: c\n\n", b"a:b: c")]),
    (
        b"data: line1\ndata: line2\ndata:\n\n",
        [Event(b"data: line1\ndata: line2\ndata:\n\n", b"line1\nline2\n")],
    ),
    (
        b"event: message_start\ndata: {}\n\n",
        [Event(b"event: message_start\ndata: {}\n\n", b"{}", "message_start")],
    ),
    (b"event: a\nevent: b\ndata: x\n\n", [Event(b"event: a\nevent: b\ndata: x\n\n", b"x", "b")]),
    (b"event:\ndata: x\n\n", [Event(b"event:\ndata: x\n\n", b"x", None)]),
    (b"event: only\n\n", [Event(b"event: only\n\n", None, "only")]),
    (b": ping\n\n", [Event(b": ping\n\n", None)]),
    (b":\n: data: no\ndata: yes\n\n", [Event(b":\n: data: no\ndata: yes\n\n", b"yes")]),
    (
        b"id: 7\nretry: 10\nfoo: bar\ndata: x\n\n",
        [Event(b"id: 7\nretry: 10\nfoo: bar\ndata: x\n\n", b"x")],
    ),
    (b" data: x\n\n", [Event(b" data: x\n\n", None)]),
    (
        b"\n\r\ndata: x\n\n",
        [Event(b"\n", None), Event(b"\r\n", None), Event(b"data: x\n\n", b"x")],
    ),
    (BOM + b"data: x\n\n", [Event(BOM + b"data: x\n\n", b"x")]),
    (BOM + b"\n", [Event(BOM + b"\n", None)]),
    (b"\xef\xbbdata: x\n\n", [Event(b"\xef\xbbdata: x\n\n", None)]),
    (
        b"data: x\n\n" + BOM + b"data: y\n\n",
        [Event(b"data: x\n\n", b"x"), Event(BOM + b"data: y\n\n", None)],
    ),
    (b"data: [DONE]\n\n", [Event(b"data: [DONE]\n\n", b"[DONE]")]),
    (
        "data: héllo 世界 🎉\n\n".encode(),
        [Event("data: héllo 世界 🎉\n\n".encode(), "héllo 世界 🎉".encode())],
    ),
    (
        "event: ünï\r\ndata: ✓\r\n\r\n".encode(),
        [Event("event: ünï\r\ndata: ✓\r\n\r\n".encode(), "✓".encode(), "ünï")],
    ),
    (b"event: bad\xff\ndata: x\n\n", [Event(b"event: bad\xff\ndata: x\n\n", b"x", "bad\ufffd")]),
]


def tr(data: bytes, expected: list[Event]) -> None:
    """Decode ``data`` whole, byte by byte, and followed by an incomplete event."""
    assert decode([data]) == (expected, b"")
    assert decode([data[i : i + 1] for i in range(len(data))]) == (expected, b"")
    assert decode([data + TAIL]) == (expected, TAIL)
    assert decode([bytes([b]) for b in data + TAIL]) == (expected, TAIL)


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_cases_decode_the_same_in_any_feeding(data: bytes, expected: list[Event]) -> None:
    """Each case gives its events whole, byte by byte, and with an incomplete tail kept back."""
    tr(data, expected)


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_cases_round_trip_through_the_encoder(data: bytes, expected: list[Event]) -> None:
    """Re-encoding each decoded data event and decoding it again gives the same data and name."""
    for event in expected:
        if event.data is None:
            continue
        wire = encode_event(event.data, event=event.event)
        assert decode([wire]) == ([Event(wire, event.data, event.event)], b"")


def test_every_two_way_split_of_a_tricky_stream_is_equivalent() -> None:
    """Splitting inside a BOM, CRLF, a CR-CR boundary or a UTF-8 character changes nothing."""
    stream = BOM + "event: é\r\ndata: 世\r\n\r\ndata: a\r\rdata: 🎉\n\r\n: c\r\r\n".encode()
    expected, leftover = decode([stream])
    assert [e.data for e in expected] == ["世".encode(), b"a", "🎉".encode(), None]
    assert leftover == b""
    for i in range(len(stream) + 1):
        assert decode([stream[:i], stream[i:]]) == (expected, b""), i


def test_blank_line_ending_in_cr_waits_for_the_next_byte() -> None:
    """A trailing "\\r" that may start "\\r\\n" holds the event back until the next byte."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r\r") == []
    assert decoder.pending() == len(b"data: a\r\r")
    assert decoder.feed(b"\n") == [Event(b"data: a\r\r\n", b"a")]
    assert decoder.feed(b"data: b\r\r") == []
    assert decoder.feed(b"data: c\n\n") == [
        Event(b"data: b\r\r", b"b"),
        Event(b"data: c\n\n", b"c"),
    ]
    assert decoder.finish() == b""


def test_finish_returns_the_incomplete_event_and_resets() -> None:
    """finish() hands back a truncated event as bytes (never as an event) and starts afresh."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: done\n\ndata: trunc") == [Event(b"data: done\n\n", b"done")]
    assert decoder.pending() == len(b"data: trunc")
    assert decoder.finish() == b"data: trunc"
    assert decoder.pending() == 0
    assert decoder.finish() == b""
    # Reset means a new stream: its BOM is recognised again.
    assert decoder.feed(BOM + b"data: new\n\n") == [Event(BOM + b"data: new\n\n", b"new")]


def test_an_undecided_bom_prefix_counts_as_pending() -> None:
    """Bytes that might be a BOM are buffered, reported by pending() and returned by finish()."""
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.pending() == 2
    assert decoder.finish() == b"\xef\xbb"


def test_event_is_done_only_for_the_done_marker() -> None:
    """is_done is true for data "[DONE]" and false otherwise."""
    assert decode([DONE])[0][0].is_done
    assert not Event(b"data: [DONE] \n\n", b"[DONE] ").is_done
    assert not Event(b": x\n\n", None).is_done


def test_decoded_events_are_plain_frozen_events() -> None:
    """Decoded events are frozen and have exactly the fields the decoder's fast constructor sets."""
    fields = attrs.fields(Event)
    assert [f.name for f in fields] == ["raw", "data", "event"]
    assert all(f.validator is None and f.converter is None for f in fields)
    event = decode([b"event: e\ndata: d\n\n"])[0][0]
    expected = Event(b"event: e\ndata: d\n\n", b"d", "e")
    assert event == expected
    assert hash(event) == hash(expected)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.data = b"x"  # type: ignore[misc]


def test_encode_event_writes_one_data_line_per_payload_line() -> None:
    """encode_event emits the event name first, then one data line per line of the payload."""
    assert encode_event(b"a\n\nb", event="x") == b"event: x\ndata: a\ndata: \ndata: b\n\n"
    assert encode_event(b"") == b"data: \n\n"
    assert encode_data(b'{"a":1}') == b'data: {"a":1}\n\n'
    assert encode_data(b"[DONE]") == DONE


@pytest.mark.parametrize(
    ("data", "event"), [(b"a\rb", None), (b"x", ""), (b"x", "a\nb"), (b"x", "a\rb")]
)
def test_encode_event_rejects_what_sse_cannot_carry(data: bytes, event: str | None) -> None:
    """A payload with "\\r", or an empty or multi-line event name, raises ValueError."""
    with pytest.raises(ValueError, match="SSE"):
        encode_event(data, event=event)


def test_sse_module_imports_only_stdlib_and_attrs() -> None:
    """The codec stays sans-IO: it imports no trio, httpx or hypercorn."""
    tree = ast.parse(Path(sse.__file__).read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        )
    }
    assert imported - sys.stdlib_module_names == {"attrs"}


# --- size cap (RELIABILITY row 14) -------------------------------------------------------------


def test_ten_mib_event_without_newline_is_cut_off_with_bounded_memory() -> None:
    """10 MiB without a newline, fed in 64 KiB chunks, is cut off at the cap in bounded memory."""
    cap, chunk = MIB, b"x" * (64 * KIB)
    decoder = SSEDecoder(cap)
    first = b"data: a\n\n: ping\n\ndata: "
    events = decoder.feed(first)
    fed, max_pending = len(first), decoder.pending()
    error: EventTooLarge | None = None
    tracemalloc.start()
    try:
        for _ in range(10 * MIB // len(chunk)):
            fed += len(chunk)
            try:
                events += decoder.feed(chunk)
            except EventTooLarge as exc:
                error = exc
                break
            max_pending = max(max_pending, decoder.pending())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error is not None
    assert events == [Event(b"data: a\n\n", b"a"), Event(b": ping\n\n", None)]
    assert error.events == []
    assert cap < error.size <= cap + len(chunk)
    assert error.limit == cap
    assert fed <= cap + 2 * len(chunk)  # stopped at the cap, not after 10 MiB
    assert max_pending <= cap + len(chunk)
    assert peak < 2 * cap
    assert decoder.pending() == 0  # the oversized buffer is released


def test_events_completed_in_the_oversized_chunk_are_kept() -> None:
    """Events completed earlier in the chunk that overflows ride on the exception."""
    decoder = SSEDecoder(100)
    assert decoder.feed(b"data: a\n\n") == [Event(b"data: a\n\n", b"a")]
    with pytest.raises(EventTooLarge) as info:
        decoder.feed(b"data: b\n\ndata: " + b"y" * 200)
    assert info.value.events == [Event(b"data: b\n\n", b"b")]
    with pytest.raises(RuntimeError, match="after EventTooLarge"):
        decoder.feed(b"data: c\n\n")
    assert decoder.finish() == b""
    assert decoder.feed(b"data: c\n\n") == [Event(b"data: c\n\n", b"c")]


@pytest.mark.parametrize("terminator", [b"\n\n", b"\r\n\r\n"])
def test_a_complete_event_over_the_cap_raises_too(terminator: bytes) -> None:
    """An oversized event raises even when it arrives complete in one chunk (chunking-invariant)."""
    event = b"data: " + b"z" * 100 + terminator
    with pytest.raises(EventTooLarge) as info:
        decode([b"data: ok" + terminator + event + b"data: never" + terminator], max_event_size=100)
    assert info.value.events == [Event(b"data: ok" + terminator, b"ok")]
    assert info.value.size == len(event)
    assert decode([event], max_event_size=len(event))[0][0].data == b"z" * 100


def test_max_event_size_must_be_positive() -> None:
    """A cap below one byte is rejected."""
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(0)


# --- recorded provider streams -----------------------------------------------------------------

# (file, data events, events carrying an `event:` name, ends with [DONE]).
STREAMS = [
    ("anthropic/messages_stream.txt", 7, 7, False),
    ("gemini/chat_completion_stream.txt", 2, 0, True),
    ("groq/chat_completion_stream.txt", 6, 0, True),
    ("openai/chat_completion_stream.txt", 7, 0, True),
    ("openai/responses_stream.txt", 12, 12, False),
    ("xai/chat_completion_stream.txt", 294, 0, True),
    ("xai/responses_stream.txt", 196, 196, False),
]


def read_stream(name: str) -> bytes:
    """Return the recorded stream's bytes."""
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(("name", "n_data", "n_named", "done"), STREAMS)
def test_recorded_stream_replays_byte_for_byte(
    name: str, n_data: int, n_named: int, done: bool
) -> None:
    """A recorded stream decodes to its events; their raw bytes rebuild the file exactly."""
    recorded = read_stream(name)
    # The recordings end with one "\n" after the last field line: the final blank line is
    # missing, so the last event is incomplete and comes back from finish(), not as an event.
    events, leftover = decode([recorded])
    assert b"".join(e.raw for e in events) + leftover == recorded
    assert sum(e.data is not None for e in events) == n_data - 1
    assert leftover.endswith(b"\n")
    assert not leftover.endswith(b"\n\n")
    # On the wire the stream ends with a blank line: then every event is delivered.
    wire = recorded + b"\n"
    for chunks in ([wire], split(wire, range(0, len(wire), 61))):
        events, leftover = decode(chunks)
        assert (b"".join(e.raw for e in events), leftover) == (wire, b"")
        assert sum(e.data is not None for e in events) == n_data
        assert sum(e.event is not None for e in events) == n_named
        assert events[-1].is_done is done


# --- properties ---------------------------------------------------------------------------------

TERMINATORS = st.sampled_from([b"\n", b"\r\n", b"\r"])
LINE = st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
NAME = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=8)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[Event], bytes]:
    """Build an SSE stream with mixed line endings; return it, its events and its leftover."""
    out: list[bytes] = []
    expected: list[Event] = []
    prev = b"\n"  # the terminator before the current line
    lead = BOM if draw(st.booleans()) else b""

    def line(content: bytes) -> bytes:
        nonlocal prev
        term = draw(TERMINATORS)
        if prev == b"\r" and not content and term == b"\n":
            term = b"\r\n"  # "\r" + "\n" would be one terminator, not a blank line
        prev = term
        return content + term

    for _ in range(draw(st.integers(0, 6))):
        lines: list[bytes] = []
        data: list[bytes] = []
        name: str | None = None
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(["data", "data:", "event", "comment", "id"]))
            value = draw(LINE)
            if kind == "data":
                lines.append(line(b"data: " + value))
                data.append(value)
            elif kind == "data:":  # no space: a leading space of the value is then stripped
                lines.append(line(b"data:" + value))
                data.append(value[1:] if value.startswith(b" ") else value)
            elif kind == "event":
                text = draw(NAME)
                lines.append(line(b"event: " + text.encode()))
                name = text or None
            elif kind == "comment":
                lines.append(line(b":" + value))
            else:
                lines.append(line(b"id: " + value))
        raw = lead + b"".join(lines) + line(b"")
        lead = b""
        out.append(raw)
        expected.append(Event(raw, b"\n".join(data) if data else None, name))
    tail = draw(st.sampled_from([b"", b"data: tru", b"event: x\r\ndata: y\r\n", b": c"]))
    if expected and out[-1].endswith(b"\r") and not tail:
        return b"".join(out), expected[:-1], out[-1]  # a final lone "\r" is ambiguous at EOF
    if tail and not out:
        tail = lead + tail
    return b"".join(out) + tail, expected, tail


@st.composite
def stream_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """A generated or recorded stream plus random cut offsets into it."""
    if draw(st.booleans()):
        data = draw(streams())[0]
    else:
        data = read_stream(draw(st.sampled_from([s[0] for s in STREAMS])))
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=40))
    return data, cuts


@given(stream_and_cuts())
def test_any_split_gives_identical_events_and_raw(case: tuple[bytes, list[int]]) -> None:
    """Any chunking yields the same events, and their raw bytes plus leftover equal the input."""
    data, cuts = case
    whole = decode([data])
    events, leftover = decode(split(data, cuts))
    assert (events, leftover) == whole
    assert b"".join(e.raw for e in events) + leftover == data


@given(streams(), st.lists(st.integers(0, 2000), max_size=10))
def test_generated_streams_decode_to_their_events(
    case: tuple[bytes, list[Event], bytes], cuts: list[int]
) -> None:
    """Generated events with random line endings decode to exactly the events written."""
    data, expected, leftover = case
    assert decode(split(data, [c for c in cuts if c <= len(data)])) == (expected, leftover)


@given(st.binary(max_size=200).filter(lambda b: b"\r" not in b), st.none() | NAME.filter(bool))
def test_encode_then_decode_round_trips(data: bytes, event: str | None) -> None:
    """decode(encode_event(data, event)) gives back the data and the event name."""
    wire = encode_event(data, event=event)
    assert decode([wire]) == ([Event(wire, data, event)], b"")
