"""OpenAI chat request -> Anthropic Messages request (SPEC §3.2, done better).

:func:`chat_to_messages` turns a parsed ``/v1/chat/completions`` body into the body of
``POST {base}/messages``. The Go gateway drops ``stop``, ``top_p``, ``user`` and unknown fields
without a word; here every field is translated, dropped because it has no Anthropic meaning
(:data:`DROPPED_FIELDS`), accepted only at its no-op value (:data:`DEFAULT_ONLY_FIELDS`), or
rejected with a 400 naming it. Nothing silently changes what the request asks for.

Messages (``param`` of every error is the JSON path, e.g. ``messages[2].content[1].image_url``):

* ``system`` and ``developer`` messages, wherever they stand, become the top-level ``system``:
  their text parts joined with ``"\\n\\n"``, or a list of text blocks when a part carries
  ``cache_control``. Only text parts are allowed there.
* ``user``: text parts -> ``text`` blocks; ``image_url`` (a string or ``{url}``; ``detail`` has
  no Anthropic meaning and is dropped): an http(s) URL -> ``{"type":"image","source":{"type":
  "url","url"}}``, a ``data:image/{jpeg,png,gif,webp};base64,`` URL -> a ``base64`` source,
  anything else 400; ``file`` with a PDF ``file_data`` data URL -> a ``document`` block
  (``file_id``, other media types and ``input_audio`` -> 400).
* ``assistant``: text (and ``refusal`` parts, as text), then one ``tool_use`` block per
  ``tool_calls`` entry with ``input`` = the parsed ``arguments`` (a JSON object; ``""`` means
  ``{}``; invalid JSON or a non-object -> 400). Echoed response members (``refusal``,
  ``reasoning_content``, ``annotations``, ``name``) are dropped: without Anthropic's signature
  thinking cannot be sent back. Non-null ``function_call`` or ``audio`` -> 400.
* ``tool``: a ``tool_result`` block (``tool_call_id`` required) in a user turn.
* Consecutive turns of one role are merged (Anthropic wants alternation), so consecutive tool
  results form one user turn, whose ``tool_result`` blocks come first as Anthropic requires.
  Empty text is skipped and a message left with no content is left out. A turn that is a
  single plain text block is sent as a string. A trailing assistant turn is sent as is:
  Anthropic continues it (prefill).
* Tool-call ids are made Anthropic-safe (characters outside ``[A-Za-z0-9_-]`` -> ``_``) the same
  way in ``tool_use`` and ``tool_result``, so histories made by other providers replay.
* ``cache_control`` on a content part or a tool (the OpenRouter/LiteLLM convention) is kept:
  it is how Anthropic prompt caching is asked for.

Parameters:

* ``max_tokens`` = ``max_completion_tokens``, else ``max_tokens``, else ``default_max_tokens``
  (Anthropic requires it); 0 -> 400.
* ``temperature`` (Anthropic's range is 0..1: above 1 -> 400, never rescaled), ``top_p``.
* ``stop`` (string or list) -> ``stop_sequences``.
* ``tools`` (function tools only) -> ``{name, description, input_schema, strict?}``;
  missing ``parameters`` -> ``{"type":"object","properties":{}}``.
* ``tool_choice``: ``auto`` -> ``{"type":"auto"}``, ``none`` -> ``{"type":"none"}`` (tools stay
  visible, as in OpenAI), ``required`` -> ``{"type":"any"}``, a named function ->
  ``{"type":"tool","name"}`` (the name must be among the tools). Without tools, ``auto`` and
  ``none`` mean nothing and are dropped; any other choice -> 400.
* ``parallel_tool_calls: false`` -> ``disable_parallel_tool_use: true`` on the tool choice
  (``{"type":"auto"}`` when none was given); without tools, or with ``none``, it means nothing.
* ``reasoning_effort`` (or the gateway's ``reasoning.effort``) -> ``thinking: {"type":
  "enabled", "budget_tokens": B}`` with B = :data:`THINKING_BUDGETS` (``none`` -> no thinking;
  ``minimal`` shares ``low``'s 1024, Anthropic's smallest budget). ``max_tokens`` counts thinking
  on both APIs, so a client's explicit cap is kept and the budget shrinks to ``cap - 1``
  (cap <= 1024 -> 400); without a cap ``max_tokens`` = B + ``default_max_tokens``. Anthropic
  forbids sampling knobs with thinking: ``temperature`` is dropped unless exactly 1 and
  ``top_p`` unless in [0.95, 1]; forcing a tool (``required`` or named) -> 400.
* ``response_format``: ``text`` -> nothing; ``json_schema`` -> ``output_config: {"format":
  {"type":"json_schema","schema"}}`` (Anthropic's constrained decoding, always strict; models
  without it answer 400 themselves). ``json_object`` -> 400: Anthropic cannot promise "some JSON
  object" without a schema, and a prompt would turn a guarantee into a hope.
* ``safety_identifier``, else ``user`` -> ``metadata.user_id``.
* ``stream`` copied; ``stream_options`` consumed (the stream translator reads include_usage).
* ``model`` is replaced; the gateway's own ``provider`` field is consumed.
* Any other field -> 400 "unknown parameter": Anthropic would reject it anyway, and a
  misspelt OpenAI field deserves a clear answer.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gomodel.errors import InvalidRequest

__all__ = [
    "DEFAULT_ONLY_FIELDS",
    "DROPPED_FIELDS",
    "THINKING_BUDGETS",
    "TRANSLATED_FIELDS",
    "chat_to_messages",
]

# Translated as the module docstring says; "reasoning" is the gateway's canonical {"effort"}
# form (SPEC §3.0) and "provider" the gateway-only field that picks the provider.
TRANSLATED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning_effort",
        "reasoning",
        "response_format",
        "user",
        "safety_identifier",
        "provider",
    }
)

DROPPED_FIELDS = frozenset(
    {
        "frequency_penalty",  # repetition penalties: Anthropic has no such sampling knob
        "presence_penalty",  # likewise
        "seed",  # best-effort determinism: Anthropic has no seed
        "logprobs",  # Anthropic returns none; choices say so with "logprobs": null
        "top_logprobs",  # only meaningful with logprobs
        "store",  # OpenAI-side storage of completions for its dashboard
        "metadata",  # tags for OpenAI-stored completions (not Anthropic's metadata.user_id)
        "prompt_cache_key",  # OpenAI cache routing hint; Anthropic caches by cache_control
        "prompt_cache_retention",  # likewise
        "prediction",  # predicted outputs only cut latency; the answer is the same without
    }
)

# Fields that mean nothing at these values (and at null) and something Anthropic cannot do at
# any other: 400 naming the field then.
DEFAULT_ONLY_FIELDS: dict[str, tuple[object, ...]] = {
    "n": (1,),
    "logit_bias": ({},),
    "modalities": (["text"],),
    "audio": (),
    "functions": ([],),  # legacy function calling: use tools
    "function_call": (),
    "service_tier": ("auto", "default"),
    "verbosity": ("medium",),
    "web_search_options": (),
}

THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
_MIN_BUDGET = 1024
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
_PARTS = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text", "image_url"),
}


def chat_to_messages(
    doc: dict[str, Any], *, model: str, default_max_tokens: int = 4096
) -> dict[str, Any]:
    """The Anthropic Messages request body for the OpenAI chat request ``doc``, aimed at
    ``model``. Raises :class:`~gomodel.errors.InvalidRequest` naming the field it cannot honour."""
    for name, value in doc.items():
        if name in TRANSLATED_FIELDS or name in DROPPED_FIELDS or value is None:
            continue
        if name not in DEFAULT_ONLY_FIELDS:
            raise InvalidRequest(f"unknown parameter: '{name}'", param=name)
        if not any(type(value) is type(ok) and value == ok for ok in DEFAULT_ONLY_FIELDS[name]):
            raise InvalidRequest(f"'{name}' is not supported by Anthropic models", param=name)

    system, messages = _messages(doc.get("messages"))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        out["system"] = system

    cap_name = "max_completion_tokens" if doc.get("max_completion_tokens") is not None else None
    cap_name = cap_name or ("max_tokens" if doc.get("max_tokens") is not None else None)
    cap = _int(doc[cap_name], cap_name, low=1) if cap_name else None
    out["max_tokens"] = cap if cap is not None else default_max_tokens

    temperature = _number(doc, "temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise _bad("temperature", "a number between 0 and 1 for Anthropic models", temperature)
    top_p = _number(doc, "top_p")

    stop = doc.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _bad("stop", "a string or an array of strings", stop)
        if stop := [s for s in stop if s]:
            out["stop_sequences"] = stop

    tool_choice = _tools(doc, out)

    budget = _thinking_budget(doc)
    if budget is not None:
        if cap is None:
            out["max_tokens"] = budget + default_max_tokens
        elif cap <= budget:
            if cap <= _MIN_BUDGET:
                message = f"{cap_name} must exceed {_MIN_BUDGET} to use reasoning with Anthropic"
                raise InvalidRequest(message, param=cap_name)
            budget = cap - 1
        out["thinking"] = {"type": "enabled", "budget_tokens": budget}
        if tool_choice in ("any", "tool"):
            message = "Anthropic models cannot be forced to call a tool while reasoning"
            raise InvalidRequest(message, param="tool_choice")
        temperature = temperature if temperature == 1 else None
        top_p = top_p if top_p is not None and 0.95 <= top_p <= 1 else None
    if temperature is not None:
        out["temperature"] = temperature
    if top_p is not None:
        out["top_p"] = top_p

    _response_format(doc.get("response_format"), out)

    user = doc.get("safety_identifier") or doc.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise _bad("user", "a string", user)
        out["metadata"] = {"user_id": user}
    stream = doc.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise _bad("stream", "a boolean", stream)
        out["stream"] = stream
    return out


# -- messages --------------------------------------------------------------------------------


def _messages(messages: object) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list):
        raise _bad("messages", "an array", messages)
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(param, "an object", message)
        role = message.get("role")
        if not isinstance(role, str) or role not in _PARTS:
            raise _bad(f"{param}.role", "system, developer, user, assistant or tool", role)
        blocks = _content(message.get("content"), role, f"{param}.content")
        if role in ("system", "developer"):
            system.extend(blocks)
            continue
        if role == "assistant":
            for name in ("function_call", "audio"):
                if message.get(name) is not None:
                    raise InvalidRequest(f"'{name}' is not supported", param=f"{param}.{name}")
            blocks.extend(_tool_uses(message.get("tool_calls"), f"{param}.tool_calls"))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise _bad(f"{param}.tool_call_id", "a non-empty string", call_id)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(call_id)}
            if blocks:
                result["content"] = _collapse(blocks)
            blocks = [result]
        if not blocks:
            continue
        turn_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        blocks = turn["content"]
        if turn["role"] == "user":  # tool results first, as Anthropic requires
            blocks.sort(key=lambda block: block["type"] != "tool_result")
        turn["content"] = _collapse(blocks)
    if any("cache_control" in block for block in system):
        return system, turns
    return "\n\n".join(block["text"] for block in system), turns


def _collapse(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text block reads as a string; anything else stays a list of blocks."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        text: str = blocks[0]["text"]
        return text
    return blocks


def _content(content: object, role: str, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(param, "a string or an array of content parts", content)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise _bad(where, "an object", part)
        kind = part.get("type")
        if kind not in _PARTS[role]:
            message = f"content part type {kind!r} is not supported in {role} messages"
            raise InvalidRequest(message, param=f"{where}.type")
        if kind == "image_url":
            block = _image(part.get("image_url"), f"{where}.image_url")
        elif kind == "file":
            block = _file(part.get("file"), f"{where}.file")
        else:
            text = part.get(kind)  # "text" or "refusal"
            if not isinstance(text, str):
                raise _bad(f"{where}.{kind}", "a string", text)
            if not text:
                continue
            block = {"type": "text", "text": text}
        if isinstance(part.get("cache_control"), dict):
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _image(spec: object, param: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str):
        if url.startswith(("http://", "https://")):
            return {"type": "image", "source": {"type": "url", "url": url}}
        media_type, data = _data_url(url)
        if media_type in _IMAGE_TYPES and data:
            return {"type": "image", "source": _base64(media_type, data)}
    message = "image_url must be an http(s) URL or a base64 data URL of a JPEG, PNG, GIF or WebP"
    raise InvalidRequest(message, param=param)


def _file(spec: object, param: str) -> dict[str, Any]:
    if isinstance(spec, dict) and isinstance(spec.get("file_data"), str):
        media_type, data = _data_url(spec["file_data"])
        if media_type == "application/pdf" and data:
            return {"type": "document", "source": _base64(media_type, data)}
        message = "file_data must be a base64 data URL of application/pdf"
        raise InvalidRequest(message, param=f"{param}.file_data")
    message = "only inline file_data is supported for Anthropic models (not file_id)"
    raise InvalidRequest(message, param=param)


def _data_url(url: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:<type>[;...];base64,<data>`` URL, else blanks."""
    if not url.startswith("data:"):
        return "", ""
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or params[-1] != "base64":
        return "", ""
    media_type = params[0].lower()
    return ("image/jpeg" if media_type == "image/jpg" else media_type), data


def _base64(media_type: str, data: str) -> dict[str, str]:
    return {"type": "base64", "media_type": media_type, "data": data}


def _tool_uses(calls: object, param: str) -> list[dict[str, Any]]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise _bad(param, "an array", calls)
    blocks: list[dict[str, Any]] = []
    for k, call in enumerate(calls):
        where = f"{param}[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(fn, dict):
            raise _bad(where, "a function tool call", call)
        call_id, name = call.get("id"), fn.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.id", "a non-empty string", call_id)
        if not isinstance(name, str) or not name:
            raise _bad(f"{where}.function.name", "a non-empty string", name)
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError:
                arguments = None
        if not isinstance(arguments, dict):
            message = "arguments must be a JSON object encoded as a string"
            raise InvalidRequest(message, param=f"{where}.function.arguments")
        blocks.append(
            {"type": "tool_use", "id": _tool_id(call_id), "name": name, "input": arguments}
        )
    return blocks


def _tool_id(call_id: str) -> str:
    return _UNSAFE_ID.sub("_", call_id)


# -- tools, reasoning, response format -------------------------------------------------------


def _tools(doc: dict[str, Any], out: dict[str, Any]) -> str | None:
    """Translate ``tools``, ``tool_choice`` and ``parallel_tool_calls`` into ``out``; return the
    Anthropic tool choice type."""
    tools = doc.get("tools")
    tools = [] if tools is None else tools
    if not isinstance(tools, list):
        raise _bad("tools", "an array", tools)
    names: list[str] = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            message = "only function tools are supported by Anthropic models"
            raise InvalidRequest(message, param=f"tools[{i}]")
        name, schema = fn.get("name"), fn.get("parameters")
        if not isinstance(name, str) or not name:
            raise _bad(f"tools[{i}].function.name", "a non-empty string", name)
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _bad(f"tools[{i}].function.parameters", "a JSON schema of type object", schema)
        converted: dict[str, Any] = {"name": name}
        if isinstance(fn.get("description"), str) and fn["description"]:
            converted["description"] = fn["description"]
        converted["input_schema"] = schema
        if fn.get("strict") is True:
            converted["strict"] = True
        cache_control = tool.get("cache_control") or fn.get("cache_control")
        if isinstance(cache_control, dict):
            converted["cache_control"] = cache_control
        names.append(name)
        out.setdefault("tools", []).append(converted)

    choice = doc.get("tool_choice")
    parallel = doc.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise _bad("parallel_tool_calls", "a boolean", parallel)
    if not tools:
        if choice in (None, "auto", "none"):
            return None
        raise InvalidRequest("tool_choice requires at least one tool", param="tool_choice")
    converted_choice: dict[str, Any]
    if choice is None or choice == "auto":
        converted_choice = {"type": "auto"}
    elif choice == "none":
        converted_choice = {"type": "none"}
    elif choice == "required":
        converted_choice = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if name not in names:
            raise _bad("tool_choice.function.name", "the name of one of the tools", name)
        converted_choice = {"type": "tool", "name": name}
    else:
        raise _bad("tool_choice", "auto, none, required or a named function", choice)
    if parallel is False and converted_choice["type"] != "none":
        converted_choice["disable_parallel_tool_use"] = True
    if choice is not None or len(converted_choice) > 1:
        out["tool_choice"] = converted_choice
    kind: str = converted_choice["type"]
    return kind


def _thinking_budget(doc: dict[str, Any]) -> int | None:
    effort, param = doc.get("reasoning_effort"), "reasoning_effort"
    reasoning = doc.get("reasoning")
    if reasoning is not None:
        if not isinstance(reasoning, dict) or set(reasoning) - {"effort"}:
            raise _bad("reasoning", 'an object {"effort": ...}', reasoning)
        if effort is not None and reasoning.get("effort") != effort:
            raise InvalidRequest("reasoning.effort contradicts reasoning_effort", param="reasoning")
        effort, param = reasoning.get("effort"), "reasoning.effort"
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise _bad(param, "none, minimal, low, medium, high or xhigh", effort)
    return THINKING_BUDGETS[effort]


def _response_format(spec: object, out: dict[str, Any]) -> None:
    if spec is None:
        return
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind == "text":
        return
    if kind == "json_schema":
        assert isinstance(spec, dict)
        inner = spec.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
        if not isinstance(schema, dict):
            raise _bad("response_format.json_schema.schema", "a JSON schema object", schema)
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return
    if kind == "json_object":
        message = "json_object is not supported by Anthropic models; use json_schema"
        raise InvalidRequest(message, param="response_format.type")
    raise _bad("response_format.type", "text or json_schema", kind)


# -- validation helpers ----------------------------------------------------------------------


def _int(value: object, param: str, *, low: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= low:
        return value
    raise _bad(param, f"an integer of at least {low}", value)


def _number(doc: dict[str, Any], param: str) -> float | None:
    value = doc.get(param)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise _bad(param, "a number", value)


def _bad(param: str, expected: str, value: object) -> InvalidRequest:
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # not from a parsed body; say what it is anyway
        shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    message = f"invalid request body: {param} must be {expected}, got {shown}"
    return InvalidRequest(message, param=param)
