"""Faults the mock upstream can inject into its own answers: for the gateway's tests, for
yours, and for ``gomodel demo --fault NAME``.

A :class:`Fault` changes the reply the mock would have given (its default OpenAI or Anthropic
answer, or a scripted one). Arm one with :meth:`MockUpstream.fail
<gomodel.testing.MockUpstream.fail>`::

    from gomodel.testing import MockUpstream, faults

    mock = MockUpstream()
    mock.fail(faults.status(503))                              # the next request: 503
    mock.fail(faults.status(429, retry_after=2), times=3)      # the next three
    mock.fail(faults.cut_after(2, how="reset"), every=2)       # every other stream, forever
    mock.fail(faults.stall_after(1), path="/chat/completions", times=None)

The faults, what a client of the mock sees:

==============================  ============================================================
``status(code, ...)``           an error status with an OpenAI error body (or ``body``)
``delay_head(seconds)``         the answer, after ``seconds`` without a status line
``stall_after(n)``              ``n`` body pieces (stream events), then silence, forever
``cut_after(n, how=...)``       ``n`` pieces, then the connection ends: ``"fin"`` (a close
                                mid-body), ``"reset"`` (TCP RST on a socket) or
                                ``"truncated"`` (half of the next chunk, then a close)
``malformed_after(n)``          ``n`` events, then ``data: {not json`` where the next was
``error_event_after(n, ...)``   ``n`` events, then ``data: {"error": {...}}``, nothing more
``drip(gap)``                   the answer, with ``gap`` seconds between body pieces
==============================  ============================================================

A body *piece* is one ``bytes`` step of the reply: for the default stream, one SSE event (the
role chunk, content chunks, the finish chunk, usage, ``[DONE]``); for a JSON answer, its whole
body. Everything runs on ``trio.sleep``, so under ``MockClock`` every time is exact.

:data:`SCENARIOS` names ready-made mixes for the demo. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import attrs
import orjson

from gomodel.testing._reply import Close, Reply, Reset, Silence, Sleep, Step, Truncate, openai_error

__all__ = [
    "SCENARIOS",
    "Fault",
    "Scenario",
    "cut_after",
    "delay_head",
    "drip",
    "error_event_after",
    "malformed_after",
    "stall_after",
    "status",
]


@attrs.frozen
class Fault:
    """A change to one reply: ``apply(reply) -> reply``; ``name`` says what, for people."""

    name: str
    apply: Callable[[Reply], Reply] = attrs.field(repr=False)


def _split(reply: Reply, n: int) -> tuple[list[Step], list[Step]]:
    """The reply's steps up to and including its ``n``-th bytes step, and the rest."""
    seen = 0
    for index, step in enumerate(reply.body):
        if seen == n:
            return list(reply.body[:index]), list(reply.body[index:])
        if isinstance(step, bytes):
            seen += 1
    return list(reply.body), []


def status(
    code: int,
    message: str | None = None,
    *,
    body: bytes | None = None,
    retry_after: float | None = None,
    content_type: str = "application/json",
) -> Fault:
    """Answer ``code`` instead: the OpenAI error envelope (or ``body`` as it is)."""
    headers: list[tuple[str, str]] = [("content-type", content_type)]
    if retry_after is not None:
        headers.append(("retry-after", f"{retry_after:g}"))
    if body is None:
        kind = "server_error" if code >= 500 else "rate_limit_error" if code == 429 else "error"
        text = message or f"injected fault: HTTP {code}"
        body = orjson.dumps(openai_error(text, error_type=kind, code=f"http_{code}"))
    reply = Reply(code, tuple(headers), (body,), chunked=False)
    return Fault(f"status {code}", lambda _: reply)


def delay_head(seconds: float) -> Fault:
    """The same answer, its status line after ``seconds``."""
    return Fault(f"delay head {seconds:g}s", lambda r: attrs.evolve(r, headers_delay=seconds))


def stall_after(n: int) -> Fault:
    """``n`` body pieces, then nothing, with the connection open (until the client leaves)."""

    def apply(reply: Reply) -> Reply:
        head, _ = _split(reply, n)
        return attrs.evolve(reply, body=(*head, Silence()), chunked=True)

    return Fault(f"stall after {n}", apply)


def cut_after(n: int, *, how: Literal["fin", "reset", "truncated"] = "fin") -> Fault:
    """``n`` body pieces, then the connection ends without the rest of the body."""

    def apply(reply: Reply) -> Reply:
        head, rest = _split(reply, n)
        end: Step
        if how == "truncated":
            following = next((s for s in rest if isinstance(s, bytes)), b"data: {}\n\n")
            end = Truncate(following)
        else:
            end = Reset() if how == "reset" else Close()
        return attrs.evolve(reply, body=(*head, end), chunked=True)

    return Fault(f"cut after {n} ({how})", apply)


def malformed_after(n: int) -> Fault:
    """``n`` events, then an event whose data is not JSON, then the rest."""

    def apply(reply: Reply) -> Reply:
        head, rest = _split(reply, n)
        return attrs.evolve(reply, body=(*head, b"data: {not json\n\n", *rest), chunked=True)

    return Fault(f"malformed after {n}", apply)


def error_event_after(
    n: int, message: str = "injected fault: the model is overloaded", *, code: int = 503
) -> Fault:
    """``n`` events, then ``data: {"error": {..., "code": <code>}}`` and the end of the body
    (the way OpenAI-compatible servers report a failure inside a 200 stream)."""
    error = {"error": {"message": message, "type": "server_error", "code": code}}
    event = b"data: " + orjson.dumps(error) + b"\n\n"

    def apply(reply: Reply) -> Reply:
        head, _ = _split(reply, n)
        return attrs.evolve(reply, body=(*head, event), chunked=True)

    return Fault(f"error event after {n}", apply)


def drip(gap: float) -> Fault:
    """The same answer, ``gap`` seconds between its body pieces (a slow provider)."""

    def apply(reply: Reply) -> Reply:
        steps: list[Step] = []
        for step in reply.body:
            if isinstance(step, bytes) and any(isinstance(s, bytes) for s in steps):
                steps.append(Sleep(gap))
            steps.append(step)
        return attrs.evolve(reply, body=tuple(steps), chunked=True)

    return Fault(f"drip {gap:g}s", apply)


@attrs.frozen
class Scenario:
    """A named mix for ``gomodel demo --fault NAME``: ``fault`` on every ``every``-th request."""

    fault: Fault
    every: int = 1
    description: str = ""


SCENARIOS: Mapping[str, Scenario] = {
    "flaky": Scenario(status(503), 2, "every other request: 503"),
    "down": Scenario(status(503), 1, "every request: 503"),
    "rate_limited": Scenario(status(429, retry_after=1), 2, "every other request: 429"),
    "slow": Scenario(delay_head(2.0), 1, "every answer starts after 2 s"),
    "stall": Scenario(stall_after(1), 2, "every other stream stalls after its first event"),
    "cut": Scenario(cut_after(1), 2, "every other stream ends after its first event"),
    "reset": Scenario(cut_after(1, how="reset"), 2, "every other stream: a TCP reset"),
    "malformed": Scenario(malformed_after(1), 2, "every other stream: a malformed event"),
    "error_event": Scenario(error_event_after(1), 2, "every other stream: an error event"),
    "drip": Scenario(drip(0.5), 1, "half a second between the pieces of every answer"),
}
