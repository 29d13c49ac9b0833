"""Two stream translators in a row: e.g. Anthropic events -> chat chunks -> Responses events.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from gomodel.errors import GatewayError
from gomodel.usage.extract import Usage
from gomodel.wire.sse import Event, SSEDecoder

__all__ = ["ChainedStream", "StreamTranslator"]


class StreamTranslator(Protocol):
    """The shape of every stream observer/translator (see ``relay.stream.StreamObserver``)."""

    @property
    def done(self) -> bool: ...

    @property
    def error(self) -> GatewayError | None: ...

    @property
    def usage(self) -> Usage | None: ...

    @property
    def model(self) -> str | None: ...

    @property
    def provider_id(self) -> str | None: ...

    def feed(self, event: Event) -> bytes | None: ...


@attrs.define
class ChainedStream:
    """Feeds what ``first`` emits, event by event, to ``second``; the client gets ``second``'s
    output. Usage, model and id come from the stage nearest the provider."""

    first: StreamTranslator
    second: StreamTranslator
    _decoder: SSEDecoder = attrs.field(factory=SSEDecoder, init=False)

    def feed(self, event: Event) -> bytes | None:
        middle = self.first.feed(event)
        if middle is None:
            return None
        out = [piece for e in self._decoder.feed(middle) if (piece := self.second.feed(e))]
        return b"".join(out) or None

    @property
    def done(self) -> bool:
        return self.second.done

    @property
    def error(self) -> GatewayError | None:
        return self.first.error or self.second.error

    @property
    def usage(self) -> Usage | None:
        return self.first.usage or self.second.usage

    @property
    def model(self) -> str | None:
        return self.first.model or self.second.model

    @property
    def provider_id(self) -> str | None:
        return self.first.provider_id or self.second.provider_id
