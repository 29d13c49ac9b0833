r"""OpenAI chat completion chunks -> an Anthropic Messages stream (sans-IO; the mirror of
:mod:`gomodel.translate.anthropic_stream`).

:class:`ChatToMessagesStream` is a :class:`~gomodel.translate.stage.ChunkSink`: it takes each
upstream SSE event (:meth:`~ChatToMessagesStream.feed`) or parsed chat chunk
(:meth:`~ChatToMessagesStream.feed_chunk`) and returns the Anthropic events the client gets,
framed as Anthropic frames them, ``event: <type>\ndata: {"type": <type>, ...}\n\n``. The
blocks and their order are those of :func:`~gomodel.translate.messages_response.chat_to_messages`
for the same answer, and so are the id, the tool ids and the usage.

* The first chunk -> ``message_start``: ``{id: "msg_<chat id>", type: "message", role:
  "assistant", model: <the caller's model>, content: [], stop_reason: null, stop_sequence:
  null, usage}``, the usage being the chunk's if it has one, else ``input_tokens`` = the
  caller's estimate (``0`` by default) and zeros: OpenAI counts only at the end.
* Content blocks, one open at a time, indexes from 0 in order; a piece of another kind closes
  the open block (``content_block_stop``) and starts a new one (``content_block_start``):

  - ``delta.reasoning_content`` (or ``delta.reasoning``) -> a ``thinking`` block ``{thinking:
    "", signature: ""}`` and ``thinking_delta`` events;
  - ``delta.content`` (and ``delta.refusal``) -> a ``text`` block and ``text_delta`` events;
  - ``delta.tool_calls``, by ``index`` (without one: by ``id``; with neither, a name starts a
    new call and anything else continues the last) -> per call
    a ``tool_use`` block ``{id, name, input: {}}`` once its name is known (arguments that come
    first wait for it), then one ``input_json_delta`` ``{partial_json}`` per arguments piece.
    Parallel calls follow each other (every known provider streams them one after the
    other); a piece for a call whose block already closed cannot be placed and ends the
    stream with an error rather than being lost.

* ``finish_reason`` closes the open block (a call still waiting for its name is started
  nameless first, so no arguments are lost) and is kept; deltas after it are ignored. OpenAI
  sends usage in a chunk after it, so the end waits: a chunk with usage (on the
  ``finish_reason`` chunk itself, as Groq sends it, or the usage chunk after it), or ``data:
  [DONE]``, then gives ``message_delta`` ``{delta: {stop_reason, stop_sequence}, usage}`` and
  ``message_stop``. ``stop_reason`` as for the non-streamed answer; ``usage`` the full
  Anthropic object from the last counts, ``{"output_tokens": 0}`` if the provider sent none
  (the counts of ``message_start`` then stand).
* ``data: [DONE]`` without a ``finish_reason`` ends the message too (``end_turn``): the
  provider said the answer is complete. :meth:`~ChatToMessagesStream.finish` (upstream EOF)
  ends it the same way if a ``finish_reason`` came (only usage or ``[DONE]`` was lost), and
  returns ``None`` otherwise: the relay reports a truncated stream.
* An ``{"error": ...}`` chunk -> nothing, and :attr:`~ChatToMessagesStream.error` is set (an
  :class:`~gomodel.errors.UpstreamError` from the error object); a ``data:`` that is not a JSON
  object does the same. The relay then ends the stream with
  :func:`~gomodel.translate.messages_errors.anthropic_error_event`. Events without data,
  events after the end or an error, and choices other than the first are ignored.

:meth:`~ChatToMessagesStream.result`: ``done`` once ``message_stop`` went out; usage as the
gateway's OpenAI-style :class:`~gomodel.usage.extract.Usage` (``None`` if the provider sent
none); ``model`` and ``provider_id`` as the provider reported them.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError, UpstreamError, error_from_upstream
from gomodel.translate.messages_response import (
    anthropic_usage,
    chat_usage,
    message_id,
    stop_reason,
    tool_use_id,
)
from gomodel.translate.responses_output import reasoning_text
from gomodel.translate.stage import DONE_CHUNK, Chunk, StreamResult, event_object
from gomodel.usage.extract import Usage
from gomodel.wire.sse import Event, encode_event

__all__ = ["ChatToMessagesStream"]


@attrs.define
class _Tool:
    ordinal: int  # tool calls counted from 0, for an id the provider did not send
    call_id: str | None = None
    name: str = ""
    pending: str = ""  # arguments not sent yet (they came before the name)
    block: int | None = None  # its content block index, once started
    closed: bool = False


@attrs.define
class _Block:
    kind: str  # "text", "thinking" or "tool_use"
    index: int
    tool: _Tool | None = None


@attrs.define
class ChatToMessagesStream:
    """Translate one chat completions stream into a Messages stream, chunk by chunk."""

    model: str = attrs.field(kw_only=True)  # reported to the client, as in chat_to_messages
    input_tokens: int = attrs.field(default=0, kw_only=True)  # message_start's estimate
    provider_name: str = attrs.field(default="provider", kw_only=True)  # for error messages
    error: GatewayError | None = attrs.field(default=None, init=False)
    _done: bool = attrs.field(default=False, init=False)
    _started: bool = attrs.field(default=False, init=False)
    _msg_id: str | None = attrs.field(default=None, init=False)
    _provider_id: str | None = attrs.field(default=None, init=False)
    _provider_model: str | None = attrs.field(default=None, init=False)
    _usage: Usage | None = attrs.field(default=None, init=False)
    _finish: object = attrs.field(default=None, init=False)
    _stop_sequence: str | None = attrs.field(default=None, init=False)
    _open: _Block | None = attrs.field(default=None, init=False)
    _blocks: int = attrs.field(default=0, init=False)
    _tools: dict[object, _Tool] = attrs.field(factory=dict, init=False)
    _last_tool: object = attrs.field(default=None, init=False)

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client gets for the upstream ``event`` (``None``: nothing)."""
        if self._done or self.error is not None or event.data is None:
            return None
        if event.is_done:
            return self.feed_chunk(DONE_CHUNK)
        chunk = event_object(event, self.provider_name)
        if isinstance(chunk, GatewayError):
            self.error = chunk
            return None
        return self.feed_chunk(chunk)

    def feed_chunk(self, chunk: Chunk) -> bytes | None:
        """The bytes the client gets for one chat chunk (``DONE_CHUNK`` for ``[DONE]``)."""
        if self._done or self.error is not None:
            return None
        if chunk is DONE_CHUNK or not isinstance(chunk, dict):
            return self._end()
        if chunk.get("error") is not None:
            self.error = error_from_upstream(self.provider_name, 502, orjson.dumps(chunk))
            return None
        if self._provider_id is None and isinstance(chunk.get("id"), str):
            self._provider_id = chunk["id"]
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self._provider_model = chunk["model"]
        usage = chat_usage(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        frames = [self._start()]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if self._finish is None and isinstance(choice, dict):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                frames.append(self._delta(delta))
            if self.error is None and choice.get("finish_reason") is not None:
                self._finish = choice["finish_reason"]
                matched = choice.get("stop_reason")  # vLLM: the stop string that matched
                if self._finish == "stop" and isinstance(matched, str) and matched:
                    self._stop_sequence = matched
                frames.append(self._close_all())
        if self.error is None and self._finish is not None and usage is not None:
            frames.append(self._end())
        return b"".join(frames) or None  # with an error: what came before it in the chunk

    def finish(self) -> bytes | None:
        """At upstream EOF: end the message if the answer was finished (see the module docs)."""
        if self._done or self.error is not None or self._finish is None:
            return None
        return self._end()

    def result(self) -> StreamResult:
        return StreamResult(
            done=self._done,
            usage=self._usage,
            model=self._provider_model or self.model,
            provider_id=self._provider_id,
        )

    # -- content blocks ----------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any]) -> bytes:
        frames = []
        if thinking := reasoning_text(delta):
            frames.append(self._text("thinking", thinking))
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                frames.append(self._text("text", delta[key]))
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, dict):
                frames.append(self._tool_call(call, position))
        return b"".join(frames)

    def _text(self, kind: str, text: str) -> bytes:
        frames = []
        if self._open is None or self._open.kind != kind:
            empty = {"type": "text", "text": ""} if kind == "text" else _EMPTY_THINKING
            frames += [self._close(), self._start_block(kind, empty)]
        assert self._open is not None
        field, delta_type = ("text", "text_delta") if kind == "text" else _THINKING_DELTA
        delta = {"type": delta_type, field: text}
        frames.append(self._emit("content_block_delta", index=self._open.index, delta=delta))
        return b"".join(frames)

    def _tool_call(self, call: dict[str, Any], position: int) -> bytes:
        index, call_id = call.get("index"), call.get("id")
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(fn, dict)
        if isinstance(index, int):
            key: object = index
        elif isinstance(call_id, str) and call_id:  # no index: a new id is a new call
            key = call_id
        elif self._last_tool is None or (fn.get("name") and self._tools[self._last_tool].name):
            key = ("unnamed", len(self._tools), position)  # a name starts a new call
        else:
            key = self._last_tool
        self._last_tool = key
        tool = self._tools.setdefault(key, _Tool(len(self._tools)))
        if tool.closed:
            if not fn.get("arguments"):
                return b""  # nothing to place (a repeated id or name)
            message = f"{self.provider_name} streamed arguments for a tool call that had ended"
            self.error = UpstreamError(message, code="malformed_stream")
            return b""
        if isinstance(call_id, str) and call_id and tool.call_id is None:
            tool.call_id = call_id
        if isinstance(fn.get("name"), str) and tool.block is None:
            tool.name += fn["name"]
        if isinstance(fn.get("arguments"), str):
            tool.pending += fn["arguments"]
        if tool.block is None:
            return self._start_tool(tool) if tool.name else b""
        return self._arguments(tool)

    def _start_tool(self, tool: _Tool) -> bytes:
        call_id = tool_use_id(tool.call_id, tool.ordinal, self._message_id())
        block = {"type": "tool_use", "id": call_id, "name": tool.name, "input": {}}
        frames = [self._close(), self._start_block("tool_use", block, tool)]
        tool.block = self._blocks - 1
        return b"".join(frames) + self._arguments(tool)

    def _arguments(self, tool: _Tool) -> bytes:
        if not tool.pending or tool.block is None:
            return b""
        piece, tool.pending = tool.pending, ""
        delta = {"type": "input_json_delta", "partial_json": piece}
        return self._emit("content_block_delta", index=tool.block, delta=delta)

    def _start_block(self, kind: str, block: dict[str, Any], tool: _Tool | None = None) -> bytes:
        self._open = _Block(kind, self._blocks, tool)
        self._blocks += 1
        return self._emit("content_block_start", index=self._open.index, content_block=block)

    def _close(self) -> bytes:
        block, self._open = self._open, None
        if block is None:
            return b""
        if block.tool is not None:
            block.tool.closed = True
        return self._emit("content_block_stop", index=block.index)

    def _close_all(self) -> bytes:
        """End of the answer: start calls still waiting for a name, close the open block."""
        waiting = [t for t in self._tools.values() if t.block is None and (t.call_id or t.pending)]
        frames = [self._start_tool(tool) for tool in waiting]
        return b"".join(frames) + self._close()

    # -- the message -------------------------------------------------------------------------

    def _message_id(self) -> str:
        if self._msg_id is None:
            self._msg_id = message_id(self._provider_id)
        return self._msg_id

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        usage = anthropic_usage(self._usage)
        if self._usage is None:
            usage["input_tokens"] = self.input_tokens
        message: dict[str, Any] = {
            "id": self._message_id(),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        }
        return self._emit("message_start", message=message)

    def _end(self) -> bytes:
        frames = [self._start(), self._close_all()]
        sequence = self._stop_sequence
        reason = "stop_sequence" if sequence is not None else stop_reason(self._finish)
        usage = anthropic_usage(self._usage) if self._usage else {"output_tokens": 0}
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        frames.append(self._emit("message_delta", delta=delta, usage=usage))
        frames.append(self._emit("message_stop"))
        self._done = True
        return b"".join(frames)

    @staticmethod
    def _emit(kind: str, **fields: Any) -> bytes:
        return encode_event(orjson.dumps({"type": kind, **fields}), event=kind)


_EMPTY_THINKING = {"type": "thinking", "thinking": "", "signature": ""}
_THINKING_DELTA = ("thinking", "thinking_delta")
