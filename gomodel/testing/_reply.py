"""Scripted replies: what the mock upstream sends back, step by step.

A :class:`Reply` is a status line, headers, and a tuple of body *steps*. The connection handler
in :mod:`gomodel.testing._h11server` runs the steps in order after the response headers::

    bytes       one chunk of the body
    Sleep(s)    trio.sleep(s): virtual time under MockClock
    Silence()   sleep until the client goes away
    Close()     close the connection with the body incomplete
    Reset()     abort the connection (TCP RST on real sockets; a plain close in memory)
    Truncate(b) start a chunk of len(b) bytes, send half of them, close the connection

After the last step (if none of them ended the connection) the body ends normally.
This module is pure: it imports no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeAlias

import attrs
import orjson

__all__ = ["Close", "Reply", "Reset", "Silence", "Sleep", "Step", "Truncate", "openai_error"]


@attrs.frozen
class Sleep:
    """Pause the body for ``seconds`` (``trio.sleep``)."""

    seconds: float


@attrs.frozen
class Silence:
    """Send nothing more, ever; the connection stays open until the client leaves."""


@attrs.frozen
class Close:
    """Close the connection abruptly, leaving the body incomplete."""


@attrs.frozen
class Reset:
    """Abort the connection: ``SO_LINGER (1, 0)`` then close on a socket, so the peer gets RST."""


@attrs.frozen
class Truncate:
    """Announce a chunk of ``len(data)`` bytes, send the first half, close the connection."""

    data: bytes


Step: TypeAlias = bytes | Sleep | Silence | Close | Reset | Truncate

_CONTROL = (Sleep, Silence, Close, Reset, Truncate)
_DONE = b"data: [DONE]\n\n"


def openai_error(
    message: str, *, error_type: str, code: str | None = None, param: str | None = None
) -> dict[str, object]:
    """The OpenAI error envelope ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _to_headers(value: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(val)) for name, val in value)


def _to_steps(value: Iterable[Step]) -> tuple[Step, ...]:
    steps = tuple(value)
    for step in steps:
        if not isinstance(step, bytes | Sleep | Silence | Close | Reset | Truncate):
            raise TypeError(
                f"a body step must be bytes, Sleep, Silence, Close, Reset or Truncate: {step!r}"
            )
    return steps


@attrs.frozen
class Reply:
    """One scripted HTTP response.

    With ``chunked=True`` the body goes out with ``Transfer-Encoding: chunked``, one chunk per
    ``bytes`` step; otherwise ``Content-Length`` is the sum of the ``bytes`` steps. Framing headers
    given in ``headers`` win over these. ``headers_delay`` is slept before the status line is
    sent; ``float("inf")`` never answers.
    """

    status: int = 200
    headers: tuple[tuple[str, str], ...] = attrs.field(
        default=(("content-type", "application/json"),), converter=_to_headers
    )
    body: tuple[Step, ...] = attrs.field(default=(), converter=_to_steps)
    headers_delay: float = 0.0
    chunked: bool = True

    @classmethod
    def json(cls, obj: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        """A JSON body with ``Content-Length``."""
        return cls(
            status,
            (("content-type", "application/json"), *headers),
            (orjson.dumps(obj),),
            chunked=False,
        )

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        code: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> Reply:
        """An OpenAI error envelope; ``error_type`` is ``server_error`` for 5xx by default."""
        if error_type is None:
            error_type = "server_error" if status >= 500 else "invalid_request_error"
        return cls.json(openai_error(message, error_type=error_type, code=code), status, headers)

    @classmethod
    def sse(
        cls,
        events: Iterable[Mapping[str, object] | bytes | Sleep | Silence | Close | Reset | Truncate],
        gap: float = 0.0,
        done: bool = True,
    ) -> Reply:
        """A ``text/event-stream`` body, one chunk per event.

        A mapping is sent as ``data: <compact JSON>\\n\\n`` and ``bytes`` are sent as they are.
        ``Sleep(gap)`` goes between consecutive events (when ``gap > 0``); ``data: [DONE]\\n\\n``
        follows the last event at once when ``done``. Control steps (``Sleep``, ``Close``, ...)
        may be mixed in and run where they stand.
        """
        steps: list[Step] = []
        seen_event = False
        for item in events:
            if isinstance(item, _CONTROL):
                steps.append(item)
                continue
            if seen_event and gap > 0:
                steps.append(Sleep(gap))
            seen_event = True
            if isinstance(item, bytes):
                steps.append(item)
            else:
                steps.append(b"data: " + orjson.dumps(item) + b"\n\n")
        if done:
            steps.append(_DONE)
        headers = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))
        return cls(200, headers, steps)

    @classmethod
    def html(cls, status: int, text: str) -> Reply:
        """An HTML page, such as a load balancer's 502."""
        return cls(
            status,
            (("content-type", "text/html; charset=utf-8"),),
            (text.encode("utf-8"),),
            chunked=False,
        )
