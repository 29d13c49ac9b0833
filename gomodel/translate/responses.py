"""OpenAI Responses API <-> chat completions, for providers without a native Responses API
(SPEC §3.4, §3.5; the stream engines are in :mod:`gomodel.translate.responses_stream`).

:func:`responses_to_chat` turns a ``POST /v1/responses`` body into a chat completions body.
Every top-level field is translated, copied, dropped (it changes no answer) or rejected with a
400 naming it; errors' ``param`` is the JSON path (``input[2].content[0].image_url``).

* ``model`` and the gateway's ``provider`` field are copied (the caller replaces the model).
* ``instructions`` (a string) -> a leading ``system`` message.
* ``input``: a string -> one ``user`` message. An array of items:

  - ``message`` (``type`` may be omitted; ``role`` required): ``developer`` becomes ``system``
    (same meaning, and chat providers other than OpenAI know only ``system``); content a
    string, or parts: ``input_text``/``output_text``/``text`` and ``refusal`` -> text,
    ``input_image`` with ``image_url`` -> ``image_url`` ``{url, detail?}``, ``input_audio`` ->
    ``input_audio``, ``input_file`` with ``file_data`` -> ``file`` ``{file_data, filename?}``
    (``file_id``/``file_url`` name files the provider cannot fetch -> 400). Text-only content
    becomes one string, parts joined by one space as the Go gateway does (Groq wants strings
    for system and assistant messages). ``name`` is kept; other members (``id``, ``status``,
    ``phase``: bookkeeping of earlier answers) are dropped.
  - ``function_call`` -> an assistant ``tool_calls`` entry ``{id: call_id, type: "function",
    function: {name, arguments}}`` (``call_id``, else ``id``, and ``name`` required; non-string
    arguments JSON-encoded); appended to the previous message when that is an assistant
    message, so a message item and its calls, or consecutive calls, make one assistant turn.
  - ``function_call_output`` -> a ``tool`` message (``call_id`` required); an output of text
    parts is their text concatenated, any other non-string output JSON-encoded.
  - ``reasoning`` -> dropped: chat has no input field for earlier reasoning (DeepSeek rejects
    ``reasoning_content`` in input), and clients echo these items back from our own answers.
  - ``item_reference`` and built-in tool items (``web_search_call``, ``computer_call``, ...) ->
    400: nothing here can resolve or replay them.
* ``tools``: function tools ``{type, name, description?, parameters?, strict?}`` -> ``{type,
  function: {...}}``, other members (``cache_control``) kept on the tool; built-in tools
  (``web_search``, ``file_search``, ``mcp``, ...) -> 400 (the Go gateway forwards them, and the
  provider then fails or ignores them).
* ``tool_choice``: ``auto``/``none``/``required`` copied, ``{type: "function", name}`` ->
  ``{type: "function", function: {name}}``, anything else (built-in, ``allowed_tools``) -> 400.
* ``max_output_tokens`` -> ``max_tokens``; ``reasoning.effort`` -> ``reasoning_effort``
  (``reasoning.summary``/``generate_summary`` dropped: the answer carries the provider's full
  reasoning text, if any, instead); ``text.format``: ``text`` -> nothing, ``json_object`` ->
  ``response_format: {type: "json_object"}``, ``json_schema`` -> ``response_format: {type:
  "json_schema", json_schema: {name, schema, description?, strict?}}`` (``text.verbosity``
  dropped: a style hint only OpenAI models know).
* ``stream: true`` -> ``stream: true`` and ``stream_options: {include_usage: true}``: the final
  ``response.completed`` event carries usage. The Responses ``stream_options``
  (``include_obfuscation``) means nothing for a translated stream and is dropped.
* Copied (same name and meaning in chat): ``temperature``, ``top_p``,
  ``parallel_tool_calls``, ``user``, ``safety_identifier``, and every field this module does
  not know (the provider judges those, as on the chat route), unless it clashes with a field
  the translation writes (``messages``, ``max_tokens`` next to ``max_output_tokens``, ...):
  400.
* Dropped (:data:`DROPPED_FIELDS`): ``store``, ``metadata`` (the gateway's Responses store
  keeps them; ``metadata`` is echoed in the answer), ``include`` (extra output data such as
  encrypted reasoning that chat providers do not produce), ``truncation`` (without it an
  over-long input fails at the provider instead of being cut: a clear error, never a different
  answer), ``max_tool_calls`` (it limits built-in tools only), ``top_logprobs`` (logprobs are
  not translated back), ``prompt_cache_key``, ``prompt_cache_retention``, ``service_tier``
  (OpenAI billing and cache hints; tier names differ per provider).
* Rejected (:data:`REJECTED_FIELDS`) unless null (or ``background: false``):
  ``previous_response_id`` and ``conversation`` (state the provider does not hold; send the
  conversation in ``input``), ``prompt`` (OpenAI-stored prompt templates), ``background``.

:func:`chat_to_response` (the non-streamed answer; its mapping is documented in
:mod:`gomodel.translate.responses_output`) and :class:`ChatToResponsesStream` translate back;
:class:`ResponsesStreamObserver` watches native Responses streams (both documented in
:mod:`gomodel.translate.responses_stream`). All four are re-exported here.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.errors import InvalidRequest
from gomodel.translate._anthropic_messages import bad_value
from gomodel.translate.responses_output import chat_to_response
from gomodel.translate.responses_stream import ChatToResponsesStream, ResponsesStreamObserver

__all__ = [
    "COPIED_FIELDS",
    "DROPPED_FIELDS",
    "REJECTED_FIELDS",
    "ChatToResponsesStream",
    "ResponsesStreamObserver",
    "chat_to_response",
    "responses_to_chat",
]

COPIED_FIELDS = ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier")
_TRANSLATED = frozenset(
    {"model", "instructions", "input", "tools", "tool_choice", "max_output_tokens"}
    | {"reasoning", "text", "stream", "stream_options"}
)
DROPPED_FIELDS = frozenset(
    {"store", "metadata", "include", "truncation", "max_tool_calls", "top_logprobs"}
    | {"prompt_cache_key", "prompt_cache_retention", "service_tier"}
)
REJECTED_FIELDS = {
    "previous_response_id": "cannot be resolved for this provider; send the conversation in input",
    "conversation": "cannot be resolved for this provider; send the conversation in input",
    "prompt": "stored prompt templates are not supported for this provider",
    "background": "background responses are not supported for this provider",
}
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def responses_to_chat(doc: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for the Responses request ``doc`` (see the module docstring).

    Raises :class:`~gomodel.errors.InvalidRequest` naming the field it cannot honour."""
    for name, reason in REJECTED_FIELDS.items():
        value = doc.get(name)
        if value is not None and not (name == "background" and value is False):
            raise InvalidRequest(f"{name} {reason}", param=name)
    out: dict[str, Any] = {}
    if "model" in doc:
        out["model"] = doc["model"]
    out["messages"] = _messages(doc)
    for name in ("tools", "tool_choice"):
        if doc.get(name) is not None:
            out[name] = _tools(doc[name]) if name == "tools" else _tool_choice(doc[name])
    if doc.get("max_output_tokens") is not None:
        out["max_tokens"] = doc["max_output_tokens"]
    reasoning = doc.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise bad_value("reasoning", "an object", reasoning)
        if reasoning.get("effort") is not None:
            out["reasoning_effort"] = reasoning["effort"]
    _text_format(doc.get("text"), out)
    stream = doc.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_value("stream", "a boolean", stream)
    if stream is not None:
        out["stream"] = stream
    if stream:
        out["stream_options"] = {"include_usage": True}
    for name, value in doc.items():  # COPIED_FIELDS, "provider" and unknown fields
        if name in _TRANSLATED or name in DROPPED_FIELDS or name in REJECTED_FIELDS:
            continue
        if name in out:  # e.g. "messages" or "max_tokens" next to their Responses spelling
            message = f"'{name}' is not a Responses API parameter; it clashes with the translation"
            raise InvalidRequest(message, param=name)
        out[name] = value
    return out


def _messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    instructions = doc.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad_value("instructions", "a string", instructions)
    if instructions:
        messages.append({"role": "system", "content": instructions})
    items = doc.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list):
        raise bad_value("input", "a string or an array of input items", items)
    for i, item in enumerate(items):
        _item(item, f"input[{i}]", messages)
    if not messages:
        raise InvalidRequest("input must contain at least one item", param="input")
    return messages


def _item(item: object, param: str, messages: list[dict[str, Any]]) -> None:
    if not isinstance(item, dict):
        raise bad_value(param, "an object", item)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise bad_value(f"{param}.role", "user, assistant, system or developer", role)
        message: dict[str, Any] = {"role": "system" if role == "developer" else role}
        message["content"] = _content(item.get("content"), f"{param}.content")
        if isinstance(item.get("name"), str):
            message["name"] = item["name"]
        messages.append(message)
    elif kind == "function_call":
        call_id, name = item.get("call_id") or item.get("id"), item.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise bad_value(f"{param}.call_id", "a non-empty string", call_id)
        if not isinstance(name, str) or not name:
            raise bad_value(f"{param}.name", "a non-empty string", name)
        arguments = item.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        call_id = item.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise bad_value(f"{param}.call_id", "a non-empty string", call_id)
        messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": _tool_output(item.get("output"))}
        )
    elif kind != "reasoning":
        reason = f"input items of type {kind!r} are not supported for this provider"
        raise InvalidRequest(reason, param=f"{param}.type")


def _content(content: object, param: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise bad_value(param, "a string or an array of content parts", content)
    parts = [_part(part, f"{param}[{i}]") for i, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        return " ".join(part["text"] for part in parts)
    return parts


def _part(part: object, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if not isinstance(part, dict) or not isinstance(kind, str):
        raise bad_value(param, "a content part object with a type", part)
    if kind in _TEXT_PARTS or kind == "refusal":
        key = "refusal" if kind == "refusal" else "text"
        if not isinstance(part.get(key), str):
            raise bad_value(f"{param}.{key}", "a string", part.get(key))
        return {"type": "text", "text": part[key]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            if part.get("file_id") is not None:
                message = "images by file_id are not supported for this provider; send image_url"
                raise InvalidRequest(message, param=f"{param}.file_id")
            raise bad_value(f"{param}.image_url", "a URL string", url)
        image: dict[str, Any] = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise bad_value(f"{param}.input_audio", "an object {data, format}", audio)
        return {"type": "input_audio", "input_audio": audio}
    if kind == "input_file":
        data = part.get("file_data")
        if not isinstance(data, str) or not data:
            message = "files are supported only as file_data for this provider"
            raise InvalidRequest(message, param=f"{param}.file_data")
        file: dict[str, Any] = {"file_data": data}
        if isinstance(part.get("filename"), str):
            file["filename"] = part["filename"]
        return {"type": "file", "file": file}
    message = f"content parts of type {kind!r} are not supported for this provider"
    raise InvalidRequest(message, param=f"{param}.type")


def _tool_output(output: object) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list) and all(
        isinstance(p, dict) and p.get("type") in _TEXT_PARTS and isinstance(p.get("text"), str)
        for p in output
    ):
        return "".join(p["text"] for p in output)
    return orjson.dumps(output).decode()


def _tools(tools: object) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise bad_value("tools", "an array", tools)
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or kind != "function":
            message = f"tool type {kind!r} is only available on providers with a Responses API"
            raise InvalidRequest(message, param=f"tools[{i}].type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise bad_value(f"tools[{i}].name", "a non-empty string", tool.get("name"))
        function = {
            k: tool[k] for k in ("name", "description", "parameters", "strict") if k in tool
        }
        extra = {k: v for k, v in tool.items() if k not in function and k != "type"}
        out.append({"type": "function", "function": function, **extra})
    return out


def _tool_choice(choice: object) -> object:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        if not isinstance(choice.get("name"), str) or not choice["name"]:
            raise bad_value("tool_choice.name", "a non-empty string", choice.get("name"))
        return {"type": "function", "function": {"name": choice["name"]}}
    raise bad_value("tool_choice", 'auto, none, required or {"type": "function", "name"}', choice)


def _text_format(text: object, out: dict[str, Any]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise bad_value("text", "an object", text)
    spec = text.get("format")
    kind = spec.get("type") if isinstance(spec, dict) else None
    if spec is None or kind == "text":
        return
    if kind == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        assert isinstance(spec, dict)
        if not isinstance(spec.get("schema"), dict):
            raise bad_value("text.format.schema", "a JSON schema object", spec.get("schema"))
        keys = ("name", "schema", "description", "strict")
        schema = {k: spec[k] for k in keys if spec.get(k) is not None}
        out["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise bad_value("text.format.type", "text, json_object or json_schema", kind)
