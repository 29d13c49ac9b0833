"""OpenAI ``chat.completion`` -> Anthropic Messages response (the mirror of
:mod:`gomodel.translate.anthropic_response`).

:func:`chat_to_messages` maps one non-streamed chat answer (its first choice) to ``{id, type:
"message", role: "assistant", model, content, stop_reason, stop_sequence, usage}``:

* ``id``: the chat id with ``msg_`` in front (kept as is if it already starts so); a chat
  without an id gets ``msg_`` and 24 random hex digits. ``model``: the caller's ``model``.
* ``content``, in this order: the reasoning (``reasoning_content``, else ``reasoning``) as one
  ``thinking`` block with ``signature: ""`` (no provider but Anthropic can sign it; an empty
  signature marks it unsigned, and Anthropic would reject the block if it were sent back
  there, while the Messages -> chat translation drops it), the text (``content``, then
  ``refusal``) as one ``text`` block, then one ``tool_use`` block ``{id, name, input}`` per
  tool call: ``id`` the call's (a call without one gets ``toolu_<message id suffix>_<n>``, n
  counting calls from 0), ``input`` the parsed ``arguments`` (``""`` -> ``{}``). Arguments
  that are not a JSON object: when the answer stopped at its length limit the call was cut
  off mid-way and is left out (``stop_reason: "max_tokens"`` says why); otherwise the
  provider broke its contract and :class:`~gomodel.errors.UpstreamError` (502) is raised.
  Empty text is left out, so an empty answer has ``content: []``.
* ``stop_reason`` by :data:`STOP_REASONS`: ``stop`` -> ``end_turn``, ``length`` ->
  ``max_tokens``, ``tool_calls`` (and the legacy ``function_call``) -> ``tool_use``,
  ``content_filter`` -> ``refusal``; missing or unknown -> ``end_turn``. Chat does not say
  which stop sequence matched, so ``stop_sequence`` is ``null``, except where the provider
  says (vLLM's ``choices[0].stop_reason`` string): then ``stop_reason: "stop_sequence"``.
* ``usage`` by :func:`anthropic_usage`: Anthropic's ``input_tokens`` excludes the cached part
  of the prompt, so ``input_tokens`` = ``prompt_tokens`` - cache reads - cache writes,
  ``cache_read_input_tokens`` = ``prompt_tokens_details.cached_tokens``,
  ``cache_creation_input_tokens`` = the cache writes where the provider counts them
  (``prompt_tokens_details.cache_write_tokens``, OpenRouter's name, or a top-level
  ``cache_creation_input_tokens``), ``output_tokens`` = ``completion_tokens``, or
  ``total_tokens`` - ``prompt_tokens`` where that is more: Anthropic counts thinking as output,
  and xAI leaves reasoning out of ``completion_tokens`` (but not out of the total). No usage
  -> zeros.

:func:`chat_usage` reads a chat usage object as the gateway's :class:`Usage` (the same counts
in OpenAI's shape, for the usage row), streams and answers alike.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from gomodel.errors import UpstreamError
from gomodel.translate.responses_output import reasoning_text
from gomodel.usage.extract import Usage, usage_from_object

__all__ = [
    "STOP_REASONS",
    "anthropic_usage",
    "chat_to_messages",
    "chat_usage",
    "message_id",
    "stop_reason",
    "tool_input",
    "tool_use_id",
]

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def chat_to_messages(chat: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """The Messages response for the ``chat.completion`` ``chat``, reported as ``model``.

    Raises :class:`~gomodel.errors.UpstreamError` if ``chat`` is not a chat completion."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict):
        raise UpstreamError("the provider returned a response that is not a chat completion")
    finish = choice.get("finish_reason")
    content: list[dict[str, Any]] = []
    if thinking := reasoning_text(message):
        content.append({"type": "thinking", "thinking": thinking, "signature": ""})
    text = "".join(
        message[key] for key in ("content", "refusal") if isinstance(message.get(key), str)
    )
    if text:
        content.append({"type": "text", "text": text})
    msg_id = message_id(chat.get("id"))
    calls = message.get("tool_calls")
    for n, call in enumerate(calls if isinstance(calls, list) else []):
        block = _tool_use(call, n, msg_id)
        if block is not None:
            content.append(block)
        elif finish != "length":
            raise UpstreamError(
                "the provider returned tool call arguments that are not a JSON object",
                code="invalid_tool_arguments",
            )
    reason, sequence = stop_reason(finish), _stop_sequence(choice)
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "stop_sequence" if sequence is not None else reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(chat_usage(chat.get("usage"))),
    }


def stop_reason(finish_reason: object) -> str:
    """The Anthropic ``stop_reason`` for a chat ``finish_reason`` (see the module docs)."""
    if not isinstance(finish_reason, str):
        return "end_turn"
    return STOP_REASONS.get(finish_reason, "end_turn")


def message_id(chat_id: object) -> str:
    """``msg_<chat id>`` (or the id itself if it starts with ``msg_``); a fresh id if none."""
    if isinstance(chat_id, str) and chat_id:
        return chat_id if chat_id.startswith("msg_") else f"msg_{chat_id}"
    return f"msg_{uuid.uuid4().hex[:24]}"


def tool_input(arguments: object) -> dict[str, Any] | None:
    """Chat tool-call ``arguments`` as a ``tool_use`` ``input``; ``None`` if not a JSON object."""
    if isinstance(arguments, dict):  # a few providers send the object itself
        return arguments
    if not isinstance(arguments, str):
        return {} if arguments is None else None
    if not arguments.strip():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def chat_usage(usage: object) -> Usage | None:
    """A chat usage object as :class:`Usage`: :func:`usage_from_object`, plus cache writes
    where the provider puts them in ``prompt_tokens_details`` (OpenRouter)."""
    counted = usage_from_object(usage)
    if counted is None or counted.cache_write_tokens or not isinstance(usage, Mapping):
        return counted
    details = usage.get("prompt_tokens_details")
    written = details.get("cache_write_tokens") if isinstance(details, Mapping) else None
    if isinstance(written, int) and not isinstance(written, bool) and written > 0:
        return attrs.evolve(counted, cache_write_tokens=written)
    return counted


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    """The Anthropic ``usage`` object for ``usage`` (see the module docs); zeros for ``None``."""
    usage = usage or Usage()
    cached, written = usage.cached_tokens, usage.cache_write_tokens
    return {
        "input_tokens": max(usage.input_tokens - cached - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": max(usage.output_tokens, usage.total_tokens - usage.input_tokens),
    }


def tool_use_id(call_id: object, n: int, msg_id: str) -> str:
    """The tool call's own id, or ``toolu_<message id suffix>_<n>`` for the ``n``-th call
    (from 0) when it came without one."""
    if isinstance(call_id, str) and call_id:
        return call_id
    return f"toolu_{msg_id.removeprefix('msg_')}_{n}"


def _tool_use(call: object, n: int, msg_id: str) -> dict[str, Any] | None:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or not isinstance(fn, dict):
        return None
    tool = tool_input(fn.get("arguments"))
    if tool is None:
        return None
    name = fn.get("name") if isinstance(fn.get("name"), str) else ""
    call_id = tool_use_id(call.get("id"), n, msg_id)
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool}


def _stop_sequence(choice: Mapping[str, Any]) -> str | None:
    matched = choice.get("stop_reason")
    if choice.get("finish_reason") == "stop" and isinstance(matched, str) and matched:
        return matched
    return None
