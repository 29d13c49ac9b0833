"""Anthropic Messages SSE events -> OpenAI ``chat.completion.chunk`` events (sans-IO).

:class:`AnthropicChatStream` is a stream stage (:mod:`gomodel.translate.stage`) and a
:class:`~gomodel.translate.stage.ChunkSource`: it gets each complete upstream
:class:`~gomodel.wire.sse.Event` and returns the bytes the client receives for it, possibly
several ``data:`` events, or ``None``; :meth:`~AnthropicChatStream.chunks` gives the same chunks
as objects, for a stage chained after it (Responses). Each chunk is ``{"id": <message id>, "object":
"chat.completion.chunk", "created", "model": <model Anthropic reports>, "choices": [{"index": 0,
"delta", "finish_reason", "logprobs": null}]}``. The mapping (only ``data:`` is read; its
``type`` names the event):

* ``message_start`` -> the role chunk ``{"role": "assistant", "content": ""}``; id, model and
  usage are taken from its message.
* ``content_block_start``: ``tool_use`` -> ``tool_calls: [{index, id, type: "function",
  function: {name, arguments: ""}}]``, ``index`` counting tool calls from 0 in order of
  appearance; ``text``/``thinking`` -> their initial text, if any (there never is in practice).
* ``content_block_delta``: ``text_delta`` -> ``{"content"}``; ``thinking_delta`` ->
  ``{"reasoning_content"}``; ``input_json_delta`` -> ``tool_calls: [{index, function:
  {arguments: <partial_json>}}]``; ``signature_delta`` and ``citations_delta`` -> nothing.
* ``content_block_stop`` of a tool call that streamed no arguments -> ``arguments: "{}"``, so
  the client's accumulated arguments parse (the non-streamed answer says ``"{}"`` too).
* ``message_delta`` -> nothing yet: its ``stop_reason`` and usage are kept.
* ``message_stop`` -> the final chunk (``delta: {}``, ``finish_reason`` mapped as in
  :mod:`gomodel.translate.anthropic_response`), then, if the client asked for
  ``include_usage``, the usage chunk (``choices: []`` and the same OpenAI usage object as the
  non-streamed answer), then ``data: [DONE]``; :attr:`~AnthropicChatStream.done` becomes true.
* ``ping``, events without data, unknown events and anything after the end -> nothing.
* ``error`` (e.g. ``overloaded_error`` mid-stream) -> nothing, and
  :attr:`~AnthropicChatStream.error` is set to the gateway error for it (mapped as for HTTP
  error bodies); a ``data:`` that is not a JSON object does the same with a 502. The relay must
  check ``error`` after each event and end the stream with its usual final error event. Events
  after an error are ignored.

Usage merges the usage of ``message_start`` with each ``message_delta``'s (later counts win, as
Anthropic's are cumulative) and is converted by the same function as a non-streamed answer's;
:attr:`~AnthropicChatStream.usage` is current after every event, so a truncated stream still
reports what was counted.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError
from gomodel.translate.anthropic_response import (
    anthropic_error,
    finish_reason,
    openai_usage,
    tool_arguments,
    usage_from_anthropic,
)
from gomodel.translate.stage import DONE_CHUNK, Chunk, StreamResult, event_object
from gomodel.usage.extract import Usage
from gomodel.wire.sse import DONE, Event, encode_data

__all__ = ["AnthropicChatStream"]


@attrs.define
class _Tool:
    index: int  # the OpenAI tool_calls index
    has_arguments: bool = False


@attrs.define
class AnthropicChatStream:
    """Translate one Anthropic Messages stream into OpenAI chat chunks, event by event."""

    # The routed model until message_start says which model answers. Typed ``str | None``
    # like every stream observer's ``model``; it is never None here.
    model: str | None
    include_usage: bool = attrs.field(kw_only=True)
    created: int = attrs.field(kw_only=True)
    provider_name: str = attrs.field(default="anthropic", kw_only=True)  # for error messages
    done: bool = attrs.field(default=False, init=False)
    usage: Usage | None = attrs.field(default=None, init=False)
    provider_id: str | None = attrs.field(default=None, init=False)  # the message id
    error: GatewayError | None = attrs.field(default=None, init=False)
    _started: bool = attrs.field(default=False, init=False)
    _stop_reason: object = attrs.field(default=None, init=False)
    _raw_usage: dict[str, Any] = attrs.field(factory=dict, init=False)
    _tools: dict[int, _Tool] = attrs.field(factory=dict, init=False)  # by content block index

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client receives for ``event`` (``None``: nothing)."""
        chunks = self.chunks(event)
        if not chunks:
            return None
        return b"".join(
            DONE if chunk is DONE_CHUNK else encode_data(orjson.dumps(chunk)) for chunk in chunks
        )

    def chunks(self, event: Event) -> list[Chunk]:
        """The chat chunks ``event`` becomes, as objects."""
        if self.done or self.error is not None or event.data is None:
            return []
        payload = event_object(event, self.provider_name)
        if isinstance(payload, GatewayError):
            self.error = payload
            return []
        kind = payload.get("type")
        if kind == "message_start":
            return self._message_start(payload.get("message"))
        if kind == "content_block_start":
            return self._block_start(payload.get("index"), payload.get("content_block"))
        if kind == "content_block_delta":
            return self._block_delta(payload.get("index"), payload.get("delta"))
        if kind == "content_block_stop":
            return self._block_stop(payload.get("index"))
        if kind == "message_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and delta.get("stop_reason") is not None:
                self._stop_reason = delta["stop_reason"]
            self._add_usage(payload.get("usage"))
            return []
        if kind == "message_stop":
            return self._message_stop()
        if kind == "error":
            self.error = anthropic_error(self.provider_name, payload.get("error"))
        return []  # ping, error, and events this version does not know

    def finish(self) -> bytes | None:
        """At upstream EOF. Nothing is left to say: a stream that never reached ``done`` is
        truncated, and the relay says so."""
        return None

    def finish_chunks(self) -> list[Chunk]:
        return []

    def result(self) -> StreamResult:
        return StreamResult(self.done, self.usage, self.model, self.provider_id)

    # -- events ----------------------------------------------------------------------------

    def _message_start(self, message: object) -> list[Chunk]:
        if not isinstance(message, dict):
            return []
        if isinstance(message.get("id"), str):
            self.provider_id = message["id"]
        if isinstance(message.get("model"), str) and message["model"]:
            self.model = message["model"]
        self._add_usage(message.get("usage"))
        return [] if self._started else self._delta({})  # just the role chunk

    def _block_start(self, index: object, block: object) -> list[Chunk]:
        if not isinstance(block, dict) or not isinstance(index, int):
            return []
        kind = block.get("type")
        if kind == "tool_use":
            tool = self._tools[index] = _Tool(len(self._tools))
            arguments = ""
            if block.get("input"):  # Anthropic streams input as deltas; a non-empty start is odd
                arguments = tool_arguments(block["input"])
                tool.has_arguments = True
            call = {
                "index": tool.index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": arguments},
            }
            return self._delta({"tool_calls": [call]})
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return self._delta({"content": block["text"]})
        if kind == "thinking" and isinstance(block.get("thinking"), str) and block["thinking"]:
            return self._delta({"reasoning_content": block["thinking"]})
        return []

    def _block_delta(self, index: object, delta: object) -> list[Chunk]:
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str) and delta["text"]:
            return self._delta({"content": delta["text"]})
        if kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            return (
                self._delta({"reasoning_content": delta["thinking"]}) if delta["thinking"] else []
            )
        if kind == "input_json_delta" and isinstance(index, int) and index in self._tools:
            partial = delta.get("partial_json")
            if not isinstance(partial, str) or not partial:
                return []
            tool = self._tools[index]
            tool.has_arguments = True
            return self._tool_arguments(tool, partial)
        return []

    def _block_stop(self, index: object) -> list[Chunk]:
        tool = self._tools.get(index) if isinstance(index, int) else None
        if tool is None or tool.has_arguments:
            return []
        tool.has_arguments = True
        return self._tool_arguments(tool, "{}")

    def _message_stop(self) -> list[Chunk]:
        self.done = True
        out = self._delta({}, finish_reason(self._stop_reason))
        if self.include_usage:
            chunk = self._chunk([])
            chunk["usage"] = openai_usage(self.usage or Usage())
            out.append(chunk)
        out.append(DONE_CHUNK)
        return out

    # -- helpers -----------------------------------------------------------------------------

    def _add_usage(self, usage: object) -> None:
        if isinstance(usage, dict):
            self._raw_usage.update((k, v) for k, v in usage.items() if v is not None)
            self.usage = usage_from_anthropic(self._raw_usage)

    def _tool_arguments(self, tool: _Tool, arguments: str) -> list[Chunk]:
        return self._delta(
            {"tool_calls": [{"index": tool.index, "function": {"arguments": arguments}}]}
        )

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> list[Chunk]:
        """One chunk with ``delta``, preceded by the role chunk if none was sent yet."""
        out: list[Chunk] = []
        if not self._started:
            self._started = True
            out.append(self._chunk([self._choice({"role": "assistant", "content": ""}, None)]))
            if not delta and finish is None:
                return out
        out.append(self._chunk([self._choice(delta, finish)]))
        return out

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.provider_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    @staticmethod
    def _choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
