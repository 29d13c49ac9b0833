"""A best-effort peek at what a request means: parse the JSON body once, check the few fields
the gateway reads, and leave everything else alone (unknown fields travel upstream untouched).

Validation errors are :class:`~gomodel.errors.InvalidRequest` naming the field (``param``).
Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs
import orjson

from gomodel.errors import InvalidRequest
from gomodel.ingress.messages_check import check_messages

__all__ = [
    "Operation",
    "Semantics",
    "chat_semantics",
    "parse_chat",
    "parse_embeddings",
    "parse_json_object",
    "parse_messages",
    "parse_passthrough",
    "parse_responses",
    "parse_selector",
]

# Upper bound for integer knobs such as max_tokens: far above any model, far below overflow.
_MAX_INT = 2**31 - 1


class Operation(enum.Enum):
    """What a request asks the gateway to do; every surface is one."""

    CHAT = "chat"  # POST /v1/chat/completions
    RESPONSES = "responses"  # POST /v1/responses
    EMBEDDINGS = "embeddings"  # POST /v1/embeddings
    PASSTHROUGH = "passthrough"  # /p/{provider}/{endpoint...}: the provider's own API
    MESSAGES = "messages"  # POST /v1/messages (and its count_tokens): Anthropic's API


@attrs.frozen(slots=True)
class Semantics:
    """What the gateway needs to know about a request: the operation, the model selector, and
    the few fields that decide its route. The chat knobs are false elsewhere."""

    operation: Operation
    doc: dict[str, Any] = attrs.field(repr=False, eq=False)  # the parsed body; treat as read-only
    model: str  # the selector as sent ("" for a passthrough request without one)
    provider: str | None = None  # the non-standard ``provider`` body field
    stream: bool = False
    has_stream_options: bool = False
    include_usage: bool = False  # stream_options.include_usage as the client sent it
    has_max_tokens: bool = False
    has_temperature: bool = False
    reasoning_effort: str | None = None  # ``reasoning.effort``, if the client sent that object


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object; 400 otherwise."""
    if not body.strip():
        raise InvalidRequest("invalid request body: the body is empty; expected a JSON object")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"invalid request body: {exc}")
    if not isinstance(doc, dict):
        raise InvalidRequest(f"invalid request body: expected a JSON object, got {_json_type(doc)}")
    return doc


def parse_selector(doc: dict[str, Any]) -> tuple[str, str | None]:
    """The ``model`` (required) and the gateway-only ``provider`` members of a request body."""
    model = doc.get("model")
    if model is None or model == "":
        raise InvalidRequest("model is required", param="model")
    if not isinstance(model, str):
        raise _wrong_type("model", "a string", model)
    provider = doc.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise _wrong_type("provider", "a string", provider)
    return model, provider or None


def parse_chat(body: bytes) -> Semantics:
    return chat_semantics(parse_json_object(body))


def chat_semantics(doc: dict[str, Any]) -> Semantics:
    """The semantics of a parsed chat request body (one the client sent, or one the gateway
    made by translation)."""
    model, provider = parse_selector(doc)

    messages = doc.get("messages")
    if messages is None:
        raise InvalidRequest("messages is required", param="messages")
    if not isinstance(messages, list):
        raise _wrong_type("messages", "an array", messages)
    if not messages:
        raise InvalidRequest("messages must contain at least one message", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _wrong_type(f"messages[{i}]", "an object", message)
        role = message.get("role")
        if not isinstance(role, str) or not role:
            raise _wrong_type(f"messages[{i}].role", "a non-empty string", role)

    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    stream_options = doc.get("stream_options")
    include_usage = False
    if stream_options is not None:
        if not isinstance(stream_options, dict):
            raise _wrong_type("stream_options", "an object", stream_options)
        flag = stream_options.get("include_usage")
        if flag is not None and not isinstance(flag, bool):
            raise _wrong_type("stream_options.include_usage", "a boolean", flag)
        include_usage = bool(flag)

    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = doc.get(name)
        if value is not None and not _is_int(value, low=0):
            raise _wrong_type(name, f"an integer between 0 and {_MAX_INT}", value)
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        value = doc.get(name)
        if value is not None and not _is_number(value):
            raise _wrong_type(name, "a number", value)

    reasoning_effort = None
    reasoning = doc.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        reasoning_effort = reasoning["effort"]

    return Semantics(
        Operation.CHAT,
        doc=doc,
        model=model,
        provider=provider,
        stream=bool(stream),
        has_stream_options=stream_options is not None,
        include_usage=include_usage,
        has_max_tokens=doc.get("max_tokens") is not None,
        has_temperature="temperature" in doc,
        reasoning_effort=reasoning_effort,
    )


def parse_responses(body: bytes) -> Semantics:
    doc = parse_json_object(body)
    model, provider = parse_selector(doc)
    stream = doc.get("stream", False)
    if not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    return Semantics(Operation.RESPONSES, doc=doc, model=model, provider=provider, stream=stream)


def parse_messages(body: bytes) -> Semantics:
    """An Anthropic Messages request (``/v1/messages``, ``/v1/messages/count_tokens``): the
    selector, ``stream``, whether ``max_tokens`` is there (an integer >= 0: Anthropic takes 0,
    a cache pre-warm), and the shape of ``system`` and ``messages``
    (:func:`~gomodel.ingress.messages_check.check_messages`)."""
    doc = parse_json_object(body)
    model, provider = parse_selector(doc)
    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _wrong_type("stream", "a boolean", stream)
    max_tokens = doc.get("max_tokens")
    if max_tokens is not None and not _is_int(max_tokens, low=0):
        raise _wrong_type("max_tokens", f"an integer between 0 and {_MAX_INT}", max_tokens)
    check_messages(doc)
    return Semantics(
        Operation.MESSAGES,
        doc=doc,
        model=model,
        provider=provider,
        stream=bool(stream),
        has_max_tokens=max_tokens is not None,
    )


def parse_passthrough(body: bytes) -> Semantics:
    """Best effort: a JSON object body gives the model and the stream flag; anything else
    (binary uploads, empty GETs) is the provider's business and goes upstream as it is."""
    doc: dict[str, Any] = {}
    if body and body.lstrip()[:1] == b"{":
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            doc = parsed
    model = doc.get("model")
    return Semantics(
        Operation.PASSTHROUGH,
        doc=doc,
        model=model if isinstance(model, str) else "",
        stream=doc.get("stream") is True,
    )


def parse_embeddings(body: bytes) -> Semantics:
    doc = parse_json_object(body)
    model, provider = parse_selector(doc)
    text = doc.get("input")
    if text is None:
        raise InvalidRequest("input is required", param="input")
    if not isinstance(text, (str, list)) or (isinstance(text, list) and not text):
        raise _wrong_type("input", "a string or a non-empty array", text)
    dimensions = doc.get("dimensions")
    if dimensions is not None and not _is_int(dimensions, low=1):
        raise _wrong_type("dimensions", "a positive integer", dimensions)
    return Semantics(Operation.EMBEDDINGS, doc=doc, model=model, provider=provider)


def _is_int(value: object, *, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= _MAX_INT


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) <= _MAX_INT
    return isinstance(value, float) and math.isfinite(value) and abs(value) <= _MAX_INT


def _wrong_type(param: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(
        f"invalid request body: {param} must be {expected}, got {_json_type(value)}",
        param=param,
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
