r"""Server-Sent Events codec: sans-IO, bytes in and events out, events in and bytes out.

The relay forwards provider streams byte for byte, so :class:`SSEDecoder` guarantees that the
``raw`` bytes of its events, concatenated, equal its input exactly (minus an incomplete tail),
however the input was chunked. It decodes nothing to ``str`` except ``event:`` names.

Design:

* A line ends with ``\n``, ``\r\n`` or ``\r``; an event ends with a blank line. ``\r\n`` alone is
  one terminator, so inside an event every blank line shows up as one of three 2-byte junctions,
  ``\n\n``, ``\n\r`` or ``\r\r``; a blank line at the very start of an event is checked directly.
* Fast path, while no ``\r`` is seen (providers send ``\n`` only): one ``find`` gives an event's
  first ``\n``; if another follows, a one-line ``data: `` payload is sliced without splitting
  lines, else ``find(b"\n\n")`` gives the end. The general path caches each junction's next hit.
* With nothing pending, the chunk is searched in place and ``raw`` is one slice of it. Otherwise a
  ``bytearray`` holds the pending event and the search resumes where the last feed stopped, so
  byte-by-byte feeding stays linear.
* A blank line ending in ``\r`` as the last byte buffered is ambiguous (a ``\n`` may follow and
  belong to it), so its event is held back until the next byte. At EOF, :meth:`SSEDecoder.finish`
  returns it as leftover bytes like any truncated event; no provider ends a stream that way.
* A UTF-8 BOM at the very start is kept in the first event's ``raw`` and ignored for parsing.
* Memory is bounded: an event, pending or complete, larger than ``max_event_size`` raises
  :class:`EventTooLarge`, which carries the events completed earlier in the same chunk; the
  decoder drops its buffer. Peak use is about the cap plus one chunk.
"""

from __future__ import annotations

from typing import NoReturn

import attrs

__all__ = ["DONE", "Event", "EventTooLarge", "SSEDecoder", "encode_data", "encode_event"]

DONE: bytes = b"data: [DONE]\n\n"
_BOM = b"\xef\xbb\xbf"
_JUNCTIONS = (b"\n\n", b"\n\r", b"\r\r")
_LF, _CR = 0x0A, 0x0D
_Bytes = bytes | bytearray
_new = object.__new__


@attrs.frozen(slots=True)
class Event:
    """One complete SSE event."""

    raw: bytes
    """The exact bytes received for this event, including its terminating blank line."""
    data: bytes | None
    """The ``data:`` lines joined with ``\\n``; ``None`` if the event has no data line."""
    event: str | None = None
    """The value of the last ``event:`` line, if any and non-empty."""

    @property
    def is_done(self) -> bool:
        """Whether this is OpenAI's ``data: [DONE]`` end-of-stream marker."""
        return self.data == b"[DONE]"


class EventTooLarge(Exception):
    """An event grew past the decoder's ``max_event_size``."""

    def __init__(self, size: int, limit: int, events: list[Event]) -> None:
        super().__init__(f"SSE event of at least {size} bytes exceeds the {limit}-byte cap")
        self.size = size
        """Bytes of the oversized event seen so far."""
        self.limit = limit
        self.events = events
        """Events completed in the same ``feed`` before the oversized one: relay them first."""


_set_raw = Event.__dict__["raw"].__set__
_set_data = Event.__dict__["data"].__set__
_set_name = Event.__dict__["event"].__set__


def _parse(block: bytes) -> tuple[bytes | None, str | None]:
    """Return the ``data`` and ``event`` fields of one event's bytes (any line endings)."""
    data: list[bytes] = []
    event: str | None = None
    for line in block.splitlines():  # bytes.splitlines splits on exactly \r\n, \n and \r
        if not line or line[0] == 0x3A:  # blank line, or a ":" comment
            continue
        field, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            event = value.decode("utf-8", "replace") or None
    return (b"\n".join(data) if data else None), event


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder: feed bytes in any chunking, get whole events."""

    __slots__ = ("_buf", "_cr", "_failed", "_lead", "_max", "_scan", "_start")

    def __init__(self, max_event_size: int = 1024 * 1024) -> None:
        if max_event_size < 1:
            raise ValueError("max_event_size must be >= 1")
        self._max = max_event_size
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()  # the pending (incomplete) event
        self._scan = -1  # where the search resumes in _buf; -1: nothing of the event checked yet
        self._cr = False  # whether _buf may hold a \r (False selects the fast path)
        self._lead = b""  # a BOM, until it is prepended to the first event
        self._start = True  # still deciding whether the stream starts with a BOM
        self._failed = False

    def pending(self) -> int:
        """Return the number of bytes buffered for an incomplete event."""
        return len(self._buf) + len(self._lead)

    def finish(self) -> bytes:
        """At EOF: return the incomplete event's bytes (``b""`` if none) and reset the decoder."""
        leftover = self._lead + self._buf
        self._reset()
        return leftover

    def feed(self, chunk: bytes) -> list[Event]:
        """Consume ``chunk``; return the events it completes, in order.

        Raises :class:`EventTooLarge` when an event exceeds ``max_event_size``.
        """
        if self._failed:
            raise RuntimeError("SSEDecoder.feed() called after EventTooLarge")
        buf = self._buf
        if self._start:  # the stream's first bytes: a BOM?
            buf += chunk
            if len(buf) < 3 and _BOM.startswith(buf):
                return []  # can't tell yet
            self._start = False
            if buf.startswith(_BOM):
                self._lead = _BOM
                del buf[:3]
            chunk = bytes(buf)
            buf.clear()
        if b"\r" in chunk:
            self._cr = True
        data: bytes | bytearray = chunk
        if buf:
            buf += chunk
            data = buf
        events: list[Event] = []
        split = self._split_any if self._cr else self._split_lf
        data, start, scan = split(data, events)
        if data is buf:
            del buf[:start]
        else:
            buf.clear()
            if start < len(data):
                buf += data[start:]
        self._scan = scan - start
        if events and self._cr:
            self._cr = b"\r" in buf
        if len(buf) + len(self._lead) > self._max:
            self._fail(len(buf) + len(self._lead), events)
        return events

    def _split_lf(self, data: _Bytes, events: list[Event]) -> tuple[_Bytes, int, int]:
        """Fast path (no ``\\r`` pending): append complete events; return (data, start, scan)."""
        start, scan, n, limit, find = 0, self._scan, len(data), self._max, data.find
        while start < n:
            end = single = 0
            if scan < start:  # a fresh event: is its first line blank, or alone?
                i = find(b"\n", start)
                if i < 0:
                    return data, start, n - 1
                if i == start:
                    end = i + 1
                elif i + 1 < n and data[i + 1] == _LF:
                    end = single = i + 2
                else:
                    scan = i
            if not end:
                if (i := find(b"\n\n", scan)) < 0:
                    return data, start, n - 1
                end = i + 2
            if end - start > limit:
                self._fail(end - start, events)
            if isinstance(data, bytearray):  # the pending event is complete: slice bytes from now
                data = bytes(data)
                find = data.find
            events.append(self._event(data[start:end], single))
            start, scan = end, end - 1
        return data, start, scan

    def _split_any(self, data: _Bytes, events: list[Event]) -> tuple[_Bytes, int, int]:
        """General path for any line endings: append complete events; return (data, start, scan)."""
        start, scan, n, limit = 0, self._scan, len(data), self._max
        hits = [data.find(p, max(scan, 0)) for p in _JUNCTIONS]
        while start < n:
            end = 0
            if scan < start:  # a fresh event: a terminator right away is a blank line
                if data[start] == _LF:
                    end = start + 1
                elif data[start] == _CR:
                    if start + 1 == n:
                        return data, start, scan  # "\r" or "\r\n"? wait for the next byte
                    end = start + 2 if data[start + 1] == _LF else start + 1
                else:
                    scan = start
            if not end:
                for k, hit in enumerate(hits):
                    if 0 <= hit < scan:
                        hits[k] = data.find(_JUNCTIONS[k], scan)
                if not (found := [hit for hit in hits if hit >= 0]):
                    return data, start, n - 1
                i = min(found) + 1  # where the blank line starts
                if data[i] == _LF:
                    end = i + 1
                elif i + 1 < n:
                    end = i + 2 if data[i + 1] == _LF else i + 1
                else:
                    return data, start, i - 1  # "\r" or "\r\n"? wait for the next byte
            if end - start > limit:
                self._fail(end - start, events)
            if isinstance(data, bytearray):
                data = bytes(data)
            events.append(self._event(data[start:end], 0))
            start, scan = end, end - 1
        return data, start, scan

    def _event(self, raw: bytes, single: int) -> Event:
        """Parse one event; ``single`` means it is one line, then a blank line, LF only."""
        data: bytes | None
        if single and raw.startswith(b"data: "):
            data, name = raw[6:-2], None
        else:
            data, name = _parse(raw)
        if self._lead:
            raw, self._lead = self._lead + raw, b""
        # attrs' frozen __init__ costs ~3x this; Event has no validators or converters to skip.
        event = _new(Event)
        _set_raw(event, raw)
        _set_data(event, data)
        _set_name(event, name)
        return event

    def _fail(self, size: int, events: list[Event]) -> NoReturn:
        self._buf = bytearray()
        self._lead = b""
        self._failed = True
        raise EventTooLarge(size, self._max, events)


def encode_event(data: bytes, *, event: str | None = None) -> bytes:
    """Encode an optional ``event:`` line, then one ``data:`` line per line of ``data``.

    ``data`` must not contain ``\\r`` (SSE cannot carry it); ``event`` must be one non-empty line.
    """
    if b"\r" in data:
        raise ValueError("SSE data cannot contain \\r")
    body = b"data: " + data.replace(b"\n", b"\ndata: ") + b"\n\n"
    if event is None:
        return body
    if not event or "\n" in event or "\r" in event:
        raise ValueError(f"invalid SSE event name: {event!r}")
    return b"event: " + event.encode() + b"\n" + body


def encode_data(data: bytes) -> bytes:
    """Encode a single-line payload as ``data: <data>\\n\\n`` (the caller ensures no newline)."""
    return b"data: " + data + b"\n\n"
