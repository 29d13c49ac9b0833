"""Responses API requests -> chat requests, and chat answers -> Responses objects (non-stream)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from openai.types.responses import Response

from gomodel.errors import InvalidRequest
from gomodel.translate.responses import (
    COPIED_FIELDS,
    DROPPED_FIELDS,
    REJECTED_FIELDS,
    chat_to_response,
    responses_to_chat,
)
from gomodel.translate.responses_output import responses_usage
from tests.conftest import FIXTURES

BASE: dict[str, Any] = {"model": "m", "input": "hi"}
USER_HI = [{"role": "user", "content": "hi"}]


def load(name: str) -> dict[str, Any]:
    """A recorded JSON body."""
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


def chat(message: dict[str, Any], finish: str = "stop", **extra: Any) -> dict[str, Any]:
    """A chat.completion with one choice."""
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "m-1", "choices": [choice]}


def respond(answer: dict[str, Any], **request: Any) -> dict[str, Any]:
    """chat_to_response with a fixed id and clock; the result must satisfy the SDK's model."""
    out = chat_to_response(
        answer, response_id="resp_abc", created_at=1000, request={**BASE, **request}
    )
    Response.model_validate(out)
    return out


# -- request: translated fields --------------------------------------------------------------

CALL = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'}
CHAT_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
TRANSLATED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("string input", {}, {"messages": USER_HI}),
    (
        "instructions",
        {"instructions": "be brief"},
        {"messages": [{"role": "system", "content": "be brief"}, *USER_HI]},
    ),
    (
        "text parts flattened with a space",
        {"input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}] * 2}]},
        {"messages": [{"role": "user", "content": "a a"}]},
    ),
    (
        "image part",
        {
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "what?"},
                        {"type": "input_image", "image_url": "https://x/i.png", "detail": "low"},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x/i.png", "detail": "low"},
                        },
                    ],
                }
            ]
        },
    ),
    (
        "audio and file parts",
        {
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                        {"type": "input_file", "file_data": "data:application/pdf;base64,JV"},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}},
                        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JV"}},
                    ],
                }
            ]
        },
    ),
    (
        "developer becomes system; name kept; id and status dropped",
        {
            "input": [
                {"role": "developer", "content": "rule", "name": "n", "id": "x", "status": "s"}
            ]
        },
        {"messages": [{"role": "system", "content": "rule", "name": "n"}]},
    ),
    (
        "assistant message, its calls, their outputs; reasoning dropped",
        {
            "input": [
                {"role": "user", "content": "go"},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {
                    "type": "message",
                    "role": "assistant",
                    "id": "msg_1",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": "ok", "annotations": []}],
                },
                CALL,
                {**CALL, "call_id": "c2", "arguments": {"b": 2}},
                {"type": "function_call_output", "call_id": "c1", "output": "r1"},
                {
                    "type": "function_call_output",
                    "call_id": "c2",
                    "output": [
                        {"type": "input_text", "text": "r"},
                        {"type": "input_text", "text": "2"},
                    ],
                },
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": "ok",
                    "tool_calls": [
                        CHAT_CALL,
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"b":2}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r1"},
                {"role": "tool", "tool_call_id": "c2", "content": "r2"},
            ]
        },
    ),
    (
        "a call with no assistant message before it; id stands in for call_id; JSON output",
        {
            "input": [
                {"role": "user", "content": "go"},
                {"type": "function_call", "id": "c1", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": {"t": 1}},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": None, "tool_calls": [CHAT_CALL]},
                {"role": "tool", "tool_call_id": "c1", "content": '{"t":1}'},
                {"role": "assistant", "content": "no"},
            ]
        },
    ),
    (
        "function tools; cache_control stays on the tool",
        {
            "tools": [
                {
                    "type": "function",
                    "name": "f",
                    "description": "d",
                    "parameters": {},
                    "strict": True,
                },
                {"type": "function", "name": "g", "cache_control": {"type": "ephemeral"}},
            ]
        },
        {
            "messages": USER_HI,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f", "description": "d", "parameters": {}, "strict": True},
                },
                {
                    "type": "function",
                    "function": {"name": "g"},
                    "cache_control": {"type": "ephemeral"},
                },
            ],
        },
    ),
    (
        "tool_choice string",
        {"tool_choice": "required"},
        {"messages": USER_HI, "tool_choice": "required"},
    ),
    (
        "tool_choice function",
        {"tool_choice": {"type": "function", "name": "f"}},
        {"messages": USER_HI, "tool_choice": {"type": "function", "function": {"name": "f"}}},
    ),
    ("max_output_tokens", {"max_output_tokens": 50}, {"messages": USER_HI, "max_tokens": 50}),
    (
        "reasoning effort; summary dropped",
        {"reasoning": {"effort": "low", "summary": "auto"}},
        {"messages": USER_HI, "reasoning_effort": "low"},
    ),
    ("reasoning without effort", {"reasoning": {"summary": "auto"}}, {"messages": USER_HI}),
    (
        "json_schema format; verbosity dropped",
        {
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "s",
                    "schema": {"type": "object"},
                    "strict": True,
                },
                "verbosity": "low",
            }
        },
        {
            "messages": USER_HI,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": True},
            },
        },
    ),
    (
        "json_object format",
        {"text": {"format": {"type": "json_object"}}},
        {"messages": USER_HI, "response_format": {"type": "json_object"}},
    ),
    ("text format", {"text": {"format": {"type": "text"}}}, {"messages": USER_HI}),
    (
        "stream asks for usage; Responses stream_options dropped",
        {"stream": True, "stream_options": {"include_obfuscation": False}},
        {"messages": USER_HI, "stream": True, "stream_options": {"include_usage": True}},
    ),
    ("stream false", {"stream": False}, {"messages": USER_HI, "stream": False}),
    (
        "copied and unknown fields, in client order",
        {"temperature": 0.5, "top_p": 0.9, "parallel_tool_calls": False, "user": "u"}
        | {"safety_identifier": "s", "provider": "groq", "seed": 7},
        {
            "messages": USER_HI,
            "temperature": 0.5,
            "top_p": 0.9,
            "parallel_tool_calls": False,
            "user": "u",
            "safety_identifier": "s",
            "provider": "groq",
            "seed": 7,
        },
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [c[1:] for c in TRANSLATED], ids=[c[0] for c in TRANSLATED]
)
def test_request_translation(body: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each Responses field becomes its chat counterpart; the model is kept as given."""
    assert responses_to_chat({**BASE, **body}) == {"model": "m", **expected}


def test_copied_fields_are_listed() -> None:
    """Every field listed as copied is covered by the copy case above."""
    covered = TRANSLATED[-1][1]
    assert set(COPIED_FIELDS) <= set(covered)


def test_translation_leaves_the_request_alone() -> None:
    """The caller's parsed body is not modified (it is echoed in the answer)."""
    doc = {
        **BASE,
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}, CALL],
    }
    doc |= {"tools": [{"type": "function", "name": "f"}], "stream": True}
    before = copy.deepcopy(doc)
    responses_to_chat(doc)
    assert doc == before


# -- request: dropped fields -----------------------------------------------------------------

DROPPED_VALUES: dict[str, Any] = {
    "store": False,
    "metadata": {"k": "v"},
    "include": ["reasoning.encrypted_content"],
    "truncation": "auto",
    "max_tool_calls": 3,
    "top_logprobs": 2,
    "prompt_cache_key": "k",
    "prompt_cache_retention": "24h",
    "service_tier": "flex",
}


def test_dropped_values_cover_every_dropped_field() -> None:
    """The table below exercises each of DROPPED_FIELDS."""
    assert set(DROPPED_VALUES) == DROPPED_FIELDS


@pytest.mark.parametrize(
    "extra",
    [{k: v} for k, v in DROPPED_VALUES.items()]
    + [{k: None} for k in REJECTED_FIELDS]
    + [{"background": False}],
    ids=[*DROPPED_VALUES, *(f"{k}=null" for k in REJECTED_FIELDS), "background=false"],
)
def test_dropped_fields(extra: dict[str, Any]) -> None:
    """Fields that change no answer (and rejected ones at their no-op value) are left out."""
    assert responses_to_chat({**BASE, **extra}) == {"model": "m", "messages": USER_HI}


# -- request: rejected -----------------------------------------------------------------------

REJECTED: list[tuple[dict[str, Any], str]] = [
    ({"previous_response_id": "resp_1"}, "previous_response_id"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"background": True}, "background"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "function"}]}, "tools[0].name"),
    ({"tools": {"type": "function"}}, "tools"),
    ({"tool_choice": {"type": "web_search"}}, "tool_choice"),
    ({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}, "tool_choice"),
    ({"tool_choice": {"type": "function"}}, "tool_choice.name"),
    ({"tool_choice": "any"}, "tool_choice"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
    ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0].type"),
    ({"input": [{"type": "message", "content": "x"}]}, "input[0].role"),
    ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
    ({"input": ["x"]}, "input[0]"),
    ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
    ({"input": [{"type": "function_call", "call_id": "c"}]}, "input[0].name"),
    ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
    ({"input": [{"role": "user", "content": 5}]}, "input[0].content"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_text"}]}]},
        "input[0].content[0].text",
    ),
    ({"input": [{"role": "user", "content": ["x"]}]}, "input[0].content[0]"),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
        "input[0].content[0].file_id",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_image"}]}]},
        "input[0].content[0].image_url",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_audio"}]}]},
        "input[0].content[0].input_audio",
    ),
    (
        {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
        "input[0].content[0].file_data",
    ),
    ({"input": [{"role": "user", "content": [{"type": "video"}]}]}, "input[0].content[0].type"),
    ({"input": None}, "input"),
    ({"input": 3}, "input"),
    ({"input": []}, "input"),
    ({"instructions": ["x"]}, "instructions"),
    ({"reasoning": "high"}, "reasoning"),
    ({"text": "json"}, "text"),
    ({"text": {"format": {"type": "xml"}}}, "text.format.type"),
    ({"text": {"format": {"type": "json_schema", "name": "s"}}}, "text.format.schema"),
    ({"stream": "yes"}, "stream"),
    ({"messages": [{"role": "user", "content": "x"}]}, "messages"),
    ({"max_output_tokens": 5, "max_tokens": 6}, "max_tokens"),
]


@pytest.mark.parametrize(("body", "param"), REJECTED, ids=[p for _, p in REJECTED])
def test_rejected(body: dict[str, Any], param: str) -> None:
    """What a chat provider cannot honour is a 400 naming the field."""
    with pytest.raises(InvalidRequest) as caught:
        responses_to_chat({**BASE, **body})
    assert caught.value.param == param
    assert caught.value.status == 400


def test_previous_response_id_message_says_what_to_do() -> None:
    """The 400 for previous_response_id tells the client to send the conversation instead."""
    with pytest.raises(InvalidRequest, match="send the conversation in input"):
        responses_to_chat({**BASE, "previous_response_id": "resp_1"})


# -- response --------------------------------------------------------------------------------


def test_text_answer_from_the_recorded_chat_completion() -> None:
    """A recorded OpenAI answer becomes one completed message item with mapped usage."""
    out = respond(load("openai/chat_completion.json"))
    answer = load("openai/chat_completion.json")["choices"][0]["message"]["content"]
    assert out["id"] == "resp_abc" and out["object"] == "response"
    assert out["created_at"] == 1000 and out["status"] == "completed"
    assert out["model"] == "gpt-4o-mini-2024-07-18"
    assert out["output"] == [
        {
            "id": "msg_abc",
            "type": "message",
            "status": "completed",
            "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": answer}],
            "role": "assistant",
        }
    ]
    assert Response.model_validate(out).output_text == answer


def test_response_has_the_real_api_shape() -> None:
    """The object has every member of a recorded OpenAI response except those only OpenAI
    can know (billing, timing, penalties it applied)."""
    real = load("openai/responses.json")
    out = respond(load("openai/chat_completion.json"))
    provider_only = {"billing", "completed_at", "frequency_penalty", "presence_penalty"}
    provider_only |= {"prompt_cache_retention", "service_tier", "top_logprobs"}
    assert set(out) == set(real) - provider_only
    assert set(out["usage"]) == set(real["usage"])


def test_usage_mapping() -> None:
    """Chat usage -> Responses usage: details renamed, provider extras kept."""
    usage = load("openai/chat_completion_reasoning.json")["usage"] | {"queue_time": 0.5}
    assert responses_usage(usage) == {
        "input_tokens": 13,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0, "audio_tokens": 0},
        "output_tokens": 85,
        "output_tokens_details": {
            "reasoning_tokens": 64,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "total_tokens": 98,
        "queue_time": 0.5,
    }
    assert (responses_usage({"prompt_tokens": 3, "completion_tokens": 4}) or {})[
        "total_tokens"
    ] == 7
    assert responses_usage(None) is None


def test_tool_calls_only() -> None:
    """A recorded tool-call answer (content null) becomes function_call items only."""
    out = respond(
        load("openai/chat_with_tools.json"), tools=[{"type": "function", "name": "get_weather"}]
    )
    assert out["output"] == [
        {
            "id": "fc_call_X8zi23yeE70r4qiZ2lhIuRNK",
            "type": "function_call",
            "status": "completed",
            "arguments": '{"location":"Paris"}',
            "call_id": "call_X8zi23yeE70r4qiZ2lhIuRNK",
            "name": "get_weather",
        }
    ]
    assert out["status"] == "completed"
    assert out["tools"] == [{"type": "function", "name": "get_weather"}]


def test_text_reasoning_and_two_tool_calls() -> None:
    """Reasoning item, then the message, then one function_call per call; a missing call id
    is derived from the response id."""
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
        {"type": "function", "function": {"name": "g", "arguments": {"x": 1}}},
    ]
    answer = chat(
        {"content": "let me", "reasoning_content": "hmm", "tool_calls": calls}, "tool_calls"
    )
    out = respond(answer)
    assert [(i["type"], i["id"]) for i in out["output"]] == [
        ("reasoning", "rs_abc"),
        ("message", "msg_abc"),
        ("function_call", "fc_call_1"),
        ("function_call", "fc_call_abc_1"),
    ]
    assert out["output"][0]["content"] == [{"type": "reasoning_text", "text": "hmm"}]
    assert out["output"][3]["arguments"] == '{"x":1}'


def test_reasoning_under_its_groq_name() -> None:
    """``reasoning`` (Groq, OpenRouter, Ollama) is read like ``reasoning_content``."""
    out = respond(chat({"content": "4", "reasoning": "2+2"}))
    assert out["output"][0]["type"] == "reasoning"


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete(finish: str, reason: str) -> None:
    """A truncated or filtered answer is an incomplete response with incomplete items."""
    out = respond(chat({"content": "partial"}, finish))
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": reason}
    assert out["output"][0]["status"] == "incomplete"


def test_refusal_and_annotations() -> None:
    """A refusal becomes a refusal part; url_citation annotations are flattened."""
    note = {
        "type": "url_citation",
        "url_citation": {"url": "u", "title": "t", "start_index": 0, "end_index": 1},
    }
    out = respond(chat({"content": "x", "refusal": "no", "annotations": [note]}))
    content = out["output"][0]["content"]
    assert content[0]["annotations"] == [
        {"type": "url_citation", "url": "u", "title": "t", "start_index": 0, "end_index": 1}
    ]
    assert content[1] == {"type": "refusal", "refusal": "no"}
    only_refusal = respond(chat({"content": None, "refusal": "no"}))
    assert only_refusal["output"][0]["content"] == [{"type": "refusal", "refusal": "no"}]


def test_empty_answer_still_has_a_message() -> None:
    """No choices (or empty text) -> one message with empty text, never an empty output."""
    out = respond({"id": "x", "choices": []})
    assert out["output"][0]["content"][0]["text"] == ""
    assert out["model"] == "m"  # the request's when the provider names none
    assert out["usage"] is None


def test_request_parameters_are_echoed() -> None:
    """The answer echoes what the client asked for, with the API's defaults otherwise."""
    request = {
        "instructions": "be brief",
        "temperature": 0.3,
        "max_output_tokens": 99,
        "tool_choice": "none",
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_object"}, "verbosity": "low"},
        "metadata": {"k": "v"},
        "store": False,
        "parallel_tool_calls": False,
        "user": "u",
    }
    out = respond(chat({"content": "{}"}), **request)
    for key in (
        "instructions",
        "temperature",
        "max_output_tokens",
        "tool_choice",
        "metadata",
        "user",
    ):
        assert out[key] == request[key]
    assert out["reasoning"] == {"effort": "low", "summary": None}
    assert out["text"] == {"format": {"type": "json_object"}, "verbosity": "low"}
    assert out["store"] is False and out["parallel_tool_calls"] is False
    defaults = respond(chat({"content": "x"}))
    assert defaults["tool_choice"] == "auto" and defaults["tools"] == []
    assert defaults["text"] == {"format": {"type": "text"}} and defaults["metadata"] == {}
    assert defaults["store"] is True and defaults["parallel_tool_calls"] is True
    assert defaults["temperature"] is None and defaults["truncation"] == "disabled"
