"""Anthropic Messages request -> OpenAI chat completions request (``POST /v1/messages`` served
by an OpenAI-compatible provider; the mirror of :mod:`gomodel.translate.anthropic_request`).

:func:`messages_to_chat` turns a parsed Messages body into a chat completions body. Every
top-level field is translated, dropped because it changes no answer the provider can give
(:data:`DROPPED_FIELDS`), or rejected with a 400 naming it (:data:`REJECTED_FIELDS`, and any
field the Messages API does not have: Anthropic rejects those too). ``param`` of every error is
the JSON path (``messages[2].content[0].type``). ``null`` means absent, for every field.

Messages (content is a string or an array of blocks; a string is one ``text`` block):

* ``system`` (a string or ``text`` blocks) -> a leading ``system`` message, blocks joined by a
  blank line. ``role: "system"`` messages inside ``messages`` stay system messages in place.
* ``user``: ``text`` -> text; ``image`` with a ``base64`` source (JPEG, PNG, GIF, WebP) -> an
  ``image_url`` data URL, with a ``url`` source -> that ``image_url``; ``document``: a base64
  PDF -> a ``file`` part ``{filename: title or "document.pdf", file_data: <data URL>}``
  (``context`` as a text part before it), a ``text`` or ``content`` source -> a text part of
  title, context and text; Files API ``file`` sources and PDF URLs -> 400. Text-only content is
  sent as one string, blocks joined by a blank line (some providers take only strings).
* ``tool_result`` blocks -> ``tool`` messages ``{tool_call_id: tool_use_id, content}``, in
  order and ahead of the turn's other blocks (chat wants tool messages right after the call);
  content: the text (blocks joined by a blank line); ``is_error: true`` -> the text prefixed
  with :data:`~gomodel.translate._messages_content.TOOL_ERROR_PREFIX` (chat has no error
  flag). Chat tool messages cannot carry images, so images a tool returned go, in order, at
  the start of a user message after the tool messages, and a result that is only images says
  :data:`~gomodel.translate._messages_content.IMAGE_RESULT_TEXT`. A ``tool_use_id`` no
  earlier ``tool_use`` block has -> 400.
* ``assistant``: ``text`` blocks concatenated (they are pieces of one answer) -> ``content``
  (``null`` when there are only tool calls); ``tool_use`` -> ``tool_calls`` ``{id, type:
  "function", function: {name, arguments}}`` with ``arguments`` the compact JSON of ``input``;
  ``thinking`` and ``redacted_thinking`` are dropped: chat has no input field for earlier
  reasoning, and their signatures mean something only to Anthropic. A turn left empty is
  left out. A trailing assistant turn is sent as is (providers that continue it do).
* ``cache_control`` and ``citations`` are dropped wherever they appear; any other block type
  (server tool blocks, ``search_result``, ``container_upload``) -> 400.

Parameters:

* ``max_tokens`` (required by the Messages API) -> ``max_tokens``; absent -> the caller's
  ``default_max_tokens``, or 400 without one; below 1 -> 400 (0, Anthropic's cache pre-warm,
  has no chat meaning). The chat route's reasoning-model rewrite turns it into
  ``max_completion_tokens`` where the model needs that.
* ``temperature`` and ``top_p`` (0..1, as Anthropic checks them) copied.
* ``top_k`` (an integer >= 0) dropped: chat has no such field (OpenAI rejects it as unknown);
  ``temperature``/``top_p`` still steer sampling.
* ``stop_sequences`` -> ``stop`` (OpenAI takes at most 4; its 400 for more reaches the client).
* ``tools``: custom tools ``{name, description?, input_schema, strict?}`` -> ``{type:
  "function", function: {name, description, parameters, strict}}``; other members
  (``cache_control``, ``input_examples``, ``defer_loading``, ...) dropped. A tool with a
  ``type`` (server tools such as ``web_search_20250305``, Anthropic-defined client tools such
  as ``bash_20250124`` or ``text_editor_*``) -> 400: nothing here can run or describe them.
* ``tool_choice``: ``auto`` -> ``"auto"``, ``any`` -> ``"required"``, ``tool`` ->
  ``{type: "function", function: {name}}`` (the name must be among the tools), ``none`` ->
  ``"none"``; ``disable_parallel_tool_use: true`` -> ``parallel_tool_calls: false``. Without
  tools ``auto`` and ``none`` mean nothing and are dropped; ``any`` and ``tool`` -> 400.
* ``thinking``: ``enabled`` (``budget_tokens`` >= 1024) -> ``reasoning_effort`` by
  :func:`effort_for_budget`, the inverse of the bands the chat -> Anthropic translation uses
  (below 4096 ``low``, below 16384 ``medium``, below 32768 ``high``, else ``xhigh``);
  ``disabled``, ``adaptive`` and ``between_tools`` -> no effort (the provider's default).
  ``output_config.effort`` (``low``..``xhigh``; ``max`` -> ``xhigh``) wins over the budget.
* ``output_config.format`` (or the beta ``output_format``) ``{type: "json_schema", schema}``
  -> ``response_format: {type: "json_schema", json_schema: {name: "output", schema, strict:
  true}}`` (Anthropic's structured outputs are always strict).
* ``metadata.user_id`` -> ``user``; any other metadata member -> 400 (as Anthropic does).
* ``stream: true`` -> ``stream: true`` and ``stream_options: {include_usage: true}``: the
  Messages stream ends with usage, so it is always asked for.
* ``model`` is the caller's ``model``; the gateway's ``provider`` field is consumed.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

from gomodel.errors import InvalidRequest
from gomodel.translate._anthropic_messages import bad_value
from gomodel.translate._messages_content import chat_messages, system_text
from gomodel.translate.anthropic_request import THINKING_BUDGETS

__all__ = [
    "DROPPED_FIELDS",
    "REJECTED_FIELDS",
    "TRANSLATED_FIELDS",
    "effort_for_budget",
    "messages_to_chat",
]

TRANSLATED_FIELDS = frozenset(
    {"model", "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences"}
    | {"tools", "tool_choice", "thinking", "output_config", "output_format", "metadata"}
    | {"stream", "provider"}
)

DROPPED_FIELDS = frozenset(
    {
        "top_k",  # no chat field; validated, then dropped (see the module docs)
        "cache_control",  # automatic prompt caching: OpenAI-style providers cache on their own
        "service_tier",  # Anthropic capacity tiers; other providers name theirs differently
        "inference_geo",  # where Anthropic runs the model
        "speed",  # Anthropic's fast mode: the same answer, sooner
        "diagnostics",  # reasons for Anthropic prompt-cache misses
        # Server-side pruning of old tool results as the context grows: without it the
        # conversation goes as the client sent it (too long fails clearly, never differently).
        "context_management",
    }
)

REJECTED_FIELDS = {
    "container": "code execution containers exist only on Anthropic",
    "mcp_servers": "the MCP connector runs only on Anthropic's servers",
}

_EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
# (lowest budget, effort), highest first: each effort's own budget maps back to it.
_BANDS = sorted(
    ((budget, effort) for effort, budget in THINKING_BUDGETS.items() if effort != "minimal"),
    reverse=True,
)
_MIN_BUDGET = 1024


def messages_to_chat(
    doc: dict[str, Any], *, model: str, default_max_tokens: int | None
) -> dict[str, Any]:
    """The chat completions body for the Messages request ``doc``, aimed at ``model``.

    Raises :class:`~gomodel.errors.InvalidRequest` naming the field it cannot honour."""
    for name, value in doc.items():
        if value is None or name in TRANSLATED_FIELDS or name in DROPPED_FIELDS:
            continue
        if name in REJECTED_FIELDS:
            if value in ([], ""):
                continue
            raise InvalidRequest(
                f"'{name}' is not supported for this model: {REJECTED_FIELDS[name]}", param=name
            )
        raise InvalidRequest(f"unknown parameter: '{name}'", param=name)

    messages = chat_messages(doc.get("messages"))
    if system := system_text(doc.get("system")):
        messages.insert(0, {"role": "system", "content": system})
    out: dict[str, Any] = {"model": model, "messages": messages}

    if doc.get("max_tokens") is not None:
        out["max_tokens"] = _int(doc["max_tokens"], "max_tokens", low=1)
    elif default_max_tokens is not None:
        out["max_tokens"] = default_max_tokens
    else:
        raise InvalidRequest("max_tokens is required", param="max_tokens")
    for name in ("temperature", "top_p"):
        if (value := _unit(doc, name)) is not None:
            out[name] = value
    if doc.get("top_k") is not None:
        _int(doc["top_k"], "top_k", low=0)

    stop = doc.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise bad_value("stop_sequences", "an array of strings", stop)
        if stop:
            out["stop"] = stop

    _tools(doc, out)
    if (effort := _effort(doc)) is not None:
        out["reasoning_effort"] = effort
    _output_format(doc, out)

    metadata = doc.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise bad_value("metadata", "an object", metadata)
        for key, value in metadata.items():
            if key != "user_id":
                raise InvalidRequest(f"unknown metadata field: '{key}'", param=f"metadata.{key}")
            if value is not None and not isinstance(value, str):
                raise bad_value("metadata.user_id", "a string", value)
            if value:
                out["user"] = value

    stream = doc.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise bad_value("stream", "a boolean", stream)
        out["stream"] = stream
        if stream:
            out["stream_options"] = {"include_usage": True}
    return out


def effort_for_budget(budget: int) -> str:
    """The chat ``reasoning_effort`` for an Anthropic thinking budget (see the module docs)."""
    for lowest, effort in _BANDS:
        if budget >= lowest:
            return effort
    return "low"


# -- tools, reasoning, output format ---------------------------------------------------------


def _tools(doc: dict[str, Any], out: dict[str, Any]) -> None:
    tools = doc.get("tools")
    tools = [] if tools is None else tools
    if not isinstance(tools, list):
        raise bad_value("tools", "an array", tools)
    names: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise bad_value(f"tools[{i}]", "an object", tool)
        kind = tool.get("type")
        if kind not in (None, "custom"):
            message = f"tool type {kind!r} is an Anthropic tool, not available for this model"
            raise InvalidRequest(message, param=f"tools[{i}].type")
        name, schema = tool.get("name"), tool.get("input_schema")
        if not isinstance(name, str) or not name:
            raise bad_value(f"tools[{i}].name", "a non-empty string", name)
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise bad_value(f"tools[{i}].input_schema", "a JSON schema of type object", schema)
        function: dict[str, Any] = {"name": name}
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise bad_value(f"tools[{i}].description", "a string", description)
        if description:
            function["description"] = description
        function["parameters"] = schema
        if tool.get("strict") is True:
            function["strict"] = True
        names.append(name)
        out.setdefault("tools", []).append({"type": "function", "function": function})

    choice = doc.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or kind not in ("auto", "any", "tool", "none"):
        raise bad_value("tool_choice.type", "auto, any, tool or none", kind)
    disable = choice.get("disable_parallel_tool_use")
    if disable is not None and not isinstance(disable, bool):
        raise bad_value("tool_choice.disable_parallel_tool_use", "a boolean", disable)
    if not names:
        if kind in ("auto", "none"):
            return
        raise InvalidRequest(f"tool_choice {kind!r} requires tools", param="tool_choice.type")
    converted: object = {"auto": "auto", "any": "required", "none": "none"}.get(kind)
    if kind == "tool":
        name = choice.get("name")
        if name not in names:
            raise bad_value("tool_choice.name", "the name of one of the tools", name)
        converted = {"type": "function", "function": {"name": name}}
    out["tool_choice"] = converted
    if disable and kind != "none":
        out["parallel_tool_calls"] = False


def _effort(doc: dict[str, Any]) -> str | None:
    config = doc.get("output_config")
    if config is not None and not isinstance(config, dict):
        raise bad_value("output_config", "an object", config)
    for key in config or {}:
        if key not in ("effort", "format"):
            message = f"unknown output_config field: '{key}'"
            raise InvalidRequest(message, param=f"output_config.{key}")
    effort = (config or {}).get("effort")
    if effort is not None and effort not in _EFFORTS:
        raise bad_value("output_config.effort", "low, medium, high, xhigh or max", effort)

    thinking = doc.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if thinking is not None and kind not in ("enabled", "disabled", "adaptive", "between_tools"):
        raise bad_value("thinking.type", "enabled, disabled, adaptive or between_tools", kind)
    if effort is not None:
        return _EFFORTS[effort]
    if kind == "enabled":
        assert isinstance(thinking, dict)
        budget = _int(thinking.get("budget_tokens"), "thinking.budget_tokens", low=_MIN_BUDGET)
        return effort_for_budget(budget)
    return None


def _output_format(doc: dict[str, Any], out: dict[str, Any]) -> None:
    config = doc.get("output_config") or {}
    spec, param = config.get("format"), "output_config.format"
    if doc.get("output_format") is not None:
        if spec is not None:
            message = "output_format and output_config.format cannot both be given"
            raise InvalidRequest(message, param="output_format")
        spec, param = doc["output_format"], "output_format"
    if spec is None:
        return
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind != "json_schema":
        raise bad_value(f"{param}.type", "json_schema", kind)
    assert isinstance(spec, dict)
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise bad_value(f"{param}.schema", "a JSON schema object", schema)
    json_schema = {"name": "output", "schema": schema, "strict": True}
    out["response_format"] = {"type": "json_schema", "json_schema": json_schema}


# -- validation helpers ----------------------------------------------------------------------


def _int(value: object, param: str, *, low: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= low:
        return value
    raise bad_value(param, f"an integer of at least {low}", value)


def _unit(doc: dict[str, Any], param: str) -> float | None:
    value = doc.get(param)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return value
    raise bad_value(param, "a number between 0 and 1", value)
