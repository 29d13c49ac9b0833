"""Hold a stream's prelude back until its first content, so a failure before it stays invisible.

A chat stream starts with a role chunk (``{"delta": {"role": "assistant", "content": ""}}``),
and some providers add keep-alive comments or a chunk with no choices (Azure's
``prompt_filter_results``) before the first token. None of that says anything yet, but once
the gateway relays it the client's response has started, and a provider failing right after
can only end the stream with an error event. :class:`HoldBack` wraps the stream stage of an
attempt that another attempt could replace: it keeps what the client would get while it is
only prelude, and releases it, bytes untouched and in order, together with the first event
that carries content. Until then the relay has sent nothing, so a failure (an error event, a
malformed event, a cut, a stall) is a failure *before the response started*, and the attempt
loop may try the next target or retry with nobody the wiser.

What counts as prelude is a :class:`Prelude` rule for the client's dialect:

* chat (:data:`CHAT_PRELUDE`): comments, chunks whose choices carry no content, no tool call,
  no refusal, no reasoning and no ``finish_reason`` (a role and an empty ``content`` are
  prelude), chunks with no choices and no usage. A chunk that is not JSON is not relayed at
  all: it is a failure (``malformed_stream``) while held;
* Responses (:data:`RESPONSES_PRELUDE`): comments, ``response.created``,
  ``response.in_progress``, ``response.output_item.added``, ``response.content_part.added``;
* Messages (:data:`MESSAGES_PRELUDE`): comments, ``message_start``, ``content_block_start``,
  ``ping``.

A failure the inner stage reports in-band is never released while held, even when that stage
would relay it (Anthropic's own ``error`` event on ``/v1/messages``): the attempt failed before
the response started.

Anything else (a content delta, a tool call, ``finish_reason``, ``[DONE]``, the end of the
stream with the inner stage done) releases the prelude. Held bytes that never got released
(the stream failed first) are dropped with the attempt.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError, UpstreamError
from gomodel.translate.stage import StreamResult, StreamStage
from gomodel.wire.sse import Event, SSEDecoder

__all__ = ["CHAT_PRELUDE", "MESSAGES_PRELUDE", "RESPONSES_PRELUDE", "HoldBack", "Prelude"]


class Malformed(Exception):
    """An event the client's parser could not read."""


# An event the client would get -> whether it is prelude; raises Malformed.
Prelude = Callable[[Event], bool]

_EMPTY = (None, "")
_PRELUDE_DELTA_KEYS = frozenset({"role", "content", "refusal"})


def _json(event: Event) -> Any:
    assert event.data is not None
    try:
        return orjson.loads(event.data)
    except orjson.JSONDecodeError:
        raise Malformed(event.data[:80].decode("utf-8", "replace"))


def _chat_prelude(event: Event) -> bool:
    if event.data is None:
        return True  # a comment or keep-alive
    if event.is_done:
        return False
    chunk = _json(event)
    if not isinstance(chunk, dict):
        raise Malformed("not a JSON object")
    if chunk.get("usage") is not None:
        return False
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict) or choice.get("finish_reason") is not None:
            return False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return False
        for key, value in delta.items():
            if key not in _PRELUDE_DELTA_KEYS and value not in _EMPTY:
                return False  # tool_calls, reasoning, function_call, ...
            if key in ("content", "refusal") and value not in _EMPTY:
                return False
    return True


_RESPONSES_PRELUDE_TYPES = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    }
)


def _responses_prelude(event: Event) -> bool:
    if event.data is None:
        return True
    name = event.event
    if name is None:
        payload = _json(event)
        name = payload.get("type") if isinstance(payload, dict) else None
    return name in _RESPONSES_PRELUDE_TYPES


_MESSAGES_PRELUDE_TYPES = frozenset({"message_start", "content_block_start", "ping"})


def _messages_prelude(event: Event) -> bool:
    if event.data is None:
        return True
    name = event.event
    if name is None:
        payload = _json(event)
        name = payload.get("type") if isinstance(payload, dict) else None
    return name in _MESSAGES_PRELUDE_TYPES


CHAT_PRELUDE: Prelude = _chat_prelude
RESPONSES_PRELUDE: Prelude = _responses_prelude
MESSAGES_PRELUDE: Prelude = _messages_prelude


@attrs.define
class HoldBack:
    """Wraps ``inner`` (any stream stage) and holds its output while it is prelude."""

    inner: StreamStage
    prelude: Prelude
    provider_name: str = "provider"
    _held: list[bytes] = attrs.Factory(list)
    _released: bool = False
    _error: GatewayError | None = None

    @property
    def error(self) -> GatewayError | None:
        return self._error or self.inner.error

    @property
    def holding(self) -> bool:
        return not self._released

    def feed(self, event: Event) -> bytes | None:
        out = self.inner.feed(event)
        if self._released or out is None:
            return out
        if self.inner.error is not None:
            return None  # a failure (even one a stage relays, Anthropic's error event) is held
        return self._hold(out)

    def finish(self) -> bytes | None:
        tail = self.inner.finish()
        if self._released:
            return tail
        if tail is not None:
            released = self._hold(tail)
            if released is not None:
                return released
        if self.inner.result().done and self._held and self.error is None:
            return self._release(b"")  # a complete stream that was all prelude
        return None  # a failure: the held bytes go with the attempt

    def result(self) -> StreamResult:
        return self.inner.result()

    def _hold(self, out: bytes) -> bytes | None:
        try:
            prelude = all(self.prelude(event) for event in _events(out))
        except Malformed as exc:
            self._error = UpstreamError(
                f"{self.provider_name} sent a stream event that is not JSON: {exc}",
                code="malformed_stream",
            )
            return None
        if prelude:
            self._held.append(out)
            return None
        return self._release(out)

    def _release(self, out: bytes) -> bytes:
        self._released = True
        held, self._held = self._held, []
        return b"".join([*held, out]) if held else out


def _events(out: bytes) -> list[Event]:
    """The events in bytes a stage produced (complete events, one or more)."""
    decoder = SSEDecoder()
    events = decoder.feed(out)
    decoder.finish()
    return events
