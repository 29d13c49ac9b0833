"""OpenAI chat requests -> Anthropic Messages requests: each field translated, dropped, refused."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.errors import InvalidRequest
from gomodel.testing._anthropic import anthropic_reply
from gomodel.testing._h11server import RecordedRequest
from gomodel.translate.anthropic_request import (
    DEFAULT_ONLY_FIELDS,
    DROPPED_FIELDS,
    THINKING_BUDGETS,
    TRANSLATED_FIELDS,
    chat_to_messages,
)

MODEL = "claude-sonnet-4-20250514"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5Erk"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
WEATHER_SCHEMA = {
    "name": "get_weather",
    "description": "Get the current weather in a location",
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}
TIME_TOOL = {"type": "function", "function": {"name": "get_time"}}
TIME_SCHEMA = {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An OpenAI chat request body with ``messages`` (one user "Hello" by default)."""
    return {
        "model": "anthropic/claude-sonnet-4",
        "messages": list(messages) or [{"role": "user", "content": "Hello"}],
        **fields,
    }


def anthropic(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The Anthropic body expected for it (max_tokens defaults to 4096)."""
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": list(messages) or [{"role": "user", "content": "Hello"}],
    }
    return {**body, "max_tokens": 4096, **fields}


def translate(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    return chat_to_messages(doc, model=MODEL, **options)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any, *calls: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def result(call_id: str, content: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": call_id, "content": content}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


# The requests that produced the recorded answers in tests/fixtures/providers/anthropic (the
# file names say what was asked), and the other shapes the translation must get right.
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "plain",
        chat(user("Say 'Hello World'")),
        anthropic(user("Say 'Hello World'")),
    ),
    (
        "params",
        chat(user("Count from 1 to 5"), temperature=0.5, top_p=0.9, max_tokens=50, stop=["3", ""]),
        anthropic(
            user("Count from 1 to 5"),
            max_tokens=50,
            temperature=0.5,
            top_p=0.9,
            stop_sequences=["3"],
        ),
    ),
    (
        "stop_string_and_max_completion_tokens_wins",
        chat(stop="END", max_tokens=10, max_completion_tokens=20),
        anthropic(max_tokens=20, stop_sequences=["END"]),
    ),
    (
        "system_and_developer_joined",
        chat(
            {"role": "system", "content": "Be brief."},
            user("Hi"),
            {"role": "developer", "content": [text("Answer in French."), text("No emoji.")]},
        ),
        anthropic(user("Hi"), system="Be brief.\n\nAnswer in French.\n\nNo emoji."),
    ),
    (
        "system_cache_control_kept_as_blocks",
        chat(
            {
                "role": "system",
                "content": [{**text("Long"), "cache_control": {"type": "ephemeral"}}],
            },
            user("Hi"),
        ),
        anthropic(user("Hi"), system=[{**text("Long"), "cache_control": {"type": "ephemeral"}}]),
    ),
    (
        "multi_turn",
        chat(user("What is 2+2?"), assistant("4"), user("Multiply that by 4.")),
        anthropic(
            user("What is 2+2?"),
            {"role": "assistant", "content": "4"},
            user("Multiply that by 4."),
        ),
    ),
    (
        "multimodal_url_and_base64",
        chat(
            user(
                [
                    text("What colors are in this logo?"),
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/logo.png", "detail": "high"},
                    },
                    {"type": "image_url", "image_url": f"data:image/png;base64,{PNG}"},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
                ]
            )
        ),
        anthropic(
            user(
                [
                    text("What colors are in this logo?"),
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/logo.png"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
                    },
                ]
            )
        ),
    ),
    (
        "pdf_file",
        chat(
            user(
                [
                    {
                        "type": "file",
                        "file": {
                            "file_data": "data:application/pdf;base64,JVBERi0=",
                            "filename": "a.pdf",
                        },
                    }
                ]
            )
        ),
        anthropic(
            user(
                [
                    {
                        "type": "document",
                        "source": {
                            "type": "base64",
                            "media_type": "application/pdf",
                            "data": "JVBERi0=",
                        },
                    }
                ]
            )
        ),
    ),
    (
        "tools_auto",
        chat(user("What's the weather like in Paris?"), tools=[WEATHER_TOOL], tool_choice="auto"),
        anthropic(
            user("What's the weather like in Paris?"),
            tools=[WEATHER_SCHEMA],
            tool_choice={"type": "auto"},
        ),
    ),
    (
        "tools_without_choice_and_no_parameters",
        chat(tools=[TIME_TOOL]),
        anthropic(tools=[TIME_SCHEMA]),
    ),
    (
        "tool_choice_none_keeps_tools",
        chat(tools=[TIME_TOOL], tool_choice="none", parallel_tool_calls=False),
        anthropic(tools=[TIME_SCHEMA], tool_choice={"type": "none"}),
    ),
    (
        "tool_choice_required_serial",
        chat(tools=[TIME_TOOL], tool_choice="required", parallel_tool_calls=False),
        anthropic(
            tools=[TIME_SCHEMA], tool_choice={"type": "any", "disable_parallel_tool_use": True}
        ),
    ),
    (
        "tool_choice_named",
        chat(
            tools=[WEATHER_TOOL, TIME_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        ),
        anthropic(
            tools=[WEATHER_SCHEMA, TIME_SCHEMA], tool_choice={"type": "tool", "name": "get_time"}
        ),
    ),
    (
        "parallel_false_alone_makes_auto",
        chat(tools=[TIME_TOOL], parallel_tool_calls=False),
        anthropic(
            tools=[TIME_SCHEMA], tool_choice={"type": "auto", "disable_parallel_tool_use": True}
        ),
    ),
    (
        "no_tools_auto_none_and_parallel_mean_nothing",
        chat(tools=[], tool_choice="auto", parallel_tool_calls=True),
        anthropic(),
    ),
    (
        "strict_tool_and_cache_control",
        chat(
            tools=[
                {
                    **TIME_TOOL,
                    "function": {"name": "get_time", "strict": True},
                    "cache_control": {"type": "ephemeral"},
                }
            ]
        ),
        anthropic(tools=[{**TIME_SCHEMA, "strict": True, "cache_control": {"type": "ephemeral"}}]),
    ),
    (
        "tool_history_merged_into_one_user_turn",
        chat(
            user("Weather in Paris and the time?"),
            assistant(
                "Checking.",
                call("call_1", "get_weather", '{"location": "Paris"}'),
                call("call_2", "get_time", ""),
            ),
            tool("call_1", "Sunny, 22C"),
            tool("call_2", [text("12:00")]),
            user("Thanks! Summarize."),
        ),
        anthropic(
            user("Weather in Paris and the time?"),
            {
                "role": "assistant",
                "content": [
                    text("Checking."),
                    tool_use("call_1", "get_weather", {"location": "Paris"}),
                    tool_use("call_2", "get_time", {}),
                ],
            },
            user(
                [
                    result("call_1", "Sunny, 22C"),
                    result("call_2", "12:00"),
                    text("Thanks! Summarize."),
                ]
            ),
        ),
    ),
    (
        "echoed_assistant_message_from_the_sdk",
        chat(
            user("Hi"),
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "audio": None,
                "function_call": None,
                "annotations": [],
                "reasoning_content": "thought",
                "tool_calls": [call("functions.get_time:0", "get_time", "{}")],
            },
            {"role": "tool", "tool_call_id": "functions.get_time:0", "content": ""},
        ),
        anthropic(
            user("Hi"),
            {"role": "assistant", "content": [tool_use("functions_get_time_0", "get_time", {})]},
            user([{"type": "tool_result", "tool_use_id": "functions_get_time_0"}]),
        ),
    ),
    (
        "consecutive_and_empty_messages",
        chat(
            user("a"),
            user([text("b"), text("")]),
            assistant(""),
            assistant([{"type": "refusal", "refusal": "no"}]),
            user("c"),
        ),
        anthropic(user([text("a"), text("b")]), {"role": "assistant", "content": "no"}, user("c")),
    ),
    (
        "response_format_json_schema",
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "answer", "strict": True, "schema": {"type": "object"}},
            }
        ),
        anthropic(output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}}),
    ),
    (
        "response_format_text_user_stream",
        chat(
            response_format={"type": "text"},
            user="u-1",
            stream=True,
            stream_options={"include_usage": True},
        ),
        anthropic(metadata={"user_id": "u-1"}, stream=True),
    ),
    (
        "safety_identifier_wins_over_user",
        chat(user="u-1", safety_identifier="s-1", stream=False),
        anthropic(metadata={"user_id": "s-1"}, stream=False),
    ),
    (
        "nulls_and_defaults_mean_nothing",
        chat(
            n=1,
            temperature=None,
            logit_bias={},
            modalities=["text"],
            service_tier="auto",
            provider="anthropic",
        ),
        anthropic(),
    ),
]


@pytest.mark.parametrize(("doc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translation(doc: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each OpenAI request becomes exactly the Anthropic request in the table."""
    assert translate(doc) == expected


def test_default_max_tokens_is_configurable() -> None:
    """Without max_tokens the caller's default is used."""
    assert translate(chat(), default_max_tokens=123)["max_tokens"] == 123


REASONING: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "high_without_cap_raises_max_tokens",
        chat(reasoning_effort="high", temperature=0.2, top_p=0.5),
        {"max_tokens": 16384 + 4096, "thinking": {"type": "enabled", "budget_tokens": 16384}},
    ),
    (
        "cap_above_budget_kept_with_allowed_sampling",
        chat(reasoning_effort="low", max_tokens=3000, temperature=1, top_p=0.95),
        {
            "max_tokens": 3000,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "temperature": 1,
            "top_p": 0.95,
        },
    ),
    (
        "cap_below_budget_shrinks_budget",
        chat(reasoning_effort="medium", max_completion_tokens=2000),
        {"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1999}},
    ),
    (
        "gateway_reasoning_object",
        chat(reasoning={"effort": "minimal"}),
        {"max_tokens": 1024 + 4096, "thinking": {"type": "enabled", "budget_tokens": 1024}},
    ),
    (
        "none_means_no_thinking",
        chat(reasoning_effort="none", temperature=0.3),
        {"max_tokens": 4096, "temperature": 0.3},
    ),
    (
        "auto_tool_choice_allowed",
        chat(reasoning_effort="xhigh", tools=[TIME_TOOL], tool_choice="auto"),
        {
            "max_tokens": 32768 + 4096,
            "thinking": {"type": "enabled", "budget_tokens": 32768},
            "tools": [TIME_SCHEMA],
            "tool_choice": {"type": "auto"},
        },
    ),
]


@pytest.mark.parametrize(
    ("doc", "fields"), [c[1:] for c in REASONING], ids=[c[0] for c in REASONING]
)
def test_reasoning(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    """reasoning_effort becomes a thinking budget; max_tokens and sampling adjust as documented."""
    out = translate(doc)
    assert {k: v for k, v in out.items() if k not in ("model", "messages")} == fields


def test_thinking_budgets_are_documented_values() -> None:
    """The budgets are Anthropic-valid: at least 1024 and growing with the effort."""
    order = ["minimal", "low", "medium", "high", "xhigh"]
    assert list(THINKING_BUDGETS) == order
    budgets = [THINKING_BUDGETS[name] for name in order]
    assert budgets == sorted(budgets) and budgets[0] == 1024


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("unknown_field", chat(top_k=5), "top_k"),
    ("misspelt_field", chat(max_token=5), "max_token"),
    ("n_above_one", chat(n=2), "n"),
    ("logit_bias", chat(logit_bias={"50256": -100}), "logit_bias"),
    (
        "audio_output",
        chat(modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"}),
        "modalities",
    ),
    ("audio", chat(audio={"voice": "alloy", "format": "wav"}), "audio"),
    ("legacy_functions", chat(functions=[{"name": "f"}]), "functions"),
    ("legacy_function_call", chat(function_call="auto"), "function_call"),
    ("flex_tier", chat(service_tier="flex"), "service_tier"),
    ("verbosity", chat(verbosity="low"), "verbosity"),
    ("web_search", chat(web_search_options={}), "web_search_options"),
    ("bool_is_not_n", chat(n=True), "n"),
    ("json_object", chat(response_format={"type": "json_object"}), "response_format.type"),
    (
        "json_schema_without_schema",
        chat(response_format={"type": "json_schema", "json_schema": {"name": "x"}}),
        "response_format.json_schema.schema",
    ),
    ("temperature_above_one", chat(temperature=1.5), "temperature"),
    ("temperature_not_number", chat(temperature="hot"), "temperature"),
    ("max_tokens_zero", chat(max_tokens=0), "max_tokens"),
    ("max_completion_tokens_zero", chat(max_completion_tokens=0), "max_completion_tokens"),
    ("stop_not_strings", chat(stop=[1]), "stop"),
    ("stream_not_bool", chat(stream="yes"), "stream"),
    ("user_not_string", chat(user=5), "user"),
    ("messages_not_list", {"model": "m", "messages": "hi"}, "messages"),
    ("message_not_object", chat("hi"), "messages[0]"),
    ("unknown_role", chat({"role": "function", "name": "f", "content": "x"}), "messages[0].role"),
    ("content_not_list", chat(user(5)), "messages[0].content"),
    ("part_not_object", chat(user(["hi"])), "messages[0].content[0]"),
    ("text_not_string", chat(user([{"type": "text", "text": 5}])), "messages[0].content[0].text"),
    (
        "audio_part",
        chat(
            user(
                [
                    text("x"),
                    {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
                ]
            )
        ),
        "messages[0].content[1].type",
    ),
    (
        "image_in_system",
        chat(
            {"role": "system", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}
        ),
        "messages[0].content[0].type",
    ),
    (
        "image_in_assistant",
        chat(user("a"), assistant([{"type": "image_url", "image_url": "https://x/y.png"}])),
        "messages[1].content[0].type",
    ),
    (
        "image_ftp_url",
        chat(
            user("a"),
            user([text("see"), {"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]),
        ),
        "messages[1].content[1].image_url",
    ),
    (
        "image_svg_data",
        chat(
            user(
                [{"type": "image_url", "image_url": {"url": "data:image/svg+xml;base64,PHN2Zz4="}}]
            )
        ),
        "messages[0].content[0].image_url",
    ),
    (
        "image_not_base64",
        chat(user([{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}])),
        "messages[0].content[0].image_url",
    ),
    (
        "image_no_url",
        chat(user([{"type": "image_url", "image_url": {}}])),
        "messages[0].content[0].image_url",
    ),
    (
        "file_id",
        chat(user([{"type": "file", "file": {"file_id": "file-1"}}])),
        "messages[0].content[0].file",
    ),
    (
        "file_not_pdf",
        chat(user([{"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}])),
        "messages[0].content[0].file.file_data",
    ),
    (
        "tool_args_invalid_json",
        chat(user("a"), assistant(None, call("c1", "f", "{nope"))),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool_args_not_object",
        chat(user("a"), assistant(None, call("c1", "f", "[1]"))),
        "messages[1].tool_calls[0].function.arguments",
    ),
    (
        "tool_call_without_id",
        chat(
            user("a"),
            assistant(None, {"type": "function", "function": {"name": "f", "arguments": "{}"}}),
        ),
        "messages[1].tool_calls[0].id",
    ),
    (
        "tool_call_without_name",
        chat(user("a"), assistant(None, call("c1", "", "{}"))),
        "messages[1].tool_calls[0].function.name",
    ),
    (
        "tool_call_not_function",
        chat(user("a"), assistant(None, {"id": "c1", "type": "custom"})),
        "messages[1].tool_calls[0]",
    ),
    (
        "tool_calls_not_list",
        chat(user("a"), {"role": "assistant", "tool_calls": {}}),
        "messages[1].tool_calls",
    ),
    (
        "assistant_function_call",
        chat(user("a"), {"role": "assistant", "function_call": {"name": "f"}}),
        "messages[1].function_call",
    ),
    (
        "assistant_audio",
        chat(user("a"), {"role": "assistant", "audio": {"id": "a1"}}),
        "messages[1].audio",
    ),
    (
        "tool_without_call_id",
        chat(user("a"), {"role": "tool", "content": "x"}),
        "messages[1].tool_call_id",
    ),
    ("tools_not_list", chat(tools={}), "tools"),
    ("custom_tool", chat(tools=[{"type": "custom", "custom": {"name": "x"}}]), "tools[0]"),
    (
        "tool_without_name",
        chat(tools=[{"type": "function", "function": {}}]),
        "tools[0].function.name",
    ),
    (
        "tool_schema_not_object",
        chat(
            tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]
        ),
        "tools[0].function.parameters",
    ),
    ("tool_choice_without_tools", chat(tool_choice="required"), "tool_choice"),
    (
        "tool_choice_unknown_tool",
        chat(tools=[TIME_TOOL], tool_choice={"type": "function", "function": {"name": "nope"}}),
        "tool_choice.function.name",
    ),
    ("tool_choice_bogus", chat(tools=[TIME_TOOL], tool_choice="sometimes"), "tool_choice"),
    ("parallel_not_bool", chat(tools=[TIME_TOOL], parallel_tool_calls="no"), "parallel_tool_calls"),
    ("effort_bogus", chat(reasoning_effort="maximum"), "reasoning_effort"),
    ("reasoning_bogus", chat(reasoning={"effort": "high", "summary": "auto"}), "reasoning"),
    (
        "reasoning_contradiction",
        chat(reasoning_effort="low", reasoning={"effort": "high"}),
        "reasoning",
    ),
    ("reasoning_cap_too_small", chat(reasoning_effort="low", max_tokens=1024), "max_tokens"),
    (
        "reasoning_forced_tool",
        chat(reasoning_effort="low", tools=[TIME_TOOL], tool_choice="required"),
        "tool_choice",
    ),
]


@pytest.mark.parametrize(("doc", "param"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected(doc: dict[str, Any], param: str) -> None:
    """What Anthropic cannot honour is a 400 naming the field, never a silent change."""
    with pytest.raises(InvalidRequest) as info:
        translate(doc)
    assert info.value.status == 400
    assert info.value.param == param


# One meaningful value per dropped field: the request must translate as if it were absent.
DROPPED_SAMPLES: dict[str, Any] = {
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "seed": 42,
    "logprobs": True,
    "top_logprobs": 3,
    "store": True,
    "metadata": {"team": "a"},
    "prompt_cache_key": "k",
    "prompt_cache_retention": "24h",
    "prediction": {"type": "content", "content": "Hello"},
}


def test_every_dropped_field_has_a_sample() -> None:
    """Adding a field to DROPPED_FIELDS needs a sample (and so a test) here."""
    assert set(DROPPED_SAMPLES) == DROPPED_FIELDS


@pytest.mark.parametrize("name", sorted(DROPPED_FIELDS))
def test_dropped(name: str) -> None:
    """A dropped field changes nothing in the Anthropic request."""
    assert translate(chat(**{name: DROPPED_SAMPLES[name]})) == anthropic()


@pytest.mark.parametrize("name", sorted(DEFAULT_ONLY_FIELDS))
def test_default_only_fields_accept_their_defaults(name: str) -> None:
    """null and the no-op values of a default-only field change nothing."""
    for value in (None, *DEFAULT_ONLY_FIELDS[name]):
        assert translate(chat(**{name: value})) == anthropic()


# Every parameter of OpenAI's chat completions create call (2026).
OPENAI_PARAMS = {
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
    "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
}  # fmt: skip


def test_every_openai_parameter_is_classified_once() -> None:
    """Each OpenAI parameter is translated, dropped or default-only: exactly one of them."""
    groups = [TRANSLATED_FIELDS, DROPPED_FIELDS, frozenset(DEFAULT_ONLY_FIELDS)]
    assert sum(len(g) for g in groups) == len(frozenset().union(*groups))
    assert frozenset().union(*groups) >= OPENAI_PARAMS


def test_input_is_not_mutated() -> None:
    """The caller's parsed body is left as it was (it is logged and may be retried)."""
    doc = {name: doc for name, doc, _ in CASES}["tool_history_merged_into_one_user_turn"]
    before = repr(doc)
    translate(doc)
    translate(doc)
    assert repr(doc) == before


# -- a property: any conversation keeps its content, in order, with roles alternating -------

_texts = st.text(alphabet="ab ", min_size=0, max_size=3)
_items = st.one_of(
    st.tuples(st.just("system"), _texts),
    st.tuples(st.just("user"), _texts),
    st.tuples(
        st.just("assistant"), _texts, st.lists(st.sampled_from(["c1", "c.2", "c3"]), max_size=2)
    ),
    st.tuples(st.just("tool"), st.sampled_from(["c1", "c.2", "c3"]), _texts),
)


def _openai(item: tuple[Any, ...]) -> dict[str, Any]:
    if item[0] == "assistant":
        return assistant(item[1], *(call(c, "f", '{"a": 1}') for c in item[2]))
    if item[0] == "tool":
        return tool(item[1], item[2])
    return {"role": item[0], "content": item[1]}


def _atoms(item: tuple[Any, ...]) -> list[tuple[str, Any]]:
    """What an OpenAI message should contribute, as (Anthropic role, block) pairs."""
    if item[0] == "assistant":
        blocks = [text(item[1])] if item[1] else []
        blocks += [tool_use(c.replace(".", "_"), "f", {"a": 1}) for c in item[2]]
        return [("assistant", b) for b in blocks]
    if item[0] == "tool":
        block = {"type": "tool_result", "tool_use_id": item[1].replace(".", "_")}
        return [("user", {**block, "content": item[2]} if item[2] else block)]
    return [("user", text(item[1]))] if item[1] else []


@given(st.lists(_items, min_size=1, max_size=8))
def test_any_conversation_keeps_its_content(items: list[tuple[Any, ...]]) -> None:
    """Roles alternate, system text is gathered, every block survives in order (tool results
    first within a user turn)."""
    out = translate(chat(*(_openai(item) for item in items)))
    system = "\n\n".join(item[1] for item in items if item[0] == "system" and item[1])
    assert out.get("system", "") == system
    roles = [turn["role"] for turn in out["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))
    expected: list[tuple[str, list[Any]]] = []
    for role, block in (a for item in items if item[0] != "system" for a in _atoms(item)):
        if expected and expected[-1][0] == role:
            expected[-1][1].append(block)
        else:
            expected.append((role, [block]))
    got = []
    for turn in out["messages"]:
        content = turn["content"]
        assert content  # Anthropic refuses empty turns
        got.append((turn["role"], [text(content)] if isinstance(content, str) else content))
    for role, blocks in expected:
        if role == "user":
            blocks.sort(key=lambda b: b["type"] != "tool_result")
    assert got == expected


ALL_ACCEPTED = [(name, doc) for name, doc, _ in CASES + REASONING]


@pytest.mark.parametrize("doc", [c[1] for c in ALL_ACCEPTED], ids=[c[0] for c in ALL_ACCEPTED])
def test_mock_anthropic_accepts_every_translation(doc: dict[str, Any]) -> None:
    """The mock Anthropic API (which refuses unknown members, as the real one does) takes
    every translated request: no OpenAI field leaks upstream."""
    body = translate(doc)
    recorded = RecordedRequest(
        method="POST",
        path="/v1/messages",
        query="",
        headers=(),
        body=orjson.dumps(body),
        json=body,
        received_at=0.0,
        connection_id=0,
    )
    assert anthropic_reply(recorded).status == 200


# -- a property: any body at all gives a request or a 400, never a crash ----------------------

_WORDS = ["auto", "none", "required", "text", "function", "user", "assistant", "tool", "system"]
_WORDS += ["json_schema", "high", "object", "image_url", "file", "refusal", "{}", ""]
_WORDS += ["https://x/y.png", "data:image/png;base64,AA==", "data:application/pdf;base64,AA=="]
_KEYS = ["type", "text", "role", "content", "image_url", "url", "tool_calls", "id", "function"]
_KEYS += ["name", "arguments", "parameters", "tool_call_id", "json_schema", "schema", "effort"]
_KEYS += ["file", "file_data", "cache_control", "strict"]
_TOP = ["tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens"]
_TOP += ["temperature", "top_p", "stop", "stream", "reasoning_effort", "reasoning", "n"]
_TOP += ["response_format", "user", "logit_bias", "modalities", "seed", "service_tier"]
_leaf = st.none() | st.booleans() | st.integers(-5, 5000) | st.sampled_from(_WORDS)
_json = st.recursive(
    _leaf | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)
_message = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=5) | st.fixed_dictionaries(
    {"role": st.sampled_from(list(_WORDS[:9])), "content": _json},
    optional={"tool_calls": _json, "tool_call_id": _json},
)
_bodies = st.fixed_dictionaries(
    {"messages": st.lists(_message, max_size=4)}, optional=dict.fromkeys(_TOP, _json)
)


@given(_bodies)
def test_any_body_translates_or_is_a_400(doc: dict[str, Any]) -> None:
    """Whatever the client sends, the answer is a JSON-encodable request or a 400 naming a
    field."""
    try:
        out: dict[str, Any] | InvalidRequest = translate(doc)
    except InvalidRequest as exc:
        out = exc
    if isinstance(out, InvalidRequest):
        assert out.param and out.status == 400
    else:
        assert orjson.loads(orjson.dumps(out))["max_tokens"] >= 1
