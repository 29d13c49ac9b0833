"""Log lines cannot be forged: client bytes are escaped, one line per record, both formats."""

from __future__ import annotations

import enum
import io
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import hypercorn.config
import orjson
import pytest
import trio

from gomodel.logs import (
    MAX_VALUE_CHARS,
    EscapeRecords,
    JsonFormatter,
    TextFormatter,
    render_message,
)
from tests.app.gateway import MASTER_KEY, Gateway, start_gateway


class Shade(enum.StrEnum):
    DARK = "dark\n"


FORGED_MODEL = "x\nrequest_id=forged status=200"
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\nvalue\r\u2028forged")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("gomodel.requests", logging.INFO, __file__, 1, msg, args, exc_info)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("plain", "plain"),
        ("a\nb", r"a\nb"),
        ("a\r\nb", r"a\r\nb"),
        ("a\tb", r"a\tb"),
        ("a\\nb", r"a\\nb"),
        ("a\x00b\x1b[31mred", r"a\x00b\x1b[31mred"),
        ("a\x7fb\x85c\x9bd", r"a\x7fb\x85c\x9bd"),
        ("a\u2028b\u2029c", r"a\u2028b\u2029c"),
        ("evil\u202egpj.exe", r"evil\u202egpj.exe"),
        ("a\u2066b\u2069\u200e\u200f\u061c", r"a\u2066b\u2069\u200e\u200f\u061c"),
        ("zero\u200bwidth\ufeff", r"zero\u200bwidth\ufeff"),
        ("café ünïcode", "café ünïcode"),
    ],
)
def test_value_escaped(value: str, shown: str) -> None:
    """Control characters, separators and bidi/invisible characters in a value are escaped;
    printable text (also non-ASCII) is kept."""
    assert render_message(_record("model=%s end", value)) == f"model={shown} end"


def test_non_string_values() -> None:
    """Numbers format as given; other objects (an exception, bytes, a str enum) keep their own
    str() and repr(), escaped."""
    message = render_message(
        _record(
            "%d %.1f %s %s %r %s %s", 7, 2.25, True, None, ValueError("a\nb"), b"\n", Shade.DARK
        )
    )
    assert message == r"7 2.2 True None ValueError('a\\nb') b'\\n' dark\n"


def test_long_value_capped() -> None:
    """A value longer than the cap is cut, saying how much was left out."""
    message = render_message(_record("model=%s end", "m" * (MAX_VALUE_CHARS + 10)))
    assert message == "model=" + "m" * MAX_VALUE_CHARS + "...[10 more chars] end"


def test_message_without_args_escaped() -> None:
    """A message built before the call (an f-string) is one line too."""
    assert render_message(_record("built\nforged")) == r"built\nforged"


def test_mapping_args() -> None:
    """``%(name)s`` with a mapping (hypercorn's access line) is escaped per value."""
    record = _record("%(r)s %(s)s", {"r": "GET /a\r\nb", "s": 200})
    assert render_message(record) == r"GET /a\r\nb 200"


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_one_line_per_record(formatter: logging.Formatter) -> None:
    """Both formats give one line per record, the value visibly escaped; JSON is real JSON."""
    line = formatter.format(_record("model=%s status=%d", FORGED_MODEL, 404))
    assert "\n" not in line and "\r" not in line
    assert r"model=x\nrequest_id=forged status=200 status=404" in (
        orjson.loads(line)["message"] if isinstance(formatter, JsonFormatter) else line
    )


def test_text_traceback_on_marked_lines() -> None:
    """In text, a traceback follows on lines that start with "  | "; the exception's message
    cannot start a line of its own."""
    text = TextFormatter().format(_record("failed %s", "x", exc=True))
    first, *rest = text.split("\n")
    assert re.fullmatch(rf"{TIME} INFO gomodel.requests: failed x", first)
    assert rest and all(line.startswith("  | ") for line in rest)
    assert "\r" not in text and "\u2028" not in text
    assert rest[-2:] == ["  | ValueError: bad", "  | value\\r\\u2028forged"]


def test_json_traceback_is_a_field() -> None:
    """In JSON the traceback is the ``exception`` field of the one line."""
    line = JsonFormatter().format(_record("failed", exc=True))
    assert "\n" not in line
    doc = orjson.loads(line)
    assert doc["message"] == "failed" and doc["level"] == "INFO"
    assert doc["logger"] == "gomodel.requests"
    assert doc["exception"].startswith("Traceback") and "\\u2028" in doc["exception"]


async def test_hypercorn_access_line_escaped() -> None:
    """hypercorn's access line (its own formatter, the decoded path) is escaped by the filter
    setup_logging puts on hypercorn's loggers."""
    out = io.StringIO()
    access = logging.getLogger("tests.hypercorn.access")
    access.propagate = False
    access.setLevel(logging.INFO)
    handler = logging.StreamHandler(out)
    access.addHandler(handler)
    access.addFilter(EscapeRecords())
    config = hypercorn.config.Config()
    config.accesslog = access
    scope = {
        "type": "http",
        "scheme": "http",
        "method": "GET",
        "path": "/p/openai/a\r\n127.0.0.1 - GET /forged",
        "query_string": b"",
        "headers": [(b"user-agent", b"ua\nforged")],
        "http_version": "1.1",
        "client": ("127.0.0.1", 1),
    }
    try:
        await config.log.access(scope, {"status": 200, "headers": []}, 0.01)  # type: ignore[arg-type]
    finally:
        access.removeHandler(handler)
    [line] = out.getvalue().splitlines()
    assert r"/p/openai/a\r\n127.0.0.1 - GET /forged" in line


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[dict[str, io.StringIO]]:
    """The root logger also writes, at INFO, through both of the gateway's formatters."""
    caplog.set_level(logging.INFO)
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = [logging.StreamHandler(streams["text"]), logging.StreamHandler(streams["json"])]
    handlers[0].setFormatter(TextFormatter())
    handlers[1].setFormatter(JsonFormatter())
    root = logging.getLogger()
    for handler in handlers:
        root.addHandler(handler)
    try:
        yield streams
    finally:
        for handler in handlers:
            root.removeHandler(handler)


async def test_gateway_request_lines_not_forged(
    nursery: trio.Nursery, tmp_path: Path, captured: dict[str, io.StringIO]
) -> None:
    """A model name with a line break and a path with ``%0d%0a`` leave one request line each,
    in both formats, the values visibly escaped."""
    gw: Gateway = await start_gateway(nursery, tmp_path)
    async with gw.http() as client:
        root = gw.url.removesuffix("/v1")
        await client.post(f"{root}/p/openai/chat/completions", json={"model": FORGED_MODEL})
        await client.get(f"{root}/p/openai/files/a%0d%0arequest_id=forged%20status=200")
    await gw.records(2)

    text = captured["text"].getvalue().splitlines()
    assert all(re.match(TIME, line) or line.startswith("  | ") for line in text), text
    requests = [line for line in text if " gomodel.requests: " in line]
    assert len(requests) == 2
    assert r"model=x\nrequest_id=forged status=200 route=passthrough" in requests[0]
    assert "/p/openai/files/a%0D%0Arequest_id=forged%20status=200 request_id=" in requests[1]

    docs = [orjson.loads(line) for line in captured["json"].getvalue().splitlines()]
    messages = [doc["message"] for doc in docs if doc["logger"] == "gomodel.requests"]
    assert len(messages) == 2
    assert r"model=x\nrequest_id=forged status=200" in messages[0]
    assert all("\n" not in message for message in messages)
    assert MASTER_KEY not in captured["text"].getvalue()


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_time_stamps_are_the_stdlib_ones(formatter: logging.Formatter) -> None:
    """The date and time part is rendered once a second: records within a second, in the next
    one and back again get exactly the stdlib's stamp."""
    stdlib = logging.Formatter()
    for created in (1_700_000_000.25, 1_700_000_000.999, 1_700_000_001.0, 1_700_000_000.5):
        record = _record("x")
        record.created, record.msecs = created, (created % 1) * 1000
        assert formatter.formatTime(record) == stdlib.formatTime(record)
        assert formatter.formatTime(record, "%H") == stdlib.formatTime(record, "%H")
