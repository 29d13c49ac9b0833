"""Anthropic Messages response -> OpenAI ``chat.completion``; usage; errors (SPEC §3.3, §6.3).

:func:`messages_to_chat` maps one non-streamed Anthropic message:

* ``id`` = the Anthropic id (``msg_...``), ``model`` = the model Anthropic reports, ``created``
  from the caller (the gateway's clock), one choice with ``logprobs: null``.
* ``message.content`` = the ``text`` blocks concatenated with nothing between them, exactly as a
  stream delivers them (Anthropic splits one answer into several text blocks around citations
  and tool calls); ``null`` when there is no text but there are tool calls, ``""`` otherwise.
* ``thinking`` blocks, concatenated the same way -> ``message.reasoning_content`` (the field the
  DeepSeek/vLLM/OpenRouter family uses); ``redacted_thinking`` has no text to show and is left
  out; signatures are dropped (OpenAI clients have nowhere to keep them).
* ``tool_use`` blocks -> ``message.tool_calls`` ``[{id, type: "function", function: {name,
  arguments}}]``, ids kept and ``arguments`` the compact JSON of ``input`` (``"{}"`` if empty).
* ``stop_reason`` -> ``finish_reason`` by :data:`FINISH_REASONS`: ``end_turn`` and
  ``stop_sequence`` -> ``stop``, ``max_tokens`` and ``model_context_window_exceeded`` ->
  ``length``, ``tool_use`` -> ``tool_calls``, ``refusal`` -> ``content_filter``, ``pause_turn``
  -> ``stop`` (it only follows server tools, which the gateway never asks for); a missing one ->
  ``stop``; an unknown one is passed through so that a new reason is seen, not hidden.
  ``stop_sequence`` (which sequence matched) has no OpenAI field and is dropped.

Usage (:func:`usage_from_anthropic`, :func:`openai_usage`): Anthropic's ``input_tokens`` counts
only the uncached part of the prompt, so ``prompt_tokens`` = ``input_tokens`` +
``cache_read_input_tokens`` + ``cache_creation_input_tokens`` (the whole prompt, as OpenAI
counts it), ``completion_tokens`` = ``output_tokens`` (thinking included; Anthropic does not
split it out), ``prompt_tokens_details.cached_tokens`` = cache reads and
``prompt_tokens_details.cache_write_tokens`` = cache writes (OpenRouter's name for it; billed at
a premium, so clients and :class:`~gomodel.usage.extract.Usage` both keep it). A stream's usage
is built by the same function from the same fields, so both give identical counts.

Errors (:func:`anthropic_error`, :func:`error_from_anthropic`): Anthropic's envelope
``{"type":"error","error":{"type","message"}}`` -> a gateway error by :data:`ERROR_TYPES`, with
``code`` = Anthropic's error type and ``retry-after`` kept: ``invalid_request_error`` 400,
``authentication_error`` 401, ``permission_error`` 403, ``billing_error`` 402 (the gateway's
Anthropic account, not the client, is at fault), ``not_found_error`` 404,
``request_too_large`` 413, ``rate_limit_error`` 429, ``api_error`` 502, ``overloaded_error``
503, ``timeout_error`` 504, anything else 502. A body without the envelope falls back to
:func:`~gomodel.errors.error_from_upstream`, with Anthropic's 529 read as 503.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gomodel.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_from_upstream,
)
from gomodel.usage.extract import Usage

__all__ = [
    "ERROR_TYPES",
    "FINISH_REASONS",
    "anthropic_error",
    "error_from_anthropic",
    "finish_reason",
    "messages_to_chat",
    "openai_usage",
    "tool_arguments",
    "usage_from_anthropic",
]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

ERROR_TYPES: dict[str, tuple[type[GatewayError], int]] = {
    "invalid_request_error": (InvalidRequest, 400),
    "authentication_error": (AuthenticationFailed, 401),
    "permission_error": (AuthenticationFailed, 403),
    "billing_error": (UpstreamError, 402),
    "not_found_error": (NotFound, 404),
    "request_too_large": (InvalidRequest, 413),
    "rate_limit_error": (RateLimited, 429),
    "api_error": (UpstreamError, 502),
    "overloaded_error": (UpstreamUnavailable, 503),
    "timeout_error": (UpstreamTimeout, 504),
}


def messages_to_chat(doc: Mapping[str, Any], *, created: int) -> dict[str, Any]:
    """The ``chat.completion`` for the Anthropic message ``doc``.

    Raises :class:`~gomodel.errors.UpstreamError` if ``doc`` is not a message.
    """
    blocks = doc.get("content")
    if not isinstance(blocks, list) or not isinstance(doc.get("id"), str):
        raise UpstreamError("anthropic returned a response that is not a message")
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif kind == "tool_use":
            function = {"name": block.get("name"), "arguments": tool_arguments(block.get("input"))}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    usage = usage_from_anthropic(doc.get("usage")) or Usage()
    return {
        "id": doc["id"],
        "object": "chat.completion",
        "created": created,
        "model": doc.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(doc.get("stop_reason")),
                "logprobs": None,
            }
        ],
        "usage": openai_usage(usage),
    }


def finish_reason(stop_reason: object) -> str:
    """The OpenAI ``finish_reason`` for an Anthropic ``stop_reason`` (see the module docs)."""
    if not isinstance(stop_reason, str) or not stop_reason:
        return "stop"
    return FINISH_REASONS.get(stop_reason, stop_reason)


def tool_arguments(tool_input: object) -> str:
    """A ``tool_use`` block's ``input`` as OpenAI ``arguments``: compact JSON, ``"{}"`` if none."""
    if not tool_input:
        return "{}"
    return orjson.dumps(tool_input).decode()


def usage_from_anthropic(usage: object) -> Usage | None:
    """A :class:`Usage` from an Anthropic usage object; ``None`` if it counts nothing."""
    if not isinstance(usage, Mapping):
        return None
    fresh = _count(usage.get("input_tokens"))
    read = _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    output = _count(usage.get("output_tokens"))
    prompt = fresh + read + written
    if not (prompt or output):
        return None
    return Usage(
        input_tokens=prompt,
        output_tokens=output,
        total_tokens=prompt + output,
        cached_tokens=read,
        cache_write_tokens=written,
        raw=dict(usage),
    )


def openai_usage(usage: Usage) -> dict[str, Any]:
    """The OpenAI ``usage`` object for ``usage`` (see the module docs)."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
    }


def anthropic_error(
    provider: str, error: object, *, retry_after: str | None = None
) -> GatewayError:
    """The gateway error for Anthropic's ``error`` object ``{"type", "message"}``."""
    error_type = error.get("type") if isinstance(error, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    error_type = error_type if isinstance(error_type, str) and error_type else "api_error"
    cls, status = ERROR_TYPES.get(error_type, (UpstreamError, 502))
    text = f"{provider}: {message}" if isinstance(message, str) and message else None
    headers = {"retry-after": retry_after} if retry_after else {}
    return cls(
        text or f"{provider} reported {error_type}",
        code=error_type,
        status=status,
        headers=headers,
    )


def error_from_anthropic(
    provider: str,
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    retry_after: str | None = None,
) -> GatewayError:
    """The gateway error for an Anthropic error response (``status`` and ``body``)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("type") == "error" and isinstance(doc.get("error"), dict):
        return anthropic_error(provider, doc["error"], retry_after=retry_after)
    err = error_from_upstream(
        provider, status, body, content_type=content_type, retry_after=retry_after
    )
    if status == 529:  # Anthropic's "overloaded": a status no OpenAI client knows
        err.status = 503
    return err


def _count(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0
