"""A streamed answer, as the client got it, put back together for the audit log: the text,
the tool calls and the usage in one object shaped like the non-streamed answer, instead of
hundreds of raw events.

:class:`StreamReassembler` is fed the bytes the client was sent (whole SSE events: the audit
tap sits after the relay's stream stage) and recognises the dialect from the events:

* OpenAI chat chunks -> a ``chat.completion`` (``message.content``, ``message.tool_calls``
  with their argument fragments joined, ``finish_reason``, ``usage``);
* Responses events -> the ``response`` object of ``response.completed`` / ``.failed`` /
  ``.incomplete`` when it came, else one rebuilt from the text and function-call deltas;
* Anthropic Messages events -> a ``message`` (text, ``tool_use`` blocks with their input
  parsed from the JSON fragments, thinking, ``stop_reason``, ``usage``).

Text kept is capped (``cap`` bytes in all); the result says ``"truncated": true`` when the cap
cut it. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.wire.sse import SSEDecoder

__all__ = ["StreamReassembler"]

# Events here were already checked against STREAM_MAX_EVENT_SIZE upstream; this bound only
# keeps the decoder's memory finite.
_MAX_EVENT = 64 * 1024 * 1024


class StreamReassembler:
    def __init__(self, cap: int) -> None:
        self._decoder = SSEDecoder(_MAX_EVENT)
        self._cap = cap
        self._left = cap  # bytes of text still kept
        self.truncated = False
        self.events = 0
        self._dialect: str | None = None
        # chat
        self._meta: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}
        self._usage: Any = None
        # responses
        self._final: Any = None
        self._items: dict[int, dict[str, Any]] = {}
        # anthropic
        self._message: dict[str, Any] = {}
        self._blocks: dict[int, dict[str, Any]] = {}

    def feed(self, data: bytes) -> None:
        for event in self._decoder.feed(data):
            if event.data is None or event.is_done:
                continue
            try:
                doc = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict):
                self.events += 1
                self._take(doc)

    def result(self) -> dict[str, Any] | None:
        """The answer so far (``None``: nothing recognisable came)."""
        if self._dialect == "chat":
            answer = self._chat()
        elif self._dialect == "responses":
            answer = self._responses()
        elif self._dialect == "anthropic":
            answer = self._anthropic()
        else:
            return None
        answer["stream_events"] = self.events
        if self.truncated:
            answer["truncated"] = True
        return answer

    # -- shared ----------------------------------------------------------------------------

    def _keep(self, text: object) -> str:
        """``text`` within what the cap leaves."""
        if not isinstance(text, str):
            return ""
        size = len(text.encode())
        if size <= self._left:
            self._left -= size
            return text
        kept = text.encode()[: self._left].decode("utf-8", "ignore")
        self._left = 0
        self.truncated = True
        return kept

    def _take(self, doc: dict[str, Any]) -> None:
        kind = doc.get("type")
        if self._dialect is None:
            if isinstance(kind, str) and kind.startswith("response."):
                self._dialect = "responses"
            elif kind in ("message_start", "content_block_start", "ping"):
                self._dialect = "anthropic"
            elif "choices" in doc or doc.get("object") == "chat.completion.chunk":
                self._dialect = "chat"
            else:
                return
        if self._dialect == "chat":
            self._chat_chunk(doc)
        elif self._dialect == "responses":
            self._responses_event(doc)
        else:
            self._anthropic_event(doc)

    # -- OpenAI chat chunks ----------------------------------------------------------------

    def _chat_chunk(self, chunk: dict[str, Any]) -> None:
        for field in ("id", "model", "created", "system_fingerprint"):
            if field in chunk and field not in self._meta:
                self._meta[field] = chunk[field]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            state = self._choices.setdefault(
                index, {"role": "assistant", "content": [], "tools": {}, "finish": None}
            )
            delta = choice.get("delta") or {}
            if delta.get("role"):
                state["role"] = delta["role"]
            if delta.get("content"):
                state["content"].append(self._keep(delta["content"]))
            for call in delta.get("tool_calls") or ():
                slot = state["tools"].setdefault(
                    call.get("index", 0),
                    {"id": None, "type": "function", "name": "", "arguments": []},
                )
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                if function.get("arguments"):
                    slot["arguments"].append(self._keep(function["arguments"]))
            if choice.get("finish_reason"):
                state["finish"] = choice["finish_reason"]

    def _chat(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message: dict[str, Any] = {
                "role": state["role"],
                "content": "".join(state["content"]) if state["content"] else None,
            }
            if state["tools"]:
                message["tool_calls"] = [
                    {
                        "id": slot["id"],
                        "type": slot["type"],
                        "function": {"name": slot["name"], "arguments": "".join(slot["arguments"])},
                    }
                    for _, slot in sorted(state["tools"].items())
                ]
            choices.append({"index": index, "message": message, "finish_reason": state["finish"]})
        answer = {**self._meta, "object": "chat.completion", "choices": choices}
        if self._usage is not None:
            answer["usage"] = self._usage
        return answer

    # -- Responses events ------------------------------------------------------------------

    def _responses_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind in ("response.completed", "response.failed", "response.incomplete"):
            self._final = event.get("response")
        elif kind == "response.created" and isinstance(event.get("response"), dict):
            response = event["response"]
            self._meta = {k: response[k] for k in ("id", "model", "created_at") if k in response}
        elif kind == "response.output_item.added" and isinstance(event.get("item"), dict):
            item = event["item"]
            self._items[event.get("output_index", len(self._items))] = {
                "type": item.get("type"),
                "name": item.get("name"),
                "call_id": item.get("call_id"),
                "text": [],
            }
        elif kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
            slot = self._items.setdefault(
                event.get("output_index", 0), {"type": "message", "text": []}
            )
            slot["text"].append(self._keep(event.get("delta", "")))

    def _responses(self) -> dict[str, Any]:
        if isinstance(self._final, dict):
            # The final object repeats every delta: it alone is kept, capped on its own.
            budget = [self._cap]
            final = _capped(self._final, budget)
            self.truncated = budget[0] < 0
            return dict(final)
        output = []
        for _, slot in sorted(self._items.items()):
            text = "".join(slot["text"])
            if slot.get("type") == "function_call":
                output.append(
                    {
                        "type": "function_call",
                        "name": slot.get("name"),
                        "call_id": slot.get("call_id"),
                        "arguments": text,
                    }
                )
            else:
                output.append(
                    {"type": "message", "role": "assistant", "content": [
                        {"type": "output_text", "text": text}
                    ]}
                )  # fmt: skip
        return {**self._meta, "object": "response", "status": "incomplete", "output": output}

    # -- Anthropic Messages events ---------------------------------------------------------

    def _anthropic_event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            self._message = {k: v for k, v in message.items() if k != "content"}
        elif kind == "content_block_start" and isinstance(event.get("content_block"), dict):
            block = dict(event["content_block"])
            block["_parts"] = []
            self._blocks[event.get("index", len(self._blocks))] = block
        elif kind == "content_block_delta" and isinstance(event.get("delta"), dict):
            delta = event["delta"]
            block = self._blocks.setdefault(event.get("index", 0), {"type": "text", "_parts": []})
            piece = delta.get("text") or delta.get("partial_json") or delta.get("thinking") or ""
            block["_parts"].append(self._keep(piece))
        elif kind == "message_delta":
            delta = event.get("delta") or {}
            for field in ("stop_reason", "stop_sequence"):
                if field in delta:
                    self._message[field] = delta[field]
            if isinstance(event.get("usage"), dict):
                usage = self._message.get("usage")
                self._message["usage"] = {
                    **(usage if isinstance(usage, dict) else {}),
                    **event["usage"],
                }

    def _anthropic(self) -> dict[str, Any]:
        content = []
        for _, block in sorted(self._blocks.items()):
            parts = "".join(block["_parts"])
            out = {k: v for k, v in block.items() if k != "_parts"}
            kind = out.get("type")
            if kind == "tool_use":
                try:
                    out["input"] = orjson.loads(parts) if parts else out.get("input", {})
                except orjson.JSONDecodeError:
                    out["input"] = parts  # cut short: the fragments as they came
            elif kind == "thinking":
                out["thinking"] = out.get("thinking", "") + parts
            else:
                out["text"] = out.get("text", "") + parts
            content.append(out)
        return {**self._message, "content": content}


def _capped(value: Any, budget: list[int]) -> Any:
    """``value`` with its strings cut once ``budget[0]`` bytes were kept (it goes below zero
    when something was cut)."""
    if isinstance(value, str):
        size = len(value.encode())
        if size <= budget[0]:
            budget[0] -= size
            return value
        kept = value.encode()[: max(budget[0], 0)].decode("utf-8", "ignore")
        budget[0] = -1
        return kept
    if isinstance(value, dict):
        return {k: _capped(v, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v, budget) for v in value]
    return value
