"""The RESP2 codec: one table of replies read by both parsers, whole, byte by byte and packed
together; malformed input is a protocol error; commands encode as arrays of bulk strings."""

from __future__ import annotations

from typing import Literal

import pytest

from gomodel.errors import RedisProtocolError, RedisReplyError
from gomodel.redis.resp import Encoded, Reader, Reply, encode_args, encode_command, make_reader

PARSERS: list[Literal["hiredis", "python"]] = ["hiredis", "python"]

CASES: list[tuple[bytes, Reply]] = [
    (b"+OK\r\n", b"OK"),
    (b"+\r\n", b""),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9007199254740993\r\n", 9007199254740993),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk string may hold CRLF
    (b"*0\r\n", []),
    (b"*-1\r\n", None),
    (b"*3\r\n:1\r\n$-1\r\n+x\r\n", [1, None, b"x"]),
    (b"*2\r\n*1\r\n:1\r\n*0\r\n", [[1], []]),
    (b"$3\r\n\xff\x00\xfe\r\n", b"\xff\x00\xfe"),
]


def _normal(reply: Reply) -> object:
    """Errors compare by message."""
    if isinstance(reply, RedisReplyError):
        return ("error", reply.message)
    if isinstance(reply, list):
        return [_normal(r) for r in reply]
    return reply


def _drain(reader: Reader) -> list[object]:
    out: list[object] = []
    while (reply := reader.gets()) is not False:
        out.append(_normal(reply))
    return out


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize(("wire", "expected"), CASES)
def test_reply_whole_and_byte_by_byte(
    parser: Literal["hiredis", "python"], wire: bytes, expected: Reply
) -> None:
    """Each reply reads the same fed whole or one byte at a time, and only once complete."""
    whole = make_reader(parser)
    whole.feed(wire)
    assert _drain(whole) == [_normal(expected)]
    split = make_reader(parser)
    seen: list[object] = []
    for i in range(len(wire)):
        split.feed(wire[i : i + 1])
        got = _drain(split)
        assert not got or i == len(wire) - 1
        seen.extend(got)
    assert seen == [_normal(expected)]


@pytest.mark.parametrize("parser", PARSERS)
def test_many_replies_in_one_read_come_out_in_order(parser: Literal["hiredis", "python"]) -> None:
    """A pipelined burst (every case, then an error) yields every reply in order."""
    reader = make_reader(parser)
    reader.feed(b"".join(w for w, _ in CASES) + b"-NOSCRIPT No matching script\r\n+tail")
    got = _drain(reader)
    assert got == [_normal(e) for _, e in CASES] + [("error", "NOSCRIPT No matching script")]
    reader.feed(b"\r\n")
    assert _drain(reader) == [b"tail"]


@pytest.mark.parametrize("parser", PARSERS)
def test_error_reply_is_a_value_with_a_code(parser: Literal["hiredis", "python"]) -> None:
    """An error reply is handed back (not raised) as RedisReplyError, its code the first word."""
    reader = make_reader(parser)
    reader.feed(b"*2\r\n-WRONGTYPE Operation against a key\r\n:1\r\n")
    reply = reader.gets()
    assert isinstance(reply, list) and isinstance(reply[0], RedisReplyError)
    assert reply[0].code == "WRONGTYPE" and reply[1] == 1


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("wire", [b"?1\r\n", b":1x\r\n", b"$3\r\nabcde\r\n"])
def test_malformed_input_is_a_protocol_error(
    parser: Literal["hiredis", "python"], wire: bytes
) -> None:
    """Bytes that are not RESP2 raise RedisProtocolError before the reader runs dry (hiredis
    notices a bulk string's missing CRLF one reply later, which drops the connection all the
    same)."""
    reader = make_reader(parser)
    reader.feed(wire)
    with pytest.raises(RedisProtocolError):
        _drain(reader)


def test_encode_command() -> None:
    """A command is an array of bulk strings; str is UTF-8 and int decimal."""
    assert encode_command(["SET", b"k\r\n", 12, "é"]) == (
        b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n$2\r\n\xc3\xa9\r\n"
    )
    with pytest.raises(TypeError):
        encode_command(["INCRBYFLOAT", "k", 0.1])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        encode_command(["SET", "k", True])


def test_encoded_commands_read_back() -> None:
    """What the encoder writes, the reader reads: a list of the arguments as bytes."""
    reader = make_reader("python")
    reader.feed(encode_command(["EVALSHA", "abc", 1, "key", -5]))
    assert reader.gets() == [b"EVALSHA", b"abc", b"1", b"key", b"-5"]


@pytest.mark.parametrize(
    "args",
    [["EVALSHA", "k:h/a", 0, -7, 2**51], ["é", 1], [b"\x00\r\n", "x"], ["k", 1, b"v", "ü"], []],
    ids=["ascii", "utf-8", "bytes", "mixed", "empty"],
)
def test_encoded_arguments_splice_into_the_same_command(args: list[str | int | bytes]) -> None:
    """Arguments encoded ahead (the limit store's cached keys) give the bytes the whole command
    would have: ASCII text and numbers, UTF-8, raw bytes, and a mix."""
    head, tail = args[:1], args[1:]
    spliced = b"*%d\r\n" % len(args) + encode_args(head) + Encoded.of(tail).data
    assert spliced == encode_command(args)
    assert Encoded.of(tail).count == len(tail)
