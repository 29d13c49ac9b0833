"""The mock upstream's Anthropic dialect: ``POST /messages`` and ``GET /models``.

:func:`anthropic_reply` answers one request the way Anthropic's Messages API would, on paths
with or without a ``/v1`` prefix:

* ``GET /models``: ``{"data": [{"type": "model", "id", "display_name", "created_at"}],
  "has_more": false, "first_id", "last_id"}`` (the query string, e.g. ``limit``, is ignored).
* ``POST /messages``: the body is checked as Anthropic checks it (a JSON object with ``model``,
  a non-empty ``messages`` array, an integer ``max_tokens`` >= 1, and no member Anthropic does
  not know: a translation that leaks an OpenAI field gets the 400 the real API would give).
  The answer is the text ``"Mock response to: <last user text>"``, or, when the request has
  ``tools`` and a ``tool_choice`` of type ``any`` or ``tool``, one ``tool_use`` block
  (id ``toolu_mock_123``, the forced tool or the first one, input ``{"city": "Warsaw"}``,
  ``stop_reason: "tool_use"``). Usage: 10 input and 20 output tokens, no cache.
* with ``"stream": true``: ``message_start``, ``content_block_start``, ``ping``, the text (or
  the tool input JSON) in 5-character deltas, ``content_block_stop``, ``message_delta`` with the
  stop reason and the usage, ``message_stop``; each with its ``event:`` line as the real API
  sends, ``Sleep(stream_gap)`` between consecutive events.
* ``POST /messages/count_tokens``: ``{"input_tokens": 14}`` (:data:`MOCK_INPUT_TOKENS`, what
  Anthropic counted for the recorded "Say 'Hello, World!'" request) for a JSON object with
  ``model`` and a non-empty ``messages`` array; otherwise a 400.
* anything else: 404. Errors use Anthropic's envelope ``{"type": "error", "error": {"type",
  "message"}}`` (:func:`anthropic_error_reply`).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from gomodel.testing._reply import Reply

if TYPE_CHECKING:
    from gomodel.testing._h11server import RecordedRequest

__all__ = [
    "ANTHROPIC_MODELS",
    "ANTHROPIC_USAGE",
    "MOCK_INPUT_TOKENS",
    "MOCK_TOOL_ID",
    "MOCK_TOOL_INPUT",
    "anthropic_error_reply",
    "anthropic_reply",
]

ANTHROPIC_MODELS = ("claude-sonnet-4-20250514", "claude-3-5-haiku-20241022")
ANTHROPIC_USAGE = {
    "input_tokens": 10,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 20,
}
MOCK_TOOL_ID = "toolu_mock_123"
MOCK_INPUT_TOKENS = 14
MOCK_TOOL_INPUT = {"city": "Warsaw"}
_CHUNK_CHARS = 5
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "system",
        "stop_sequences",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
        "output_config",
        "service_tier",
    }
)


def anthropic_error_reply(
    status: int,
    message: str,
    *,
    error_type: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Reply:
    """Anthropic's error envelope; the type follows the status unless given."""
    if error_type is None:
        error_type = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            413: "request_too_large",
            429: "rate_limit_error",
            529: "overloaded_error",
        }.get(status, "api_error")
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return Reply.json(body, status, headers)


def anthropic_reply(
    request: RecordedRequest,
    *,
    stream_gap: float = 0.0,
    models: Iterable[str] = ANTHROPIC_MODELS,
    message_id: str = "msg_mock",
) -> Reply:
    """The reply of a mock Anthropic API to ``request`` (see the module docs)."""
    path = request.path.removeprefix("/v1")
    if request.method == "GET" and path == "/models":
        ids = list(models)
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model.replace("-", " ").title(),
                "created_at": "2025-05-14T00:00:00Z",
            }
            for model in ids
        ]
        first, last = (ids[0], ids[-1]) if ids else (None, None)
        return Reply.json({"data": data, "has_more": False, "first_id": first, "last_id": last})
    if request.method == "POST" and path == "/messages":
        return _messages(request.json, stream_gap, message_id)
    if request.method == "POST" and path == "/messages/count_tokens":
        payload = request.json
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), str):
            return anthropic_error_reply(400, "model: Field required")
        if not isinstance(payload.get("messages"), list) or not payload["messages"]:
            return anthropic_error_reply(400, "messages: at least one message is required")
        return Reply.json({"input_tokens": MOCK_INPUT_TOKENS})
    return anthropic_error_reply(404, f"Not found: {request.method} {request.path}")


def _messages(payload: Any, stream_gap: float, message_id: str) -> Reply:
    if not isinstance(payload, dict):
        return anthropic_error_reply(400, "The request body is not valid JSON.")
    for name in payload:
        if name not in _KNOWN_FIELDS:
            return anthropic_error_reply(400, f"{name}: Extra inputs are not permitted")
    model, messages, max_tokens = (
        payload.get("model"),
        payload.get("messages"),
        payload.get("max_tokens"),
    )
    if not isinstance(model, str) or not model:
        return anthropic_error_reply(400, "model: Field required")
    if not isinstance(messages, list) or not messages:
        return anthropic_error_reply(400, "messages: at least one message is required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return anthropic_error_reply(400, "max_tokens: Field required")

    tool = _forced_tool(payload)
    block: dict[str, Any]
    if tool is not None:
        block = {"type": "tool_use", "id": MOCK_TOOL_ID, "name": tool, "input": MOCK_TOOL_INPUT}
        stop_reason = "tool_use"
    else:
        block = {"type": "text", "text": f"Mock response to: {_last_user_text(messages)}"}
        stop_reason = "end_turn"
    if payload.get("stream") is not True:
        return Reply.json(
            {
                "id": message_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [block],
                "stop_reason": stop_reason,
                "stop_sequence": None,
                "usage": ANTHROPIC_USAGE,
            }
        )
    return Reply.sse(_stream(message_id, model, block, stop_reason), gap=stream_gap, done=False)


def _forced_tool(payload: dict[str, Any]) -> str | None:
    tools, choice = payload.get("tools"), payload.get("tool_choice")
    if not isinstance(tools, list) or not tools or not isinstance(choice, dict):
        return None
    if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        name: str = choice["name"]
        return name
    first = tools[0]
    if (
        choice.get("type") == "any"
        and isinstance(first, dict)
        and isinstance(first.get("name"), str)
    ):
        first_name: str = first["name"]
        return first_name
    return None


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(
                block["text"]
                for block in content
                if isinstance(block, dict)
                and block.get("type") == "text"
                and isinstance(block.get("text"), str)
            )
        return ""
    return ""


def _stream(message_id: str, model: str, block: dict[str, Any], stop_reason: str) -> list[bytes]:
    start_usage = {**ANTHROPIC_USAGE, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    if block["type"] == "tool_use":
        opening = {**block, "input": {}}
        full = orjson.dumps(block["input"]).decode()
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _pieces(full)]
    else:
        opening = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": piece} for piece in _pieces(block["text"])]
    events = [
        _event("message_start", {"type": "message_start", "message": message}),
        _event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": opening},
        ),
        _event("ping", {"type": "ping"}),
    ]
    events += [
        _event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        for delta in deltas
    ]
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": ANTHROPIC_USAGE,
    }
    events += [
        _event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _event("message_delta", message_delta),
        _event("message_stop", {"type": "message_stop"}),
    ]
    return events


def _pieces(text: str) -> list[str]:
    return [text[i : i + _CHUNK_CHARS] for i in range(0, len(text), _CHUNK_CHARS)]


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"
