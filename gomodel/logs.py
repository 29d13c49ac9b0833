"""Logging set-up, the same in every process that serves: ``gomodel serve`` with one worker,
each of its ``--workers N`` processes, and ``hypercorn gomodel.asgi:app``.

Log lines carry client bytes (a model name, a path, an exception's message), so every record
is rendered here, once, whatever the call site passed:

* each value interpolated into the message (``log.info("model=%s", model)``) is capped at
  :data:`MAX_VALUE_CHARS` and rendered with ``\\`` doubled and every control character escaped:
  CR, LF, tab and the rest of C0, DEL, C1 (NEL among them), the Unicode line and paragraph
  separators, bidirectional overrides, isolates and marks, and zero-width and other invisible
  format characters (``\\n``, ``\\x1b``, ``\\u2028``...). Numbers are formatted as given;
* the message as a whole (also one built before the call) is capped at
  :data:`MAX_MESSAGE_CHARS` and gets the same escaping of control characters, so a record is
  always one line;
* ``LOG_FORMAT=text``: ``time LEVEL logger: message``; a traceback follows on lines that start
  with ``  | `` (never a time), its control characters other than the line breaks escaped;
* ``LOG_FORMAT=json``: one JSON object per line (orjson): ``time``, ``level``, ``logger``,
  ``message`` and, with a traceback, ``exception``, each escaped as above before encoding.

hypercorn's loggers (``hypercorn.error``, ``hypercorn.access``) write through handlers of their
own with hypercorn's formatter, which escapes nothing (its access line holds the decoded path
and the client's headers): :class:`EscapeRecords` on those loggers renders their records the
same way before any handler sees them.
"""

from __future__ import annotations

import logging
import numbers
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from gomodel.config import Config

__all__ = [
    "MAX_MESSAGE_CHARS",
    "MAX_VALUE_CHARS",
    "EscapeRecords",
    "JsonFormatter",
    "TextFormatter",
    "escape_value",
    "render_message",
    "setup_logging",
]

MAX_VALUE_CHARS = 1024
MAX_MESSAGE_CHARS = 16384

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CONTROLS = (
    r"\x00-\x09\x0b-\x1f\x7f-\x9f"  # C0 but LF, DEL, C1
    r"\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"  # separators, bidi, invisible
)
_UNSAFE_VALUE = re.compile(rf"[\\\n{_CONTROLS}]")
_UNSAFE_TEXT = re.compile(rf"[\n{_CONTROLS}]")
_UNSAFE_BLOCK = re.compile(rf"[{_CONTROLS}]")  # tracebacks keep their line breaks
_NAMED = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_HYPERCORN_LOGGERS = ("hypercorn.error", "hypercorn.access")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more chars]"


def _plain(text: str) -> bool:
    """Printable ASCII without a backslash: nothing to escape. Checked in C, it spares the
    regex pass for nearly every value of a request line (docs/benchmarks.md)."""
    return text.isascii() and text.isprintable() and "\\" not in text


def escape_value(text: str) -> str:
    """One value as it appears in a log line: capped, ``\\`` doubled, controls escaped."""
    if len(text) <= MAX_VALUE_CHARS and _plain(text):
        return text
    return _UNSAFE_VALUE.sub(_escape_char, _cap(text, MAX_VALUE_CHARS))


def _escape_text(text: str) -> str:
    """A whole message or line: controls escaped (``\\`` is left as it is)."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE_TEXT.sub(_escape_char, text)


class _Shown:
    """An argument that is neither a string nor a number: escaped for ``%s`` and ``%r``."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return escape_value(str(self.value))

    def __repr__(self) -> str:
        return escape_value(repr(self.value))


def _shown(value: object) -> object:
    if type(value) is str:  # a str subclass (an enum) keeps its own str() and repr()
        return escape_value(value)
    if value is None or isinstance(value, (int, float, numbers.Number)):
        return value  # bool and IntEnum are ints: %d, %.2f and friends keep working
    return _Shown(value)


class _ShownMapping(Mapping[str, object]):
    """``log.info("%(name)s", {...})`` (hypercorn's access line): values shown as above."""

    def __init__(self, inner: Mapping[str, object]) -> None:
        self.inner = inner

    def __getitem__(self, key: str) -> object:
        return _shown(self.inner[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def render_message(record: logging.LogRecord) -> str:
    """The record's message with every interpolated value escaped; always one line."""
    message = str(record.msg)
    args: Any = record.args
    if args:
        if isinstance(args, Mapping):
            message = message % _ShownMapping(args)
        else:
            message = message % tuple(map(_shown, args if isinstance(args, tuple) else (args,)))
    return _escape_text(_cap(message, MAX_MESSAGE_CHARS))


def _escape_block(text: str) -> str:
    return _UNSAFE_BLOCK.sub(_escape_char, text)


class _SecondStamps(logging.Formatter):
    """The stdlib's default time stamp (``2026-12-03 10:48:06,123``), its date and time part
    rendered once a second rather than once a record: ``localtime`` and ``strftime`` were a
    tenth of the request line's cost (docs/benchmarks.md)."""

    _stamp: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        seen, stamp = self._stamp
        if second != seen:
            stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (second, stamp)
        msec_format = self.default_msec_format
        return stamp if msec_format is None else msec_format % (stamp, record.msecs)


class TextFormatter(_SecondStamps):
    """``time LEVEL logger: message``, one line per record; tracebacks on ``  | `` lines."""

    def __init__(self, fmt: str = _TEXT, datefmt: str | None = None) -> None:
        super().__init__(fmt, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        record.message = render_message(record)
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = _escape_text(self.formatMessage(record))
        extra = _details(self, record)
        if extra:
            line += "".join(f"\n  | {part}" for part in _escape_block(extra).splitlines())
        return line


class JsonFormatter(_SecondStamps):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` [, ``exception``]."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "logger": escape_value(record.name),
            "message": render_message(record),
        }
        extra = _details(self, record)
        if extra:
            doc["exception"] = _escape_block(extra)
        return orjson.dumps(doc).decode()


def _details(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    """The traceback and stack of a record, as the stdlib formatter prints them."""
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    parts = [record.exc_text] if record.exc_text else []
    if record.stack_info:
        parts.append(formatter.formatStack(record.stack_info))
    return "\n".join(parts)


class EscapeRecords(logging.Filter):
    """On a logger whose handlers are not ours: render each record's message as ours do."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args or not isinstance(record.msg, str) or _UNSAFE_TEXT.search(record.msg):
            record.msg = render_message(record)
            record.args = ()
        return True


def setup_logging(config: Config) -> None:
    """``LOG_LEVEL`` and ``LOG_FORMAT`` on the root logger, unless the host program (a server
    started with its own logging configuration, a test) already configured it. hypercorn's
    loggers are escaped either way."""
    root = logging.getLogger()
    ours = not root.handlers
    if ours:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if config.log_format == "json" else TextFormatter())
        logging.basicConfig(level=config.log_level.upper(), handlers=[handler])
        # One line per request is on the hot path: skip what no format here prints (the
        # caller's file and line, found by walking the stack; process and task names), as the
        # logging HOWTO's "Optimization" section suggests. Process and thread ids stay:
        # hypercorn's own log format prints %(process)d, which fails on None.
        logging._srcfile = None
        logging.logMultiprocessing = False
        logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # 3.12+; harmless before
    for name in _HYPERCORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapeRecords) for f in logger.filters):
            logger.addFilter(EscapeRecords())
    # httpx logs every upstream request at INFO; the gateway's own line per request says more.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
