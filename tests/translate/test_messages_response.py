"""OpenAI chat completions -> Anthropic Messages responses: blocks, stop reasons, usage, ids."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from gomodel.errors import UpstreamError
from gomodel.translate.anthropic_response import messages_to_chat
from gomodel.translate.messages_response import (
    STOP_REASONS,
    anthropic_usage,
    chat_to_messages,
    chat_usage,
    message_id,
)
from gomodel.usage.extract import Usage
from tests.conftest import FIXTURES
from tests.translate.anthropic_sdk import sdk_message

MODEL = "claude-sonnet-4"
ZERO = {
    "input_tokens": 0,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 0,
}


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return doc


def completion(
    message: dict[str, Any], finish: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [choice], **extra}


def answer(content: list[dict[str, Any]], stop_reason: str = "end_turn", **extra: Any) -> Any:
    return {
        "id": "msg_chatcmpl-1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": ZERO,
        **extra,
    }


def call(call_id: str | None, name: str, arguments: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    return out if call_id is None else {"id": call_id, **out}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("text", completion({"content": "Hi"}), answer([text("Hi")])),
    ("empty", completion({"content": ""}), answer([])),
    (
        "reasoning_first",
        completion({"content": "4", "reasoning_content": "2+2"}),
        answer([{"type": "thinking", "thinking": "2+2", "signature": ""}, text("4")]),
    ),
    (
        "reasoning_field",
        completion({"content": None, "reasoning": "hmm"}),
        answer([{"type": "thinking", "thinking": "hmm", "signature": ""}]),
    ),
    (
        "text_and_parallel_tools",
        completion(
            {
                "content": "Checking.",
                "tool_calls": [
                    call("call_1", "get_weather", '{"location": "Paris"}'),
                    call("call_2", "get_time", ""),
                ],
            },
            "tool_calls",
        ),
        answer(
            [
                text("Checking."),
                tool_use("call_1", "get_weather", {"location": "Paris"}),
                tool_use("call_2", "get_time", {}),
            ],
            "tool_use",
        ),
    ),
    (
        "tool_without_id_and_object_arguments",
        completion({"tool_calls": [call(None, "f", {"a": 1})]}, "tool_calls"),
        answer([tool_use("toolu_chatcmpl-1_0", "f", {"a": 1})], "tool_use"),
    ),
    (
        "cut_off_call_left_out",
        completion(
            {"content": "x", "tool_calls": [call("c", "f", '{"a": 1}'), call("d", "f", '{"a')]},
            "length",
        ),
        answer([text("x"), tool_use("c", "f", {"a": 1})], "max_tokens"),
    ),
    (
        "refusal",
        completion({"content": None, "refusal": "I can't help with that."}, "content_filter"),
        answer([text("I can't help with that.")], "refusal"),
    ),
    (
        "vllm_stop_string",
        {
            **completion({"content": "1, 2, "}),
            "choices": [
                {
                    "index": 0,
                    "message": {"content": "1, 2, "},
                    "finish_reason": "stop",
                    "stop_reason": "3",
                }
            ],
        },
        answer([text("1, 2, ")], "stop_sequence", stop_sequence="3"),
    ),
    (
        "msg_id_kept_and_usage",
        completion(
            {"content": "Hi"},
            id="msg_abc",
            usage={
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "total_tokens": 105,
                "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30},
            },
        ),
        answer(
            [text("Hi")],
            id="msg_abc",
            usage={
                "input_tokens": 10,
                "cache_creation_input_tokens": 30,
                "cache_read_input_tokens": 60,
                "output_tokens": 5,
            },
        ),
    ),
]


@pytest.mark.parametrize(("chat", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_translation(chat: dict[str, Any], expected: dict[str, Any]) -> None:
    assert chat_to_messages(chat, model=MODEL) == expected


@pytest.mark.parametrize(
    ("finish", "reason"),
    [*STOP_REASONS.items(), (None, "end_turn"), ("eos", "end_turn"), (3, "end_turn")],
)
def test_stop_reasons(finish: Any, reason: str) -> None:
    assert (
        chat_to_messages(completion({"content": "x"}, finish), model=MODEL)["stop_reason"] == reason
    )


USAGE = [
    ("none", None, ZERO),
    ("plain", {"prompt_tokens": 17, "completion_tokens": 4, "total_tokens": 21}, (17, 0, 0, 4)),
    (
        "cached",
        {
            "prompt_tokens": 10,
            "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 3},
        },
        (7, 0, 3, 2),
    ),
    (
        "top_level_cache_write",
        {"prompt_tokens": 10, "completion_tokens": 2, "cache_creation_input_tokens": 4},
        (6, 4, 0, 2),
    ),
    (
        "xai_reasoning_outside_completion",
        {"prompt_tokens": 10, "completion_tokens": 35, "total_tokens": 420},
        (10, 0, 0, 410),
    ),
]


@pytest.mark.parametrize(("usage", "expected"), [u[1:] for u in USAGE], ids=[u[0] for u in USAGE])
def test_usage(usage: Any, expected: Any) -> None:
    if isinstance(expected, tuple):
        keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        expected = dict(zip((*keys, "output_tokens"), expected, strict=True))
    chat = completion({"content": "x"}, usage=usage)
    assert chat_to_messages(chat, model=MODEL)["usage"] == expected


def test_usage_row_counts_keep_the_openai_shape() -> None:
    """The usage row gets the gateway's Usage, cache writes read from OpenRouter's field."""
    usage = {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}
    usage["prompt_tokens_details"] = {"cached_tokens": 60, "cache_write_tokens": 30}  # type: ignore[assignment]
    counted = chat_usage(usage)
    assert counted == Usage(100, 5, 105, cached_tokens=60, cache_write_tokens=30)
    assert anthropic_usage(None) == ZERO


def test_ids() -> None:
    assert message_id("chatcmpl-9") == "msg_chatcmpl-9"
    assert message_id("msg_9") == "msg_9"
    made = {message_id(None), message_id("")}
    assert len(made) == 2 and all(re.fullmatch(r"msg_[0-9a-f]{24}", m) for m in made)
    assert chat_to_messages({"choices": [{"message": {"content": "x"}}]}, model=MODEL)["id"]


@pytest.mark.parametrize("arguments", ['{"a": ', "[1, 2]", "null", 5])
def test_broken_tool_arguments_are_an_upstream_error(arguments: Any) -> None:
    chat = completion({"tool_calls": [call("c", "f", arguments)]}, "tool_calls")
    with pytest.raises(UpstreamError) as caught:
        chat_to_messages(chat, model=MODEL)
    assert caught.value.status == 502


@pytest.mark.parametrize(
    "chat",
    [{}, {"choices": []}, {"choices": [{"message": "x"}]}, {"choices": "x"}],
    ids=["empty", "no_choice", "message_not_object", "choices_not_list"],
)
def test_not_a_chat_completion(chat: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError):
        chat_to_messages(chat, model=MODEL)


RECORDED = [
    "openai/chat_completion.json",
    "openai/chat_completion_reasoning.json",
    "openai/chat_with_tools.json",
    "openai/chat_json_mode.json",
    "groq/chat_completion.json",
    "groq/chat_with_tools.json",
    "gemini/chat_completion.json",
    "gemini/chat_with_tools.json",
    "xai/chat_completion.json",
    "xai/chat_with_params.json",
]


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_answers_parse_in_the_anthropic_sdk(name: str) -> None:
    """Every recorded chat answer becomes a Message the official SDK parses, with the text,
    the reasoning, the tool calls and the counts of the original."""
    chat = fixture(name)
    out = chat_to_messages(chat, model=MODEL)
    message = sdk_message(orjson.dumps(out))
    original = chat["choices"][0]["message"]
    kinds = [block.type for block in message.content]
    assert kinds == sorted(kinds, key=["thinking", "text", "tool_use"].index)
    texts = "".join(b.text for b in message.content if b.type == "text")
    assert texts == (original.get("content") or "")
    thinking = [b.thinking for b in message.content if b.type == "thinking"]
    assert thinking == ([original["reasoning_content"]] if "reasoning_content" in original else [])
    uses = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    calls = original.get("tool_calls", [])
    assert uses == [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in calls
    ]
    assert message.stop_reason == ("tool_use" if calls else "end_turn")
    usage = chat["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    assert (
        message.usage.input_tokens + (message.usage.cache_read_input_tokens or 0)
        == usage["prompt_tokens"]
    )
    assert message.usage.cache_read_input_tokens == cached
    assert message.usage.output_tokens == usage["total_tokens"] - usage["prompt_tokens"]


ANTHROPIC = [
    "anthropic/messages.json",
    "anthropic/messages_extended_thinking.json",
    "anthropic/messages_multi_turn.json",
    "anthropic/messages_multimodal.json",
    "anthropic/messages_with_params.json",
    "anthropic/messages_with_tools.json",
]


@pytest.mark.parametrize("name", ANTHROPIC)
def test_anthropic_answers_round_trip_through_chat(name: str) -> None:
    """Anthropic message -> chat.completion (the other translation) -> message: the same
    blocks and counts; lost on the way are the thinking signature and which stop sequence
    matched (chat has no field for either)."""
    original = fixture(name)
    back = chat_to_messages(messages_to_chat(original, created=0), model=original["model"])
    expected_blocks = [
        {**block, "signature": ""} if block["type"] == "thinking" else block
        for block in original["content"]
    ]
    assert back["id"] == original["id"]
    assert back["content"] == expected_blocks
    reason = original["stop_reason"]
    assert back["stop_reason"] == ("end_turn" if reason == "stop_sequence" else reason)
    usage = original["usage"]
    assert back["usage"] == {
        "input_tokens": usage["input_tokens"],
        "cache_creation_input_tokens": usage.get("cache_creation_input_tokens", 0),
        "cache_read_input_tokens": usage.get("cache_read_input_tokens", 0),
        "output_tokens": usage["output_tokens"],
    }


@pytest.mark.parametrize("name", [n for n in RECORDED if not n.startswith("xai")])
def test_chat_answers_round_trip_through_anthropic(name: str) -> None:
    """chat.completion -> message -> chat.completion (the other translation): the same text,
    tool calls, finish reason and prompt/completion counts."""
    chat = fixture(name)
    back = messages_to_chat(chat_to_messages(chat, model=MODEL), created=0)
    original, again = chat["choices"][0], back["choices"][0]
    assert again["finish_reason"] == original["finish_reason"]
    assert (again["message"]["content"] or "") == (original["message"].get("content") or "")
    calls = [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in original["message"].get("tool_calls", [])
    ]
    assert [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in again["message"].get("tool_calls", [])
    ] == calls
    for key in ("prompt_tokens", "completion_tokens"):
        assert back["usage"][key] == chat["usage"][key]
