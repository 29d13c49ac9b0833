r"""Responses API streams (sans-IO): translated from a chat stream, or watched going by.

Both classes are stream stages (:mod:`gomodel.translate.stage`): ``feed(event)`` gets each
complete upstream :class:`~gomodel.wire.sse.Event` and returns the bytes the client receives
for it, or ``None``; ``result()`` (done, usage, model, id) is current after every event, and the
relay ends the stream with its final error event once ``error`` is set.
:class:`ChatToResponsesStream` is also a :class:`~gomodel.translate.stage.ChunkSink`: chained
after a stage that makes chat chunks (Anthropic's stream translated), it takes them as objects
through ``feed_chunk``.

:class:`ChatToResponsesStream` turns an OpenAI-compatible chat stream into the Responses
stream the real API sends (the recorded OpenAI and xAI streams are the reference): frames
``event: <type>\ndata: {"type": <type>, ..., "sequence_number": n}\n\n``, ``n`` from 0. Items
and the response object come from :mod:`gomodel.translate.responses_output`, so the final
object matches :func:`~gomodel.translate.responses_output.chat_to_response` for the same answer.

* The first chunk -> ``response.created`` and ``response.in_progress`` (``status:
  "in_progress"``, ``output: []``, ``usage: null``, ``model`` from the chunk). The Go gateway
  sends neither ``in_progress`` nor the content-part and ``.done`` events below; the SDKs'
  stream helpers need them.
* ``delta.content`` (and ``delta.refusal``, as text) -> first ``response.output_item.added``
  (a ``message`` item, no content) and ``response.content_part.added`` (an empty
  ``output_text`` part), then one ``response.output_text.delta`` ``{content_index: 0, delta,
  item_id, logprobs: [], output_index}`` per piece.
* ``delta.reasoning_content`` (or ``delta.reasoning``) -> a ``reasoning`` item as xAI streams
  it: ``response.output_item.added``, then ``response.reasoning_text.delta`` per piece.
  Reasoning and text end each other's open item (a later piece opens a new item).
* ``delta.tool_calls`` (by ``index``; without one, by ``id``) end open text and reasoning
  items; ``response.output_item.added`` (a ``function_call`` item ``{id: "fc_<call id>",
  call_id, name, arguments: ""}``) once the name is known (a missing call id becomes
  ``call_<response id suffix>_<n>``), then ``response.function_call_arguments.delta``
  ``{item_id, output_index, delta}`` per piece (pieces that came first follow the item).
* ``finish_reason`` ends every open item, in output order: ``response.output_text.done`` +
  ``response.content_part.done`` (message), ``response.reasoning_text.done`` (reasoning),
  ``response.function_call_arguments.done`` (tool calls), each then
  ``response.output_item.done``; ``incomplete`` items if the response is incomplete. Deltas
  after it are ignored (only usage may follow). Output indexes count items as they appear.
* ``data: [DONE]`` -> open items end (an answer with no item gets an empty message item, as
  the non-streamed answer does), then ``response.completed`` (``response.incomplete`` for
  ``length``/``content_filter``) with the whole object: every item, ``usage`` from the last
  chat usage chunk (the translated request asks for it), ``null`` if none came. Then ``done``.
  No ``data: [DONE]`` follows: the real API sends none, native streams are relayed without
  one, and the SDKs stop at ``response.completed`` (the Go gateway appends one; SDKs skip it).
* :meth:`~ChatToResponsesStream.finish` (EOF without ``[DONE]``) ends the response the same
  way if a ``finish_reason`` came (only the terminator was lost); otherwise it returns ``None``
  and the relay reports a truncated stream.
* An in-band ``{"error": ...}`` chunk -> nothing, and ``error`` is set (mapped as an upstream
  error body); a ``data:`` that is not a JSON object -> the same with a 502. Events after the
  end or an error, and events without data, are ignored. Only the first choice is read.

:class:`ResponsesStreamObserver` watches a native Responses stream (openai, azure, openrouter,
oracle, xai) and relays every event verbatim (``event.raw``). ``response.created`` /
``in_progress`` / ``queued`` give ``provider_id`` (``response.id``) and ``model``; the terminal
``response.completed`` / ``done`` / ``incomplete`` / ``failed`` also give ``usage``
(``response.usage``) and set ``done``, as ``data: [DONE]`` does. ``response.failed`` and an
``error`` event (``{"type": "error", "code", "message"}``, or the ``{"error": {...}}``
envelope) set ``error`` after being relayed: the client sees the provider's event, then the
relay's error event, on which the SDKs raise (they would otherwise end quietly, and a failed
response must not count as a success for usage and audit). Events named (``event:``) anything
else are not parsed.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError, UpstreamError, error_from_upstream
from gomodel.translate import responses_output as out
from gomodel.translate.stage import DONE_CHUNK, Chunk, StreamResult, event_object
from gomodel.usage.extract import Usage, usage_from_object
from gomodel.wire.sse import Event, encode_event

__all__ = ["ChatToResponsesStream", "ResponsesStreamObserver"]

_TEXT_KINDS = frozenset({"message", "reasoning"})


@attrs.define
class _Item:
    kind: str  # "message", "reasoning" or "function_call"
    index: int  # output_index
    id: str
    text: str = ""  # the text, the reasoning or the arguments so far
    call_id: str = ""
    name: str = ""
    final: dict[str, Any] | None = None  # the completed item, once ended


@attrs.define
class _Tool:
    ordinal: int  # tool calls counted from 0, for a call id the provider did not send
    call_id: str | None = None
    name: str = ""
    pending: str = ""  # arguments that came before the name
    item: _Item | None = None


@attrs.define
class ChatToResponsesStream:
    """Translate one chat completions stream into a Responses stream, event by event."""

    response_id: str = attrs.field(kw_only=True)
    created_at: int = attrs.field(kw_only=True)
    model: str | None = attrs.field(kw_only=True)  # the routed model, until a chunk says
    request: dict[str, Any] = attrs.field(kw_only=True, repr=False)  # the Responses request
    provider_name: str = attrs.field(default="provider", kw_only=True)  # for error messages
    done: bool = attrs.field(default=False, init=False)
    final: dict[str, Any] | None = attrs.field(default=None, init=False)  # response.completed
    usage: Usage | None = attrs.field(default=None, init=False)
    provider_id: str | None = attrs.field(default=None, init=False)  # the chat completion id
    error: GatewayError | None = attrs.field(default=None, init=False)
    _seq: int = attrs.field(default=0, init=False)
    _started: bool = attrs.field(default=False, init=False)
    _finish: object = attrs.field(default=None, init=False)
    _raw_usage: object = attrs.field(default=None, init=False)
    _items: list[_Item] = attrs.field(factory=list, init=False)
    _open: list[_Item] = attrs.field(factory=list, init=False)
    _tools: dict[object, _Tool] = attrs.field(factory=dict, init=False)
    _last_tool: object = attrs.field(default=None, init=False)

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client receives for ``event`` (``None``: nothing)."""
        if self.done or self.error is not None or event.data is None:
            return None
        if event.is_done:
            return self.feed_chunk(DONE_CHUNK)
        chunk = event_object(event, self.provider_name)
        if isinstance(chunk, GatewayError):
            self.error = chunk
            return None
        if chunk.get("error") is not None:
            self.error = error_from_upstream(self.provider_name, 502, event.data)
            return None
        return self.feed_chunk(chunk)

    def feed_chunk(self, chunk: Chunk) -> bytes | None:
        """The bytes the client receives for one parsed chat chunk (or ``DONE_CHUNK``)."""
        if self.done or self.error is not None:
            return None
        if chunk is DONE_CHUNK:
            return self._complete()
        assert isinstance(chunk, dict)
        if isinstance(chunk.get("id"), str):
            self.provider_id = chunk["id"]
        if isinstance(chunk.get("model"), str) and chunk["model"]:
            self.model = chunk["model"]
        if usage := usage_from_object(chunk.get("usage")):
            self.usage, self._raw_usage = usage, chunk["usage"]
        frames = [self._start()]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if isinstance(choice, dict) and self._finish is None:
            delta = choice.get("delta")
            if isinstance(delta, dict):
                frames.append(self._delta(delta))
            if choice.get("finish_reason") is not None:
                self._finish = choice["finish_reason"]
                frames.append(self._close_all())
        return b"".join(frames) or None

    def finish(self) -> bytes | None:
        """At upstream EOF: end the response if the answer was finished but ``[DONE]`` lost."""
        if self.done or self.error is not None or self._finish is None:
            return None
        return self._complete()

    def result(self) -> StreamResult:
        return StreamResult(self.done, self.usage, self.model, self.provider_id)

    # -- deltas ------------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any]) -> bytes:
        frames = []
        if reasoning := out.reasoning_text(delta):
            frames.append(self._text("reasoning", reasoning))
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str) and delta[key]:
                frames.append(self._text("message", delta[key]))
        calls = delta.get("tool_calls")
        for position, call in enumerate(calls if isinstance(calls, list) else []):
            if isinstance(call, dict):
                frames.append(self._tool_call(call, position))
        return b"".join(frames)

    def _text(self, kind: str, text: str) -> bytes:
        """A text or reasoning piece: end an open item of the other kind, open one of this."""
        frames = [self._close(i) for i in list(self._open) if i.kind in _TEXT_KINDS - {kind}]
        item = next((i for i in self._open if i.kind == kind), None)
        if item is None:
            item = self._open_item(kind, self._item_id("msg" if kind == "message" else "rs"))
            if kind == "message":
                frames.append(self._item_added(item, out.message_item(item.id, [], "in_progress")))
                part = out.text_part("")
                frames.append(
                    self._emit("response.content_part.added", **self._at(item), part=part)
                )
            else:
                added = {"id": item.id, "summary": [], "type": "reasoning", "status": "in_progress"}
                frames.append(self._item_added(item, added))
        if text:
            item.text += text
            kind = "output_text" if kind == "message" else "reasoning_text"
            extra: dict[str, Any] = {"logprobs": []} if kind == "output_text" else {}
            frames.append(
                self._emit(f"response.{kind}.delta", **self._at(item), delta=text, **extra)
            )
        return b"".join(frames)

    def _tool_call(self, call: dict[str, Any], position: int) -> bytes:
        index, call_id = call.get("index"), call.get("id")
        if isinstance(index, int):
            key: object = index
        elif isinstance(call_id, str) and call_id:  # no index: a new id is a new call
            key = call_id
        else:
            key = self._last_tool if self._last_tool is not None else position
        self._last_tool = key
        tool = self._tools.setdefault(key, _Tool(len(self._tools)))
        frames = [self._close(i) for i in list(self._open) if i.kind in _TEXT_KINDS]
        if isinstance(call_id, str) and call_id and tool.call_id is None:
            tool.call_id = call_id
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(fn, dict)
        if isinstance(fn.get("name"), str) and tool.item is None:
            tool.name += fn["name"]
        if isinstance(fn.get("arguments"), str):
            tool.pending += fn["arguments"]
        if tool.item is None:
            frames.append(self._announce(tool) if tool.name else b"")
        else:
            frames.append(self._arguments(tool))
        return b"".join(frames)

    def _announce(self, tool: _Tool) -> bytes:
        """The function_call item for ``tool``, then the arguments that came before it."""
        call_id = tool.call_id or f"call_{out.id_suffix(self.response_id)}_{tool.ordinal}"
        item = self._open_item("function_call", f"fc_{call_id}")
        item.call_id, item.name, tool.item = call_id, tool.name, item
        shape = out.function_call_item(call_id, tool.name, "", "in_progress")
        return self._item_added(item, shape) + self._arguments(tool)

    def _arguments(self, tool: _Tool) -> bytes:
        if tool.item is None or not tool.pending:
            return b""
        item, piece, tool.pending = tool.item, tool.pending, ""
        item.text += piece
        return self._emit(
            "response.function_call_arguments.delta",
            item_id=item.id,
            output_index=item.index,
            delta=piece,
        )

    # -- item lifecycle ----------------------------------------------------------------------

    def _open_item(self, kind: str, item_id: str) -> _Item:
        item = _Item(kind, len(self._items), item_id)
        self._items.append(item)
        self._open.append(item)
        return item

    def _item_id(self, prefix: str) -> str:
        n = sum(1 for i in self._items if i.id.startswith(f"{prefix}_"))
        suffix = out.id_suffix(self.response_id)
        return f"{prefix}_{suffix}" if n == 0 else f"{prefix}_{suffix}_{n}"

    def _close_all(self) -> bytes:
        """End every open item; a tool call whose name never came is announced nameless."""
        frames = [self._announce(t) for t in self._tools.values() if t.item is None]
        return b"".join(frames) + b"".join(self._close(item) for item in list(self._open))

    def _close(self, item: _Item) -> bytes:
        self._open.remove(item)
        status = "completed" if out.finish_status(self._finish)[1] is None else "incomplete"
        at = self._at(item)
        if item.kind == "message":
            part = out.text_part(item.text)
            item.final = out.message_item(item.id, [part], status)
            frames = [
                self._emit("response.output_text.done", **at, logprobs=[], text=item.text),
                self._emit("response.content_part.done", **at, part=part),
            ]
        elif item.kind == "reasoning":
            item.final = out.reasoning_item(item.id, item.text, status)
            frames = [self._emit("response.reasoning_text.done", **at, text=item.text)]
        else:
            item.final = out.function_call_item(item.call_id, item.name, item.text, status)
            args_done = {"item_id": item.id, "output_index": item.index, "arguments": item.text}
            frames = [self._emit("response.function_call_arguments.done", **args_done)]
        done = self._emit("response.output_item.done", item=item.final, output_index=item.index)
        return b"".join(frames) + done

    def _complete(self) -> bytes:
        frames = [self._start(), self._close_all()]
        if not self._items:
            frames.append(self._text("message", "") + self._close_all())
        status, details = out.finish_status(self._finish)
        response = self._response(status, details)
        response["output"] = [item.final for item in self._items]
        response["usage"] = out.responses_usage(self._raw_usage)
        kind = "response.completed" if details is None else "response.incomplete"
        self.final = response
        self.done = True
        return b"".join(frames) + self._emit(kind, response=response)

    # -- encoding ----------------------------------------------------------------------------

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        kinds = ("response.created", "response.in_progress")
        return b"".join(self._emit(k, response=self._response("in_progress", None)) for k in kinds)

    def _response(self, status: str, details: dict[str, Any] | None) -> dict[str, Any]:
        return out.response_object(
            response_id=self.response_id,
            created_at=self.created_at,
            model=self.model,
            request=self.request,
            status=status,
            output=[],
            usage=None,
            incomplete_details=details,
        )

    def _item_added(self, item: _Item, shape: dict[str, Any]) -> bytes:
        return self._emit("response.output_item.added", item=shape, output_index=item.index)

    @staticmethod
    def _at(item: _Item) -> dict[str, Any]:
        return {"content_index": 0, "item_id": item.id, "output_index": item.index}

    def _emit(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self._seq}
        self._seq += 1
        return encode_event(orjson.dumps(payload), event=kind)


_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
_TERMINAL = frozenset(
    {"response.completed", "response.done", "response.incomplete", "response.failed"}
)
_WATCHED = _LIFECYCLE | _TERMINAL | {"error"}


@attrs.define
class ResponsesStreamObserver:
    """Relay a native Responses stream verbatim, recording usage, ids and the end."""

    model: str | None = None  # the routed model, until the stream says
    provider_name: str = attrs.field(default="provider", kw_only=True)  # for error messages
    done: bool = attrs.field(default=False, init=False)
    usage: Usage | None = attrs.field(default=None, init=False)
    provider_id: str | None = attrs.field(default=None, init=False)  # the response id
    error: GatewayError | None = attrs.field(default=None, init=False)
    events: int = attrs.field(default=0, init=False)  # data events seen

    def feed(self, event: Event) -> bytes | None:
        """The bytes the client receives for ``event``: always ``event.raw``."""
        if event.data is None:
            return event.raw
        if event.is_done:
            self.done = True
            return event.raw
        self.events += 1
        if event.event is not None and event.event not in _WATCHED:
            return event.raw  # deltas and item events: nothing to record
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return event.raw  # not ours to judge; the client's parser will say
        if isinstance(payload, dict):
            self._observe(payload)
        return event.raw

    def finish(self) -> bytes | None:
        """At upstream EOF: nothing to add (the stream is relayed as it came)."""
        return None

    def result(self) -> StreamResult:
        return StreamResult(self.done, self.usage, self.model, self.provider_id)

    def _observe(self, payload: dict[str, Any]) -> None:
        kind = payload.get("type")
        response = payload.get("response")
        if (kind in _LIFECYCLE or kind in _TERMINAL) and isinstance(response, dict):
            if isinstance(response.get("id"), str):
                self.provider_id = response["id"]
            if isinstance(response.get("model"), str) and response["model"]:
                self.model = response["model"]
        if kind in _TERMINAL:
            self.done = True
            if isinstance(response, dict) and (usage := usage_from_object(response.get("usage"))):
                self.usage = usage
        if kind == "response.failed" and self.error is None:
            failure = response.get("error") if isinstance(response, dict) else None
            self.error = self._upstream_error(failure, "the response failed")
        elif kind == "error":
            self.error = self._upstream_error(payload, "the stream reported an error")
        elif kind is None and payload.get("error") is not None:
            self.error = self._upstream_error(payload["error"], "the stream reported an error")

    def _upstream_error(self, error: object, fallback: str) -> UpstreamError:
        error = error if isinstance(error, dict) else {}
        message = error.get("message") if isinstance(error.get("message"), str) else fallback
        code = error.get("code") if isinstance(error.get("code"), str) else None
        return UpstreamError(f"{self.provider_name}: {message}", code=code or "upstream_error")
