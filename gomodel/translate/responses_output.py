"""Chat completion answers -> OpenAI Responses ``response`` objects (SPEC §3.5, non-stream),
and the item and usage builders the stream engine
(:mod:`gomodel.translate.responses_stream`) shares, so both give identical objects.

:func:`chat_to_response` turns a ``chat.completion`` into a Responses ``response`` object (the
same object the stream's final event carries, :func:`response_object`):

* ``output``: a ``reasoning`` item ``{id: "rs_...", summary: [], content: [{type:
  "reasoning_text", text}]}`` when the message has ``reasoning_content`` (or ``reasoning``, the
  Groq/OpenRouter/Ollama name); then a ``message`` item (``msg_...``) with one ``output_text``
  part (``annotations``: chat ``url_citation`` annotations, flattened as the Responses API has
  them) and a ``refusal`` part for ``message.refusal``, present when there is text or a
  refusal or no tool call; then one ``function_call`` item per tool call (``id: "fc_<call
  id>"``). Item ids derive from the response id (``resp_X`` -> ``msg_X``, ``rs_X``), as xAI's do.
* ``finish_reason`` ``length`` -> ``status: "incomplete"``, ``incomplete_details: {reason:
  "max_output_tokens"}``; ``content_filter`` -> reason ``content_filter``; items are then
  ``incomplete`` too. Anything else -> ``completed``.
* ``usage`` (:func:`responses_usage`): ``input_tokens``/``output_tokens``/``total_tokens``,
  ``input_tokens_details {cached_tokens, cache_write_tokens, ...}``,
  ``output_tokens_details {reasoning_tokens, ...}``; other provider members are kept.
* ``model`` is the model the provider reports (else the request's); the request's parameters
  are echoed as the real API does (:func:`response_object`): ``instructions``, ``tools``,
  ``tool_choice`` (``auto``), ``text`` (``{"format": {"type": "text"}}``), ``reasoning``,
  ``metadata`` (``{}``), ``truncation`` (``disabled``), ``parallel_tool_calls`` and ``store``
  (true), with the API's defaults in brackets; ``temperature``, ``top_p``,
  ``max_output_tokens``, ``user``, ... are null when not sent, as the provider's defaults are
  unknown. ``completed_at`` is left out: only the caller has a clock. The id is the caller's.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = [
    "chat_to_response",
    "finish_status",
    "function_call_item",
    "id_suffix",
    "message_item",
    "reasoning_item",
    "reasoning_text",
    "response_object",
    "responses_usage",
    "text_part",
]


def chat_to_response(
    chat: dict[str, Any], *, response_id: str, created_at: int, request: dict[str, Any]
) -> dict[str, Any]:
    """The Responses ``response`` object for the ``chat.completion`` answer ``chat``."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else {}
    choice = choice if isinstance(choice, dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    assert isinstance(message, dict)
    status, details = finish_status(choice.get("finish_reason"))
    item_status = "completed" if details is None else "incomplete"
    suffix = id_suffix(response_id)
    output: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        output.append(reasoning_item(f"rs_{suffix}", reasoning, item_status))
    text = _answer_text(message.get("content"))
    refusal = message.get("refusal") if isinstance(message.get("refusal"), str) else None
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    assert isinstance(calls, list)
    if text or refusal or not calls:
        content = [] if refusal and not text else [text_part(text, _annotations(message))]
        if refusal:
            content.append({"type": "refusal", "refusal": refusal})
        output.append(message_item(f"msg_{suffix}", content, item_status))
    for i, call in enumerate(c for c in calls if isinstance(c, dict)):
        fn = call.get("function") if isinstance(call.get("function"), dict) else {}
        assert isinstance(fn, dict)
        call_id, name = call.get("id"), fn.get("name")
        call_id = call_id if isinstance(call_id, str) and call_id else f"call_{suffix}_{i}"
        name = name if isinstance(name, str) else ""
        arguments = fn.get("arguments")
        if not isinstance(arguments, str):
            arguments = "" if arguments is None else orjson.dumps(arguments).decode()
        output.append(function_call_item(call_id, name, arguments, item_status))
    model = chat.get("model") if isinstance(chat.get("model"), str) else request.get("model")
    return response_object(
        response_id=response_id,
        created_at=created_at,
        model=model,
        request=request,
        status=status,
        incomplete_details=details,
        output=output,
        usage=responses_usage(chat.get("usage")),
    )


def response_object(
    *,
    response_id: str,
    created_at: int,
    model: object,
    request: Mapping[str, Any],
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Responses ``response`` object echoing ``request``'s parameters as the real API does."""
    reasoning = request.get("reasoning") if isinstance(request.get("reasoning"), dict) else {}
    assert isinstance(reasoning, dict)
    text = dict(request["text"]) if isinstance(request.get("text"), dict) else {}
    text = {"format": text.pop("format", None) or {"type": "text"}, **text}
    flags = {k: request.get(k) for k in ("parallel_tool_calls", "store")}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete_details,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "model": model,
        "output": output,
        "parallel_tool_calls": flags["parallel_tool_calls"] is not False,
        "previous_response_id": None,
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "safety_identifier": request.get("safety_identifier"),
        "store": flags["store"] is not False,
        "temperature": request.get("temperature"),
        "text": text,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": request.get("user"),
        "metadata": request.get("metadata") or {},
    }


def responses_usage(usage: object) -> dict[str, Any] | None:
    """A chat usage object in the Responses shape; provider extras kept. ``None`` if absent."""
    if not isinstance(usage, Mapping):
        return None
    prompt = _count(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _count(usage.get("completion_tokens", usage.get("output_tokens")))
    total = _count(usage.get("total_tokens")) or prompt + completion
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    details = dict(details) if isinstance(details, Mapping) else {}
    into = {"cached_tokens": _count(details.pop("cached_tokens", 0))}
    into["cache_write_tokens"] = _count(details.pop("cache_write_tokens", 0))
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details")
    out_details = dict(out_details) if isinstance(out_details, Mapping) else {}
    reasoning = {"reasoning_tokens": _count(out_details.pop("reasoning_tokens", 0))}
    known = {"prompt_tokens", "completion_tokens", "total_tokens", "input_tokens"}
    known |= {"output_tokens", "prompt_tokens_details", "completion_tokens_details"}
    known |= {"input_tokens_details", "output_tokens_details"}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {**into, **details},
        "output_tokens": completion,
        "output_tokens_details": {**reasoning, **out_details},
        "total_tokens": total,
        **{k: v for k, v in usage.items() if k not in known},
    }


# -- shared with the stream engine -----------------------------------------------------------


def finish_status(finish_reason: object) -> tuple[str, dict[str, Any] | None]:
    """(``status``, ``incomplete_details``) for a chat ``finish_reason``."""
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def id_suffix(response_id: str) -> str:
    """``resp_X`` -> ``X``: the part item ids are derived from."""
    return response_id.removeprefix("resp_")


def reasoning_text(message: Mapping[str, Any]) -> str:
    """A chat message's or delta's reasoning text (``reasoning_content`` or ``reasoning``)."""
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str) and message[key]:
            text: str = message[key]
            return text
    return ""


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "annotations": annotations or [], "logprobs": [], "text": text}


def message_item(item_id: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def reasoning_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "reasoning_text", "text": text}]
    return {"id": item_id, "type": "reasoning", "summary": [], "content": content, "status": status}


def function_call_item(call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": f"fc_{call_id}",
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    }


def _answer_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # a few providers answer with parts
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _annotations(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for note in message.get("annotations") or []:
        inner = note.get("url_citation") if isinstance(note, dict) else None
        if (
            isinstance(note, dict)
            and note.get("type") == "url_citation"
            and isinstance(inner, dict)
        ):
            out.append({"type": "url_citation", **inner})
    return out


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
