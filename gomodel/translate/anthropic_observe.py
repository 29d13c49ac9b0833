"""Watch an Anthropic Messages stream go by on the fast path (sans-IO).

:class:`AnthropicStreamObserver` is a :class:`~gomodel.translate.stage.StreamStage` for
``POST /v1/messages`` relayed to Anthropic byte for byte: :meth:`~AnthropicStreamObserver.feed`
returns ``event.raw``, always, so the client gets exactly the provider's bytes. Only the few
events that carry what the gateway records are parsed, found by their ``event:`` name (events
without one, which Anthropic never sends, are parsed to find their ``type``):

* ``message_start``: ``provider_id`` (``message.id``), ``model`` (``message.model``) and the
  first usage (``message.usage``);
* ``message_delta``: its ``usage``, merged over what came before (Anthropic's counts are
  cumulative: a later count wins, an absent one keeps the earlier);
* ``message_stop``: not parsed; the stream is done;
* ``error``: relayed, then :attr:`~AnthropicStreamObserver.error` is set to the gateway error
  for it (:func:`~gomodel.translate.anthropic_response.anthropic_error`), so the stream ends
  and the usage row says it failed.

Content deltas, ``ping`` and every other event are relayed without being parsed. A watched
event whose data is not JSON is relayed as is (the client's parser will say) and ignored.
Usage is :func:`~gomodel.translate.anthropic_response.usage_from_anthropic` of the merged
counts: the gateway's OpenAI-style :class:`~gomodel.usage.extract.Usage`, cache reads and
writes folded into ``input_tokens`` and kept apart as ``cached_tokens`` and
``cache_write_tokens``; current after every event, so a cut stream reports what was counted.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError
from gomodel.translate.anthropic_response import anthropic_error, usage_from_anthropic
from gomodel.translate.stage import StreamResult
from gomodel.usage.extract import Usage
from gomodel.wire.sse import Event

__all__ = ["AnthropicStreamObserver"]

_PARSED = frozenset({"message_start", "message_delta", "error"})


@attrs.define
class AnthropicStreamObserver:
    """Relay an Anthropic Messages stream verbatim, recording usage, model, id and the end."""

    model: str | None = None  # the routed model, until message_start says
    provider_name: str = attrs.field(default="anthropic", kw_only=True)  # for error messages
    error: GatewayError | None = attrs.field(default=None, init=False)
    _done: bool = attrs.field(default=False, init=False)
    _usage: Usage | None = attrs.field(default=None, init=False)
    _provider_id: str | None = attrs.field(default=None, init=False)
    _counts: dict[str, Any] = attrs.field(factory=dict, init=False)

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client gets for ``event``: always ``event.raw``."""
        name, data = event.event, event.data
        if data is None:
            return event.raw
        if name == "message_stop":
            self._done = True
        elif name in _PARSED or name is None:
            self._observe(data)
        return event.raw

    def finish(self) -> None:
        """At upstream EOF: nothing to add (the stream is relayed as it came)."""

    def result(self) -> StreamResult:
        return StreamResult(
            done=self._done, usage=self._usage, model=self.model, provider_id=self._provider_id
        )

    def _observe(self, data: bytes) -> None:
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if kind == "message_start" and isinstance(payload.get("message"), dict):
            message = payload["message"]
            if isinstance(message.get("id"), str):
                self._provider_id = message["id"]
            if isinstance(message.get("model"), str) and message["model"]:
                self.model = message["model"]
            self._count(message.get("usage"))
        elif kind == "message_delta":
            self._count(payload.get("usage"))
        elif kind == "message_stop":
            self._done = True
        elif kind == "error" and self.error is None:
            self.error = anthropic_error(self.provider_name, payload.get("error"))

    def _count(self, usage: object) -> None:
        if isinstance(usage, dict):
            self._counts.update((k, v) for k, v in usage.items() if v is not None)
            self._usage = usage_from_anthropic(self._counts)
