"""RESP2, the Redis wire protocol, as a sans-IO codec.

:func:`encode_command` turns one command into bytes. A *reader* is fed the bytes that arrive and
hands back complete replies one at a time; :class:`RespReader` is the pure-Python one, and
``hiredis.Reader`` (C) has the same two methods, so the client takes either (see
:func:`make_reader`). Replies are plain values:

=============  =========================================================
RESP2 type     Python value
=============  =========================================================
``+OK``        ``bytes`` (``b"OK"``)
``$5 hello``   ``bytes``; ``$-1`` is ``None``
``:42``        ``int``
``*2 ...``     ``list`` of replies; ``*-1`` is ``None``
``-ERR x``     a :class:`~gomodel.errors.RedisReplyError` *value* (returned, not raised: the
               reply belongs to one caller, and raising is that caller's business)
=============  =========================================================

Malformed input raises :class:`~gomodel.errors.RedisProtocolError`; the connection that produced
it is no longer usable.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, TypeAlias, cast

import attrs

from gomodel.errors import RedisProtocolError, RedisReplyError

__all__ = [
    "Arg",
    "Encoded",
    "Parser",
    "Reader",
    "Reply",
    "RespReader",
    "encode_args",
    "encode_command",
    "hiredis_available",
    "make_reader",
]

Reply: TypeAlias = "bytes | int | list[Reply] | RedisReplyError | None"
Arg: TypeAlias = bytes | str | int

# Past this many consumed bytes the reader drops them from its buffer even when more is waiting,
# so a long pipelined burst does not keep every reply it has already handed out.
_COMPACT_AT = 64 * 1024
# Redis replies nest one or two levels; anything this deep is not a reply worth having.
_MAX_DEPTH = 32


class Reader(Protocol):
    """A sans-IO reply parser: ``feed`` bytes in, ``gets`` a reply out (``False``: need more)."""

    def feed(self, data: bytes, /) -> None: ...

    def gets(self) -> Reply | Literal[False]: ...


def encode_command(args: Sequence[Arg]) -> bytes:
    """One command as a RESP2 array of bulk strings. ``str`` is sent as UTF-8, ``int`` in
    decimal; anything else (``float`` included: Redis wants exact decimal text) is a TypeError."""
    return b"*%d\r\n" % len(args) + encode_args(args)


def encode_args(args: Sequence[Arg]) -> bytes:
    """Arguments as consecutive RESP2 bulk strings (a command's body without its ``*N``
    header), to splice into a command later (:class:`Encoded`)."""
    parts: list[str] = []
    add = parts.append
    for arg in args:
        kind = type(arg)  # exact types: a bool is not sent as 1, nor a str subclass guessed at
        if kind is str:
            text: str = arg  # type: ignore[assignment]
            if not text.isascii():
                return _encode_bytes(args)
        elif kind is int:
            text = str(arg)
        else:
            return _encode_bytes(args)
        add(f"${len(text)}\r\n{text}\r\n")
    # All ASCII (the common case: counter keys, numbers, ids): one character is one byte, so
    # the text is built once and encoded once.
    return "".join(parts).encode("ascii")


def _encode_bytes(args: Sequence[Arg]) -> bytes:
    parts: list[bytes] = []
    add = parts.append
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = cast(str, arg).encode()
        elif kind is int:
            data = b"%d" % cast(int, arg)
        elif kind is bytes:
            data = cast(bytes, arg)
        else:
            raise TypeError(f"a Redis argument must be bytes, str or int, not {kind.__name__}")
        add(b"$%d\r\n" % len(data))
        add(data)
        add(b"\r\n")
    return b"".join(parts)


@attrs.frozen
class Encoded:
    """``count`` arguments already encoded (:func:`encode_args`): a caller that sends the same
    arguments again and again (a counter's keys) encodes them once."""

    data: bytes
    count: int

    @classmethod
    def of(cls, args: Sequence[Arg]) -> Encoded:
        return cls(encode_args(args), len(args))


class _NeedData(Exception):
    """Raised inside the parser when the buffer ends before the reply does."""


_NEED_DATA = _NeedData()


class RespReader:
    """RESP2 replies from bytes fed in any split: a byte at a time, or many replies at once."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # where the next unread reply starts

    def feed(self, data: bytes | bytearray, /) -> None:
        self._buf += data

    def gets(self) -> Reply | Literal[False]:
        """The next complete reply, or ``False`` when the buffer holds only part of one."""
        if self._pos >= len(self._buf):
            return False
        try:
            reply, self._pos = self._parse(self._pos, 0)
        except _NeedData:
            return False
        if self._pos == len(self._buf) or self._pos >= _COMPACT_AT:
            del self._buf[: self._pos]
            self._pos = 0
        return reply

    def _parse(self, pos: int, depth: int) -> tuple[Reply, int]:
        buf = self._buf
        end = buf.find(b"\r\n", pos)
        if end < 0:
            raise _NEED_DATA
        kind = buf[pos]
        if kind == 0x24:  # $ bulk string
            size = _integer(buf, pos + 1, end)
            if size < 0:
                return None, end + 2
            start = end + 2
            stop = start + size
            if len(buf) < stop + 2:
                raise _NEED_DATA
            if buf[stop : stop + 2] != b"\r\n":
                raise RedisProtocolError("bulk string not followed by CRLF")
            return bytes(buf[start:stop]), stop + 2
        if kind == 0x3A:  # : integer
            return _integer(buf, pos + 1, end), end + 2
        if kind == 0x2B:  # + simple string
            return bytes(buf[pos + 1 : end]), end + 2
        if kind == 0x2D:  # - error
            return RedisReplyError(buf[pos + 1 : end].decode("utf-8", "replace")), end + 2
        if kind == 0x2A:  # * array
            count = _integer(buf, pos + 1, end)
            if count < 0:
                return None, end + 2
            if depth >= _MAX_DEPTH:
                raise RedisProtocolError("reply nested too deep")
            items: list[Reply] = []
            at = end + 2
            for _ in range(count):
                item, at = self._parse(at, depth + 1)
                items.append(item)
            return items, at
        raise RedisProtocolError(f"unknown RESP2 type byte {bytes([kind])!r}")


def _integer(buf: bytearray, start: int, end: int) -> int:
    text = bytes(buf[start:end])
    # int() accepts "+1", " 1" and "1_0"; RESP2 integers are an optional "-" and digits.
    if not text or not (text.isdigit() or (text[:1] == b"-" and text[1:].isdigit())):
        raise RedisProtocolError(f"not a RESP2 integer: {text[:32]!r}")
    return int(text)


def hiredis_available() -> bool:
    """Whether the C parser (PyPI ``hiredis``) can be imported."""
    try:
        import hiredis  # noqa: F401
    except ImportError:
        return False
    return True


Parser = Literal["auto", "hiredis", "python"]


def make_reader(parser: Parser) -> Reader:
    """A fresh reader of the named kind; both return the values in the module docstring.
    ``auto`` is hiredis when it can be imported, else the pure-Python one."""
    if parser == "python" or (parser == "auto" and not hiredis_available()):
        return RespReader()
    import hiredis

    reader: Reader = hiredis.Reader(protocolError=RedisProtocolError, replyError=RedisReplyError)
    return reader
