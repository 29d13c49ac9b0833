"""Anthropic Messages requests -> OpenAI chat requests: each field translated, dropped, refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.errors import InvalidRequest
from gomodel.translate._messages_content import IMAGE_RESULT_TEXT
from gomodel.translate.anthropic_request import THINKING_BUDGETS
from gomodel.translate.anthropic_request import chat_to_messages as chat_to_anthropic
from gomodel.translate.messages_request import (
    DROPPED_FIELDS,
    REJECTED_FIELDS,
    TRANSLATED_FIELDS,
    effort_for_budget,
    messages_to_chat,
)

MODEL = "gpt-4o-mini"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5Erk"
SCHEMA = {
    "type": "object",
    "properties": {"location": {"type": "string"}},
    "required": ["location"],
}
WEATHER = {"name": "get_weather", "description": "Get the weather", "input_schema": SCHEMA}
WEATHER_FN = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Get the weather", "parameters": SCHEMA},
}
TIME = {"name": "get_time", "input_schema": {"type": "object"}}
TIME_FN = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def messages(*turns: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Messages request body (one user "Hello" by default, max_tokens 100)."""
    return {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 100,
        "messages": list(turns) or [user("Hello")],
        **fields,
    }


def chat(*msgs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """The chat body expected for it."""
    return {"model": MODEL, "messages": list(msgs) or [user("Hello")], "max_tokens": 100, **fields}


def translate(doc: dict[str, Any], default_max_tokens: int | None = None) -> dict[str, Any]:
    return messages_to_chat(doc, model=MODEL, default_max_tokens=default_max_tokens)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any, *calls: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool_use(call_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def result(call_id: str, content: Any = None, **extra: Any) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": call_id, **extra}
    return block if content is None else {**block, "content": content}


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def image(source: dict[str, Any]) -> dict[str, Any]:
    return {"type": "image", "source": source}


def image_url(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


BASE64_PNG = {"type": "base64", "media_type": "image/png", "data": PNG}
PNG_URL = f"data:image/png;base64,{PNG}"
WEATHER_USE = tool_use("toolu_1", "get_weather", {"location": "Paris"})
WEATHER_CALL = call("toolu_1", "get_weather", '{"location":"Paris"}')

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("plain", messages(), chat()),
    (
        "params",
        messages(temperature=0.5, top_p=0.9, top_k=40, stop_sequences=["3"]),
        chat(temperature=0.5, top_p=0.9, stop=["3"]),
    ),
    ("empty_stop_sequences", messages(stop_sequences=[]), chat()),
    (
        "system_string",
        messages(system="Be brief."),
        chat({"role": "system", "content": "Be brief."}, user("Hello")),
    ),
    (
        "system_blocks_joined_cache_control_dropped",
        messages(system=[text("You are Claude Code."), text("Long", cache_control={"a": 1})]),
        chat({"role": "system", "content": "You are Claude Code.\n\nLong"}, user("Hello")),
    ),
    (
        "system_role_message_in_place",
        messages(user("a"), {"role": "system", "content": [text("b")]}, user("c")),
        chat(user("a"), {"role": "system", "content": "b"}, user("c")),
    ),
    (
        "multi_turn",
        messages(user("What is 2+2?"), assistant("4"), user([text("Multiply by 4.")])),
        chat(user("What is 2+2?"), assistant("4"), user("Multiply by 4.")),
    ),
    (
        "text_blocks_joined_empty_skipped",
        messages(user([text("<reminder>"), text(""), text("Fix the bug.")])),
        chat(user("<reminder>\n\nFix the bug.")),
    ),
    (
        "assistant_text_blocks_concatenated",
        messages(user("Hi"), assistant([text("Hel"), text("lo")])),
        chat(user("Hi"), assistant("Hello")),
    ),
    (
        "images_base64_and_url",
        messages(
            user(
                [
                    text("Colors?"),
                    image(BASE64_PNG),
                    image({"type": "url", "url": "https://example.com/a.png"}),
                ]
            )
        ),
        chat(
            user(
                [
                    text("Colors?"),
                    image_url(PNG_URL),
                    image_url("https://example.com/a.png"),
                ]
            )
        ),
    ),
    (
        "pdf_document",
        messages(
            user(
                [
                    {
                        "type": "document",
                        "title": "report.pdf",
                        "context": "Q3",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "JV"},
                    },
                    text("Summarize."),
                ]
            )
        ),
        chat(
            user(
                [
                    text("Q3"),
                    {
                        "type": "file",
                        "file": {
                            "filename": "report.pdf",
                            "file_data": "data:application/pdf;base64,JV",
                        },
                    },
                    text("Summarize."),
                ]
            )
        ),
    ),
    (
        "text_and_content_documents",
        messages(
            user(
                [
                    {
                        "type": "document",
                        "title": "Notes",
                        "source": {"type": "text", "media_type": "text/plain", "data": "x=1"},
                        "citations": {"enabled": True},
                    },
                    {"type": "document", "source": {"type": "content", "content": [text("y")]}},
                ]
            )
        ),
        chat(user("Notes\n\nx=1\n\ny")),
    ),
    (
        "tool_use_and_results_in_order",
        messages(
            user("Weather in Paris and the time?"),
            assistant(
                [
                    {"type": "thinking", "thinking": "Two tools.", "signature": "sig"},
                    text("Checking."),
                    WEATHER_USE,
                    tool_use("toolu_2", "get_time", {}),
                ]
            ),
            user(
                [
                    result("toolu_1", "18C"),
                    result("toolu_2", [text("12:00"), text("UTC")]),
                    text("Thanks"),
                ]
            ),
        ),
        chat(
            user("Weather in Paris and the time?"),
            assistant("Checking.", WEATHER_CALL, call("toolu_2", "get_time", "{}")),
            tool("toolu_1", "18C"),
            tool("toolu_2", "12:00\n\nUTC"),
            user("Thanks"),
        ),
    ),
    (
        "tool_only_assistant_turn_has_null_content",
        messages(user("Paris?"), assistant([WEATHER_USE]), user([result("toolu_1", "18C")])),
        chat(user("Paris?"), assistant(None, WEATHER_CALL), tool("toolu_1", "18C")),
    ),
    (
        "error_result_and_empty_result",
        messages(
            user("Paris?"),
            assistant([WEATHER_USE, tool_use("toolu_2", "get_time", {})]),
            user([result("toolu_1", "no network", is_error=True), result("toolu_2")]),
        ),
        chat(
            user("Paris?"),
            assistant(None, WEATHER_CALL, call("toolu_2", "get_time", "{}")),
            tool("toolu_1", "Error: no network"),
            tool("toolu_2", ""),
        ),
    ),
    (
        "images_from_tools_follow_the_tool_messages",
        messages(
            user("Screenshot?"),
            assistant([tool_use("toolu_s", "screenshot", {})]),
            user([result("toolu_s", [image(BASE64_PNG)]), text("What do you see?")]),
        ),
        chat(
            user("Screenshot?"),
            assistant(None, call("toolu_s", "screenshot", "{}")),
            tool("toolu_s", IMAGE_RESULT_TEXT),
            user([image_url(PNG_URL), text("What do you see?")]),
        ),
    ),
    (
        "thinking_only_turn_and_redacted_thinking_dropped",
        messages(
            user("a"),
            assistant([{"type": "redacted_thinking", "data": "x"}]),
            user("b"),
        ),
        chat(user("a"), user("b")),
    ),
    (
        "prefill_kept",
        messages(user("Greek for Sun? (A) Sol (B) Helios"), assistant("The best answer is (")),
        chat(user("Greek for Sun? (A) Sol (B) Helios"), assistant("The best answer is (")),
    ),
    (
        "tools_and_auto_choice",
        messages(
            tools=[{**WEATHER, "cache_control": {"type": "ephemeral"}}, {**TIME, "type": "custom"}],
            tool_choice={"type": "auto"},
        ),
        chat(tools=[WEATHER_FN, TIME_FN], tool_choice="auto"),
    ),
    (
        "strict_tool",
        messages(tools=[{**TIME, "strict": True, "input_examples": [{}]}]),
        chat(tools=[{"type": "function", "function": {**TIME_FN["function"], "strict": True}}]),
    ),
    (
        "tool_choice_any_serial",
        messages(tools=[TIME], tool_choice={"type": "any", "disable_parallel_tool_use": True}),
        chat(tools=[TIME_FN], tool_choice="required", parallel_tool_calls=False),
    ),
    (
        "tool_choice_named",
        messages(tools=[WEATHER, TIME], tool_choice={"type": "tool", "name": "get_time"}),
        chat(
            tools=[WEATHER_FN, TIME_FN],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        ),
    ),
    (
        "tool_choice_none_ignores_parallel",
        messages(tools=[TIME], tool_choice={"type": "none", "disable_parallel_tool_use": True}),
        chat(tools=[TIME_FN], tool_choice="none"),
    ),
    ("tool_choice_auto_without_tools", messages(tool_choice={"type": "auto"}), chat()),
    (
        "thinking_budget",
        messages(max_tokens=20000, thinking={"type": "enabled", "budget_tokens": 10000}),
        chat(max_tokens=20000, reasoning_effort="medium"),
    ),
    (
        "output_config_effort_wins",
        messages(
            thinking={"type": "enabled", "budget_tokens": 1024}, output_config={"effort": "max"}
        ),
        chat(reasoning_effort="xhigh"),
    ),
    ("adaptive_thinking", messages(thinking={"type": "adaptive"}), chat()),
    ("disabled_thinking", messages(thinking={"type": "disabled"}), chat()),
    (
        "structured_output",
        messages(output_config={"format": {"type": "json_schema", "schema": SCHEMA}}),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
            }
        ),
    ),
    (
        "beta_output_format",
        messages(output_format={"type": "json_schema", "schema": SCHEMA}),
        chat(
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
            }
        ),
    ),
    ("metadata_user", messages(metadata={"user_id": "u-1"}), chat(user="u-1")),
    ("metadata_null_user", messages(metadata={"user_id": None}), chat()),
    (
        "stream_asks_for_usage",
        messages(stream=True),
        chat(stream=True, stream_options={"include_usage": True}),
    ),
    ("stream_false", messages(stream=False), chat(stream=False)),
    (
        "dropped_fields_and_nulls",
        messages(
            service_tier="auto",
            cache_control={"type": "ephemeral"},
            context_management={"edits": []},
            speed="fast",
            inference_geo="us",
            diagnostics={},
            mcp_servers=[],
            container=None,
            temperature=None,
            provider="openai",
        ),
        chat(),
    ),
]


@pytest.mark.parametrize(("doc", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translation(doc: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translate(doc) == expected


def test_max_tokens_default() -> None:
    """max_tokens is required; the caller's default stands in for it, else a 400."""
    doc = messages()
    del doc["max_tokens"]
    assert translate(doc, default_max_tokens=4096)["max_tokens"] == 4096
    with pytest.raises(InvalidRequest) as caught:
        translate(doc)
    assert caught.value.param == "max_tokens"
    assert translate(messages(max_tokens=7), default_max_tokens=4096)["max_tokens"] == 7


BANDS = [(1024, "low"), (4095, "low"), (4096, "medium"), (16383, "medium"), (16384, "high")]
BANDS += [(31999, "high"), (32768, "xhigh"), (100000, "xhigh")]


@pytest.mark.parametrize(("budget", "effort"), BANDS)
def test_budget_bands(budget: int, effort: str) -> None:
    assert effort_for_budget(budget) == effort


@pytest.mark.parametrize("effort", ["low", "medium", "high", "xhigh"])
def test_efforts_round_trip_through_anthropic_budgets(effort: str) -> None:
    """chat reasoning_effort -> Anthropic budget (the other translation) -> the same effort."""
    anthropic = chat_to_anthropic(
        {"model": "m", "messages": [user("x")], "reasoning_effort": effort}, model="claude"
    )
    assert anthropic["thinking"]["budget_tokens"] == THINKING_BUDGETS[effort]
    back = translate({**anthropic, "model": "claude"})
    assert back["reasoning_effort"] == effort


REJECTED: list[tuple[str, dict[str, Any], str]] = [
    ("unknown_field", messages(frequency_penalty=1), "frequency_penalty"),
    ("container", messages(container="c_1"), "container"),
    ("mcp_servers", messages(mcp_servers=[{"type": "url"}]), "mcp_servers"),
    ("no_messages", messages(messages=[]), "messages"),
    ("messages_not_list", {"max_tokens": 1, "messages": "hi"}, "messages"),
    ("message_not_object", messages(messages=["hi"]), "messages[0]"),
    ("empty_user_content", messages(user([])), "messages[0].content"),
    ("only_system_messages", messages({"role": "system", "content": "x"}), "messages"),
    ("bad_role", messages({"role": "tool", "content": "x"}), "messages[0].role"),
    ("missing_content", messages({"role": "user"}), "messages[0].content"),
    ("content_number", messages(user(5)), "messages[0].content"),
    ("block_without_type", messages(user([{"text": "x"}])), "messages[0].content[0]"),
    (
        "text_not_string",
        messages(user([{"type": "text", "text": 1}])),
        "messages[0].content[0].text",
    ),
    (
        "server_tool_block",
        messages(user("a"), assistant([{"type": "server_tool_use", "id": "s", "name": "web"}])),
        "messages[1].content[0].type",
    ),
    (
        "search_result_block",
        messages(user([{"type": "search_result"}])),
        "messages[0].content[0].type",
    ),
    ("tool_use_in_user_turn", messages(user([WEATHER_USE])), "messages[0].content[0].type"),
    (
        "result_in_assistant_turn",
        messages(assistant([result("x", "y")])),
        "messages[0].content[0].type",
    ),
    (
        "result_without_tool_use",
        messages(user([result("toolu_9", "18C")])),
        "messages[0].content[0].tool_use_id",
    ),
    (
        "result_before_its_tool_use",
        messages(user([result("toolu_1", "x")]), assistant([WEATHER_USE])),
        "messages[0].content[0].tool_use_id",
    ),
    (
        "result_image_url_bad",
        messages(
            user("a"),
            assistant([WEATHER_USE]),
            user([result("toolu_1", [image({"type": "url", "url": "ftp://x"})])]),
        ),
        "messages[2].content[0].content[0].source.url",
    ),
    (
        "result_document",
        messages(
            user("a"), assistant([WEATHER_USE]), user([result("toolu_1", [{"type": "document"}])])
        ),
        "messages[2].content[0].content[0].type",
    ),
    (
        "result_is_error_not_bool",
        messages(
            user("a"), assistant([WEATHER_USE]), user([result("toolu_1", "x", is_error="yes")])
        ),
        "messages[2].content[0].is_error",
    ),
    (
        "tool_use_input_not_object",
        messages(user("a"), assistant([tool_use("t", "f", [])])),  # type: ignore[arg-type]
        "messages[1].content[0].input",
    ),
    (
        "tool_use_without_id",
        messages(assistant([{"type": "tool_use", "name": "f", "input": {}}])),
        "messages[0].content[0].id",
    ),
    (
        "image_media_type",
        messages(user([image({**BASE64_PNG, "media_type": "image/bmp"})])),
        "messages[0].content[0].source.media_type",
    ),
    (
        "image_file_source",
        messages(user([image({"type": "file", "file_id": "f"})])),
        "messages[0].content[0].source.type",
    ),
    (
        "document_url",
        messages(user([{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}])),
        "messages[0].content[0].source.type",
    ),
    (
        "document_not_pdf",
        messages(
            user(
                [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "text/csv", "data": "x"},
                    }
                ]
            )
        ),
        "messages[0].content[0].source.media_type",
    ),
    ("system_image", messages(system=[image(BASE64_PNG)]), "system[0].type"),
    ("system_number", messages(system=3), "system"),
    ("max_tokens_zero", messages(max_tokens=0), "max_tokens"),
    ("max_tokens_bool", messages(max_tokens=True), "max_tokens"),
    ("temperature_above_one", messages(temperature=1.5), "temperature"),
    ("top_p_string", messages(top_p="0.5"), "top_p"),
    ("top_k_negative", messages(top_k=-1), "top_k"),
    ("stop_sequences_string", messages(stop_sequences="END"), "stop_sequences"),
    (
        "server_tool",
        messages(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "tools[0].type",
    ),
    ("bash_tool", messages(tools=[{"type": "bash_20250124", "name": "bash"}]), "tools[0].type"),
    ("tool_without_schema", messages(tools=[{"name": "f"}]), "tools[0].input_schema"),
    (
        "tool_schema_not_object",
        messages(tools=[{"name": "f", "input_schema": {"type": "string"}}]),
        "tools[0].input_schema",
    ),
    ("tool_without_name", messages(tools=[{"input_schema": {"type": "object"}}]), "tools[0].name"),
    ("tools_not_list", messages(tools={}), "tools"),
    (
        "tool_choice_unknown",
        messages(tools=[TIME], tool_choice={"type": "required"}),
        "tool_choice.type",
    ),
    ("tool_choice_string", messages(tools=[TIME], tool_choice="auto"), "tool_choice.type"),
    ("tool_choice_any_without_tools", messages(tool_choice={"type": "any"}), "tool_choice.type"),
    (
        "tool_choice_unknown_name",
        messages(tools=[TIME], tool_choice={"type": "tool", "name": "x"}),
        "tool_choice.name",
    ),
    (
        "disable_parallel_not_bool",
        messages(tools=[TIME], tool_choice={"type": "auto", "disable_parallel_tool_use": 1}),
        "tool_choice.disable_parallel_tool_use",
    ),
    ("thinking_type", messages(thinking={"type": "on"}), "thinking.type"),
    (
        "thinking_small_budget",
        messages(thinking={"type": "enabled", "budget_tokens": 512}),
        "thinking.budget_tokens",
    ),
    ("effort_unknown", messages(output_config={"effort": "huge"}), "output_config.effort"),
    ("output_config_unknown", messages(output_config={"verbosity": 1}), "output_config.verbosity"),
    (
        "output_format_type",
        messages(output_config={"format": {"type": "json"}}),
        "output_config.format.type",
    ),
    (
        "output_format_schema",
        messages(output_format={"type": "json_schema"}),
        "output_format.schema",
    ),
    (
        "output_format_twice",
        messages(
            output_format={"type": "json_schema", "schema": {}},
            output_config={"format": {"type": "json_schema", "schema": {}}},
        ),
        "output_format",
    ),
    ("metadata_unknown", messages(metadata={"session": "s"}), "metadata.session"),
    ("metadata_user_number", messages(metadata={"user_id": 1}), "metadata.user_id"),
    ("stream_string", messages(stream="yes"), "stream"),
]


@pytest.mark.parametrize(("doc", "param"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected(doc: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        translate(doc)
    assert caught.value.param == param
    assert caught.value.status == 400


def test_fields_are_classified_once() -> None:
    groups = [TRANSLATED_FIELDS, DROPPED_FIELDS, frozenset(REJECTED_FIELDS)]
    assert sum(len(g) for g in groups) == len(frozenset().union(*groups))


def test_input_is_not_mutated() -> None:
    doc = {name: doc for name, doc, _ in CASES}["tool_use_and_results_in_order"]
    before = orjson.dumps(doc)
    translate(doc)
    assert orjson.dumps(doc) == before


# -- round trips: chat -> Anthropic (the other translation) -> chat, and the other way -------

_words = st.text(alphabet="ab ", min_size=1, max_size=4)
_ids = st.sampled_from(["c1", "c2", "c3"])
_args = st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 9), max_size=2)


@st.composite
def _conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Alternating chat turns: user text, then assistant text and/or calls, then the calls'
    tool results (and maybe more user text)."""
    out: list[dict[str, Any]] = []
    if draw(st.booleans()):
        out.append({"role": "system", "content": draw(_words)})
    for _ in range(draw(st.integers(1, 3))):
        out.append(user(draw(_words)))
        ids = draw(st.lists(_ids, unique=True, max_size=2))
        reply = draw(_words) if not ids or draw(st.booleans()) else None
        calls = [call(i, "f", orjson.dumps(draw(_args)).decode()) for i in ids]
        out.append(assistant(reply, *calls))
        out.extend(tool(i, draw(_words)) for i in ids)
    return out


@given(_conversations())
def test_chat_round_trips_through_anthropic(conversation: list[dict[str, Any]]) -> None:
    """A chat conversation sent through the chat -> Anthropic translation and back is the
    same conversation (tool results as tool messages, calls with the same arguments)."""
    doc = {"model": "m", "messages": conversation, "max_tokens": 5, "stop": ["x"]}
    anthropic = chat_to_anthropic(doc, model="claude")
    back = translate(anthropic)
    assert back == {"model": MODEL, "messages": conversation, "max_tokens": 5, "stop": ["x"]}


def test_messages_round_trip_through_chat() -> None:
    """A Messages request the chat -> Anthropic translation produces comes back unchanged."""
    doc = messages(
        user("Paris?"),
        assistant([text("Checking."), WEATHER_USE]),
        user([result("toolu_1", "18C"), text("Thanks")]),
        system="Be brief.",
        tools=[WEATHER],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
        temperature=0.2,
        top_p=0.5,
        metadata={"user_id": "u"},
    )
    again = chat_to_anthropic(translate(doc), model=doc["model"])
    assert again == {**doc, "messages": doc["messages"]}


# -- a property: any body at all gives a request or a 400, never a crash ----------------------

_WORDS = ["text", "image", "document", "tool_use", "tool_result", "thinking", "base64", "url"]
_WORDS += ["user", "assistant", "system", "auto", "any", "tool", "none", "enabled", "object"]
_WORDS += ["image/png", "application/pdf", "https://x/y.png", "json_schema", "c1", ""]
_KEYS = ["type", "text", "role", "content", "source", "media_type", "data", "url", "id"]
_KEYS += ["name", "input", "tool_use_id", "is_error", "input_schema", "schema", "budget_tokens"]
_TOP = ["system", "tools", "tool_choice", "thinking", "max_tokens", "temperature", "top_p"]
_TOP += ["top_k", "stop_sequences", "stream", "metadata", "output_config", "service_tier"]
_leaf = st.none() | st.booleans() | st.integers(-5, 5000) | st.sampled_from(_WORDS)
_json = st.recursive(
    _leaf | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5)
    ),
    max_leaves=14,
)
_message = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=4) | st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system"]), "content": _json}
)
_bodies = st.fixed_dictionaries(
    {"messages": st.lists(_message, max_size=4)}, optional=dict.fromkeys(_TOP, _json)
)


@given(_bodies)
def test_any_body_translates_or_is_a_400(doc: dict[str, Any]) -> None:
    """Whatever the client sends, the answer is a JSON-encodable chat request or a 400 naming
    a field."""
    try:
        out: dict[str, Any] | InvalidRequest = translate(doc, default_max_tokens=16)
    except InvalidRequest as exc:
        out = exc
    if isinstance(out, InvalidRequest):
        assert out.param and out.status == 400
    else:
        assert orjson.loads(orjson.dumps(out))["messages"]
