"""The stream-stage protocol: what every stream observer and translator implements.

The relay hands each complete upstream SSE event to one stage and relays what the stage says:

* ``feed(event)`` returns the bytes the client gets for ``event`` (``None``: nothing). A stage
  on the fast path returns ``event.raw``, untouched; a translator returns events it encoded.
* ``error`` becomes set when the upstream reported a failure in-band (Anthropic's ``error``
  event, an ``{"error": ...}`` chunk, ``response.failed``); the relay checks it after every
  event and ends the stream (or, before the response started, answers with the error's status).
* ``finish()`` is called once, at the upstream's end of body, before the relay judges the
  stream: a translator that can end its stream without the upstream's terminator (the answer
  was finished, only ``[DONE]`` was lost) returns its closing events here.
* ``result()`` is the frozen summary once the stream ended: whether its terminal event came,
  and the counts, model and id the upstream reported.

Translators chain on parsed chunks, never on re-encoded SSE: a stage that produces OpenAI chat
chunks (:class:`ChunkSource`) feeds a stage that consumes them (:class:`ChunkSink`) object by
object (:class:`Chained`), so nothing is encoded, framed, decoded and parsed again in between.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import attrs
import orjson

from gomodel.errors import GatewayError, UpstreamError
from gomodel.usage.extract import Usage
from gomodel.wire.sse import Event

__all__ = [
    "DONE_CHUNK",
    "Chained",
    "ChunkSink",
    "ChunkSource",
    "StreamResult",
    "StreamStage",
    "Tapped",
    "Verbatim",
    "event_object",
]


@attrs.frozen(slots=True)
class StreamResult:
    """What a stream stage saw, once the stream ended."""

    done: bool  # the terminal event arrived (or finish() ended the stream properly)
    usage: Usage | None = None  # OpenAI-style counts, whatever the dialect
    model: str | None = None  # the model the upstream reported
    provider_id: str | None = None  # the upstream's id of the answer


class StreamStage(Protocol):
    @property
    def error(self) -> GatewayError | None:
        """The failure the upstream reported in-band, once it did."""

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client gets for ``event`` (``None``: nothing)."""

    def finish(self) -> bytes | None:
        """At the upstream's end of body: closing bytes, if the stage can end the stream."""

    def result(self) -> StreamResult:
        """The summary of the stream so far (final after :meth:`finish`)."""


class _Done:
    def __repr__(self) -> str:
        return "DONE_CHUNK"


DONE_CHUNK: Final = _Done()
"""Stands for ``data: [DONE]`` in a sequence of parsed chat chunks."""

Chunk = dict[str, Any] | _Done


class ChunkSource(StreamStage, Protocol):
    """A stage whose output is OpenAI chat chunks; :meth:`chunks` gives them parsed."""

    def chunks(self, event: Event) -> Sequence[Chunk]:
        """The chat chunks ``event`` turns into, as objects (``feed`` encodes the same)."""

    def finish_chunks(self) -> Sequence[Chunk]:
        """The chunks :meth:`finish` would encode."""


class ChunkSink(StreamStage, Protocol):
    """A stage whose input is OpenAI chat chunks; it can take them parsed."""

    def feed_chunk(self, chunk: Chunk) -> bytes | None:
        """What the client gets for one chat chunk (``DONE_CHUNK`` for ``[DONE]``)."""


def event_object(event: Event, provider: str) -> dict[str, Any] | GatewayError:
    """The JSON object an event's ``data`` holds, or the error for a provider that sent
    something else (every stream engine treats that as a failure of the provider)."""
    assert event.data is not None
    try:
        payload = orjson.loads(event.data)
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, dict):
        return payload
    message = f"{provider} sent a stream event that is not a JSON object"
    return UpstreamError(message, code="malformed_stream")


@attrs.define
class Chained:
    """``first`` (dialect -> chat chunks) then ``second`` (chat chunks -> the client's dialect).

    Counts, model and id come from the stage nearest the provider; the stream is done when the
    client's side is."""

    first: ChunkSource
    second: ChunkSink

    @property
    def error(self) -> GatewayError | None:
        return self.first.error or self.second.error

    def feed(self, event: Event) -> bytes | None:
        return self._pass(self.first.chunks(event))

    def finish(self) -> bytes | None:
        out = [self._pass(self.first.finish_chunks()), self.second.finish()]
        return b"".join(piece for piece in out if piece) or None

    def result(self) -> StreamResult:
        near, far = self.first.result(), self.second.result()
        return StreamResult(
            done=far.done,
            usage=near.usage or far.usage,
            model=near.model or far.model,
            provider_id=near.provider_id or far.provider_id,
        )

    def _pass(self, chunks: Sequence[Chunk]) -> bytes | None:
        out = [piece for chunk in chunks if (piece := self.second.feed_chunk(chunk))]
        return b"".join(out) or None


@attrs.define
class Verbatim:
    """Relays every event as it came; ``inner``, if any, reads the counts from the same events
    (its own output is dropped). Without one, the stream ends with the body: the gateway does
    not know the operation's terminal event."""

    inner: StreamStage | None = None

    @property
    def error(self) -> GatewayError | None:
        return self.inner.error if self.inner is not None else None

    def feed(self, event: Event) -> bytes | None:
        if self.inner is not None:
            self.inner.feed(event)
        return event.raw

    def finish(self) -> bytes | None:
        if self.inner is not None:
            self.inner.finish()
        return None

    def result(self) -> StreamResult:
        return self.inner.result() if self.inner is not None else StreamResult(done=True)


@attrs.define
class Tapped:
    """``inner`` unchanged, with every piece the client gets also handed to ``tap`` (the audit
    log's reassembly). Only used when something asked for the tap: the fast path never wraps."""

    inner: StreamStage
    tap: Callable[[bytes], None]

    @property
    def error(self) -> GatewayError | None:
        return self.inner.error

    def feed(self, event: Event) -> bytes | None:
        piece = self.inner.feed(event)
        if piece:
            self.tap(piece)
        return piece

    def finish(self) -> bytes | None:
        piece = self.inner.finish()
        if piece:
            self.tap(piece)
        return piece

    def result(self) -> StreamResult:
        return self.inner.result()
