r"""HTTP/1.1 client framing, sans-IO: a request's bytes out, a response's head and body in.

The gateway's upstream transport (:mod:`gomodel.providers.transport`) speaks HTTP/1.1 through
this module instead of h11: a provider answer is one head and one body, and a relay spends its
time moving those bytes, so the parser does the least that is still strict:

* the head ends at the first blank line (``\r\n\r\n``; bare ``\n`` line ends are accepted, as
  RFC 9112 §2.2 allows); it is split once and each field line partitioned at its colon;
* header names come out lower-cased (as h11 gives them); obsolete line folding, a missing
  colon, whitespace before the colon, a bad status line, conflicting ``Content-Length`` values
  and oversized heads are :class:`ProtocolError`;
* the body is framed by RFC 9112 §6.3: no body (HEAD, 1xx, 204, 304), chunked (the last
  transfer coding), ``Content-Length``, or until the connection closes;
* :class:`BodyDecoder` turns the bytes after the head into payload pieces, slicing the input
  (no copies when a body arrives whole) and says what is left over after the body ends.

Requests are encoded with the method checked as a token, the target for controls and spaces, and
header values for CR, LF and NUL: nothing a caller passes can split the message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import attrs

__all__ = [
    "MAX_HEAD_SIZE",
    "BodyDecoder",
    "Head",
    "ProtocolError",
    "encode_request",
    "parse_head",
]

MAX_HEAD_SIZE = 64 * 1024
_MAX_CHUNK_LINE = 4096

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT = re.compile(rb"\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_UNSAFE_VALUE = re.compile(rb"[\r\n\x00]")
_UNSAFE_TARGET = re.compile(rb"[\x00-\x20\x7f]")
_DIGITS = re.compile(rb"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")
_PLAIN_CHUNK = re.compile(rb"([0-9A-Fa-f]{1,16})\r\n")

Framing = Literal["none", "length", "chunked", "close"]


class ProtocolError(Exception):
    """The peer broke HTTP/1.1 framing; the connection cannot be used again."""


@attrs.frozen(slots=True)
class Head:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    framing: Framing
    length: int  # the Content-Length when framing is "length", else 0
    keep_alive: bool


def encode_request(
    method: bytes, target: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes
) -> bytes:
    """One request: line, headers as given (Host included by the caller), then ``body``."""
    if _TOKEN.fullmatch(method) is None or not target or _UNSAFE_TARGET.search(target):
        raise ValueError(f"invalid request line {method[:20]!r} {target[:100]!r}")
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if _TOKEN.fullmatch(name) is None or _UNSAFE_VALUE.search(value) is not None:
            raise ValueError(f"invalid header {name!r}")
        parts += (name, b": ", value, b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)


def parse_head(buffer: bytes, *, request_method: bytes) -> tuple[Head, int] | None:
    """The response head at the start of ``buffer`` and its size, or ``None`` if incomplete."""
    end = _HEAD_END.search(buffer)
    if end is None:
        if len(buffer) > MAX_HEAD_SIZE:
            raise ProtocolError(f"response head larger than {MAX_HEAD_SIZE} bytes")
        return None
    if end.start() > MAX_HEAD_SIZE:
        raise ProtocolError(f"response head larger than {MAX_HEAD_SIZE} bytes")
    lines = _LINE_SPLIT.split(buffer[: end.start()])
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"malformed status line {lines[0][:100]!r}")
    status = int(code)
    headers: list[tuple[bytes, bytes]] = []
    lengths: set[bytes] = set()
    codings = b""
    connection = b""
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise ProtocolError(f"malformed header line {line[:100]!r}")
        name = name.lower()
        value = value.strip(b" \t")
        if _UNSAFE_VALUE.search(value) is not None:  # a bare CR (lines split at LF) or NUL
            raise ProtocolError(f"invalid character in header {name[:100]!r}")
        headers.append((name, value))
        if name == b"content-length":
            lengths.update(v.strip(b" \t") for v in value.split(b","))
        elif name == b"transfer-encoding":
            codings = value.lower() if not codings else codings + b"," + value.lower()
        elif name == b"connection":
            connection = value.lower() if not connection else connection + b"," + value.lower()
    framing, length = _framing(status, request_method, codings, lengths)
    tokens = {t.strip(b" \t") for t in connection.split(b",")}
    if version == b"HTTP/1.1":
        keep_alive = b"close" not in tokens
    else:  # an HTTP/1.0 message framed by Transfer-Encoding ends its connection (RFC 9112 6.1)
        keep_alive = b"keep-alive" in tokens and b"close" not in tokens and not codings
    if framing == "close":
        keep_alive = False
    return Head(status, reason, headers, framing, length, keep_alive), end.end()


def _framing(
    status: int, method: bytes, codings: bytes, lengths: set[bytes]
) -> tuple[Framing, int]:
    if method == b"HEAD" or status < 200 or status in (204, 304):
        return "none", 0
    if codings:
        last = codings.rsplit(b",", 1)[-1].strip(b" \t")
        return ("chunked", 0) if last == b"chunked" else ("close", 0)
    if lengths:
        if len(lengths) != 1:
            raise ProtocolError("conflicting Content-Length values")
        [value] = lengths
        if _DIGITS.fullmatch(value) is None:
            raise ProtocolError(f"malformed Content-Length {value[:30]!r}")
        length = int(value)
        return ("length", length) if length else ("none", 0)
    return "close", 0


class BodyDecoder:
    """A response body's bytes in (as they arrive), payload pieces out.

    ``done`` once the body is complete; ``extra`` then holds bytes the server sent past its end
    (a connection with extra bytes is not reusable).
    """

    __slots__ = ("_framing", "_pending", "_remaining", "_state", "done", "extra")

    def __init__(self, framing: Framing, length: int = 0) -> None:
        self._framing = framing
        self._remaining = length
        self._pending = b""  # an incomplete chunk-size or trailer line
        self._state = "size"  # chunked: size | data | data_end | trailer
        self.done = framing == "none"
        self.extra = b""

    def feed(self, data: bytes) -> list[bytes]:
        if self.done:
            self.extra += data
            return []
        if self._framing == "close":
            return [data] if data else []
        if self._framing == "length":
            if len(data) < self._remaining:
                self._remaining -= len(data)
                return [data] if data else []
            piece, self.extra = data[: self._remaining], data[self._remaining :]
            self._remaining = 0
            self.done = True
            return [piece]
        return self._feed_chunked(data)

    def eof(self) -> None:
        """The connection closed; raises :class:`ProtocolError` if the body is incomplete."""
        if self._framing == "close":
            self.done = True
        elif not self.done:
            raise ProtocolError("the server closed the connection before the body ended")

    def _feed_chunked(self, data: bytes) -> list[bytes]:
        pieces: list[bytes] = []
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pos = 0
        size = len(data)
        match = _PLAIN_CHUNK.match
        while pos < size:
            if self._state == "size" and (head := match(data, pos)) is not None:
                # Fast path: a plain size line and the whole chunk with its CRLF in hand (an SSE
                # stream is one chunk per event, dozens per read).
                start = head.end()
                end = start + int(head.group(1), 16)
                if end > start and data[end : end + 2] == b"\r\n":
                    pieces.append(data[start:end])
                    pos = end + 2
                    continue
            if self._state == "data":
                take = min(self._remaining, size - pos)
                pieces.append(data[pos : pos + take])
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "data_end"
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._pending = data[pos:]
                if len(self._pending) > _MAX_CHUNK_LINE:
                    raise ProtocolError("chunk header line too long")
                break
            line = data[pos:newline].rstrip(b"\r")
            pos = newline + 1
            if self._state == "data_end":
                if line:
                    raise ProtocolError("chunk data longer than its declared size")
                self._state = "size"
            elif self._state == "size":
                digits = line.split(b";", 1)[0].strip(b" \t")
                if _HEX.fullmatch(digits) is None:
                    raise ProtocolError(f"malformed chunk size {line[:40]!r}")
                self._remaining = int(digits, 16)
                self._state = "data" if self._remaining else "trailer"
            elif not line:  # the blank line after the (usually absent) trailer fields
                self.done = True
                self.extra = data[pos:]
                break
        return pieces
