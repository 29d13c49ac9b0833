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

from typing import Any

from gomodel.errors import InvalidRequest
from gomodel.translate._anthropic_messages import bad_value, translate_messages

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

    system, messages = translate_messages(doc.get("messages"))
    out: dict[str, Any] = {"model": model, "messages": messages}
    if system:
        out["system"] = system

    cap_name = "max_completion_tokens" if doc.get("max_completion_tokens") is not None else None
    cap_name = cap_name or ("max_tokens" if doc.get("max_tokens") is not None else None)
    cap = _int(doc[cap_name], cap_name, low=1) if cap_name else None
    out["max_tokens"] = cap if cap is not None else default_max_tokens

    temperature = _number(doc, "temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise bad_value("temperature", "a number between 0 and 1 for Anthropic models", temperature)
    top_p = _number(doc, "top_p")

    stop = doc.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise bad_value("stop", "a string or an array of strings", stop)
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
            raise bad_value("user", "a string", user)
        out["metadata"] = {"user_id": user}
    stream = doc.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise bad_value("stream", "a boolean", stream)
        out["stream"] = stream
    return out


# -- tools, reasoning, response format -------------------------------------------------------


def _tools(doc: dict[str, Any], out: dict[str, Any]) -> str | None:
    """Translate ``tools``, ``tool_choice`` and ``parallel_tool_calls`` into ``out``; return the
    Anthropic tool choice type."""
    tools = doc.get("tools")
    tools = [] if tools is None else tools
    if not isinstance(tools, list):
        raise bad_value("tools", "an array", tools)
    names: list[str] = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            message = "only function tools are supported by Anthropic models"
            raise InvalidRequest(message, param=f"tools[{i}]")
        name, schema = fn.get("name"), fn.get("parameters")
        if not isinstance(name, str) or not name:
            raise bad_value(f"tools[{i}].function.name", "a non-empty string", name)
        if schema is None:
            schema = {"type": "object", "properties": {}}
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise bad_value(
                f"tools[{i}].function.parameters", "a JSON schema of type object", schema
            )
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
        raise bad_value("parallel_tool_calls", "a boolean", parallel)
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
            raise bad_value("tool_choice.function.name", "the name of one of the tools", name)
        converted_choice = {"type": "tool", "name": name}
    else:
        raise bad_value("tool_choice", "auto, none, required or a named function", choice)
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
            raise bad_value("reasoning", 'an object {"effort": ...}', reasoning)
        if effort is not None and reasoning.get("effort") != effort:
            raise InvalidRequest("reasoning.effort contradicts reasoning_effort", param="reasoning")
        effort, param = reasoning.get("effort"), "reasoning.effort"
    if effort is None or effort == "none":
        return None
    if not isinstance(effort, str) or effort not in THINKING_BUDGETS:
        raise bad_value(param, "none, minimal, low, medium, high or xhigh", effort)
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
            raise bad_value("response_format.json_schema.schema", "a JSON schema object", schema)
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        return
    if kind == "json_object":
        message = "json_object is not supported by Anthropic models; use json_schema"
        raise InvalidRequest(message, param="response_format.type")
    raise bad_value("response_format.type", "text or json_schema", kind)


# -- validation helpers ----------------------------------------------------------------------


def _int(value: object, param: str, *, low: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= low:
        return value
    raise bad_value(param, f"an integer of at least {low}", value)


def _number(doc: dict[str, Any], param: str) -> float | None:
    value = doc.get(param)
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    raise bad_value(param, "a number", value)
