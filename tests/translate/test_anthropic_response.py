"""Anthropic messages -> chat.completion, usage, Anthropic errors, and the mock's replies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gomodel.testing._anthropic import (
    ANTHROPIC_MODELS,
    MOCK_TOOL_ID,
    anthropic_error_reply,
    anthropic_reply,
)
from gomodel.testing._h11server import RecordedRequest
from gomodel.testing._reply import Reply
from gomodel.translate.anthropic_request import chat_to_messages
from gomodel.translate.anthropic_response import (
    anthropic_error,
    error_from_anthropic,
    finish_reason,
    messages_to_chat,
    openai_usage,
    usage_from_anthropic,
)
from gomodel.usage.extract import Usage
from tests.conftest import FIXTURES

CREATED = 1_700_000_000


def fixture(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((FIXTURES / "anthropic" / name).read_bytes())
    return doc


def usage_dict(prompt: int, completion: int, cached: int = 0, written: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
    }


def test_plain_fixture_whole_completion() -> None:
    """The recorded plain answer becomes exactly this chat.completion."""
    assert messages_to_chat(fixture("messages.json"), created=CREATED) == {
        "id": "msg_013LBDy1nvGiRgxiRAWseYRS",
        "object": "chat.completion",
        "created": CREATED,
        "model": "claude-sonnet-4-20250514",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello World", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_dict(14, 5),
    }


THINKING = fixture("messages_extended_thinking.json")
FIXTURE_CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("messages_multi_turn.json", {"content": "16"}, "stop", usage_dict(28, 5)),
    ("messages_with_params.json", {"content": "1, 2, "}, "stop", usage_dict(25, 8)),
    (
        "messages_multimodal.json",
        {"content": fixture("messages_multimodal.json")["content"][0]["text"]},
        "stop",
        usage_dict(159, 100),
    ),
    (
        "messages_extended_thinking.json",
        {
            "content": THINKING["content"][1]["text"],
            "reasoning_content": THINKING["content"][0]["thinking"],
        },
        "stop",
        usage_dict(53, 211),
    ),
    (
        "messages_with_tools.json",
        {
            "content": "I'll check the current weather in Paris for you.",
            "tool_calls": [
                {
                    "id": "toolu_01Dq95J3WcnLmvSvBpAuaXwi",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                }
            ],
        },
        "tool_calls",
        usage_dict(380, 65),
    ),
]


@pytest.mark.parametrize(
    ("name", "message", "finish", "usage"), FIXTURE_CASES, ids=[c[0] for c in FIXTURE_CASES]
)
def test_recorded_answers(
    name: str, message: dict[str, Any], finish: str, usage: dict[str, Any]
) -> None:
    """Each recorded Anthropic answer maps to the expected message, finish reason and usage."""
    doc = fixture(name)
    out = messages_to_chat(doc, created=CREATED)
    assert out["id"] == doc["id"] and out["model"] == doc["model"]
    choice = out["choices"][0]
    assert choice["message"] == {"role": "assistant", "refusal": None, **message}
    assert choice["finish_reason"] == finish
    assert out["usage"] == usage


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
        ("", "stop"),
        ("brand_new_reason", "brand_new_reason"),
    ],
)
def test_finish_reason(stop_reason: str | None, expected: str) -> None:
    """Anthropic stop reasons map to OpenAI finish reasons; unknown ones are not hidden."""
    assert finish_reason(stop_reason) == expected


def test_blocks_concatenate_like_a_stream() -> None:
    """Several text and thinking blocks are concatenated with nothing in between; redacted
    thinking and unknown blocks are skipped; an empty tool input is "{}"."""
    doc = {
        "id": "msg_1",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "a", "signature": "s"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "thinking", "thinking": "b", "signature": "s"},
            {"type": "text", "text": "The answer", "citations": []},
            {"type": "text", "text": " is 4."},
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
            {"type": "tool_use", "id": "toolu_1", "name": "noop", "input": {}},
            "junk",
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    message = messages_to_chat(doc, created=CREATED)["choices"][0]["message"]
    assert message["content"] == "The answer is 4."
    assert message["reasoning_content"] == "ab"
    assert message["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "noop", "arguments": "{}"}}
    ]


@pytest.mark.parametrize(
    ("blocks", "content"),
    [
        ([{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}], None),
        ([], ""),
        ([{"type": "thinking", "thinking": "hmm", "signature": "s"}], ""),
    ],
)
def test_content_without_text(blocks: list[dict[str, Any]], content: str | None) -> None:
    """No text: content is null beside tool calls (as OpenAI sends), "" otherwise."""
    doc = {"id": "msg_1", "model": "claude", "content": blocks, "stop_reason": "max_tokens"}
    out = messages_to_chat(doc, created=CREATED)
    assert out["choices"][0]["message"]["content"] == content
    assert out["usage"] == usage_dict(0, 0)  # no usage reported: zeros, never missing


@pytest.mark.parametrize("doc", [{}, {"id": "msg_1", "content": "hi"}, {"content": []}])
def test_not_a_message(doc: dict[str, Any]) -> None:
    """A body that is not an Anthropic message is an upstream error (502)."""
    with pytest.raises(UpstreamError) as info:
        messages_to_chat(doc, created=CREATED)
    assert info.value.status == 502


def test_usage_counts_cache_reads_and_writes() -> None:
    """prompt_tokens is the whole prompt: fresh input plus cache reads plus cache writes."""
    raw = {
        "input_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
        "output_tokens": 7,
        "service_tier": "standard",
    }
    usage = usage_from_anthropic(raw)
    assert usage == Usage(
        input_tokens=125,
        output_tokens=7,
        total_tokens=132,
        cached_tokens=100,
        cache_write_tokens=20,
    )
    assert usage is not None and usage.raw == raw
    assert openai_usage(usage) == usage_dict(125, 7, cached=100, written=20)
    doc = {"id": "m", "model": "c", "content": [], "usage": raw}
    assert messages_to_chat(doc, created=0)["usage"] == usage_dict(125, 7, cached=100, written=20)


@pytest.mark.parametrize(
    "raw",
    [None, "12", [], {}, {"input_tokens": 0, "output_tokens": 0}, {"input_tokens": True}],
)
def test_usage_that_counts_nothing(raw: object) -> None:
    """A usage object with no counts (or none at all) gives no Usage."""
    assert usage_from_anthropic(raw) is None


ERRORS: list[tuple[str, type[GatewayError], int]] = [
    ("invalid_request_error", InvalidRequest, 400),
    ("authentication_error", AuthenticationFailed, 401),
    ("permission_error", AuthenticationFailed, 403),
    ("billing_error", UpstreamError, 402),
    ("not_found_error", NotFound, 404),
    ("request_too_large", InvalidRequest, 413),
    ("rate_limit_error", RateLimited, 429),
    ("api_error", UpstreamError, 502),
    ("overloaded_error", UpstreamUnavailable, 503),
    ("timeout_error", UpstreamTimeout, 504),
    ("some_future_error", UpstreamError, 502),
]


@pytest.mark.parametrize(("error_type", "cls", "status"), ERRORS)
def test_anthropic_error_types(error_type: str, cls: type[GatewayError], status: int) -> None:
    """Each Anthropic error type becomes the right gateway error, status and code."""
    err = anthropic_error("claude", {"type": error_type, "message": "Boom"}, retry_after="3")
    assert type(err) is cls
    assert (err.status, err.code, err.message) == (status, error_type, "claude: Boom")
    assert err.headers == {"retry-after": "3"}


def test_anthropic_error_without_details() -> None:
    """An error event with nothing in it is still an error, never ignored."""
    err = anthropic_error("claude", None)
    assert type(err) is UpstreamError and err.message == "claude reported api_error"
    assert err.headers == {}


@pytest.mark.parametrize(
    ("status", "body", "cls", "expected_status", "message"),
    [
        (
            529,
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            UpstreamUnavailable,
            503,
            "anthropic: Overloaded",
        ),
        (
            400,
            b'{"type":"error","error":{"type":"invalid_request_error",'
            b'"message":"max_tokens: Field required"}}',
            InvalidRequest,
            400,
            "anthropic: max_tokens: Field required",
        ),
        (529, b"<html>busy</html>", UpstreamError, 503, "anthropic returned HTTP 529"),
        (401, b'{"error":{"message":"bad key"}}', AuthenticationFailed, 401, "anthropic: bad key"),
    ],
)
def test_error_from_anthropic(
    status: int, body: bytes, cls: type[GatewayError], expected_status: int, message: str
) -> None:
    """HTTP error bodies: Anthropic's envelope by type, anything else by status (529 -> 503)."""
    err = error_from_anthropic("anthropic", status, body, retry_after="7")
    assert isinstance(err, cls)
    assert (err.status, err.message) == (expected_status, message)
    assert err.headers == {"retry-after": "7"}


# -- the mock upstream's Anthropic dialect ----------------------------------------------------


def request(method: str, path: str, payload: object = None) -> RecordedRequest:
    body = b"" if payload is None else orjson.dumps(payload)
    return RecordedRequest(
        method=method,
        path=path,
        query="",
        headers=(("x-api-key", "k"),),
        body=body,
        json=payload,
        received_at=0.0,
        connection_id=0,
    )


def body_of(reply: Reply) -> Any:
    return orjson.loads(b"".join(step for step in reply.body if isinstance(step, bytes)))


CHAT = {"model": "claude", "messages": [{"role": "user", "content": "hello there"}]}
WEATHER = {"type": "function", "function": {"name": "get_weather"}}


def test_mock_plain_answer_round_trip() -> None:
    """An OpenAI request, translated, answered by the mock and translated back."""
    upstream = chat_to_messages(CHAT, model="claude-sonnet-4-20250514")
    reply = anthropic_reply(request("POST", "/v1/messages", upstream), message_id="msg_7")
    assert reply.status == 200
    out = messages_to_chat(body_of(reply), created=CREATED)
    assert out["id"] == "msg_7" and out["model"] == "claude-sonnet-4-20250514"
    assert out["choices"][0]["message"]["content"] == "Mock response to: hello there"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == usage_dict(10, 20)


@pytest.mark.parametrize(
    ("tool_choice", "name"),
    [
        ("required", "get_weather"),
        ({"type": "function", "function": {"name": "get_time"}}, "get_time"),
    ],
)
def test_mock_forced_tool_call(tool_choice: object, name: str) -> None:
    """A forced tool choice gets the mock's tool call, finish_reason tool_calls."""
    tools = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]
    upstream = chat_to_messages({**CHAT, "tools": tools, "tool_choice": tool_choice}, model="c")
    out = messages_to_chat(
        body_of(anthropic_reply(request("POST", "/messages", upstream))), created=0
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": MOCK_TOOL_ID,
            "type": "function",
            "function": {"name": name, "arguments": '{"city":"Warsaw"}'},
        }
    ]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({**CHAT, "max_tokens": 5, "n": 1}, "n: Extra inputs are not permitted"),
        (CHAT, "max_tokens: Field required"),
        (
            {"messages": [], "max_tokens": 5, "model": "c"},
            "messages: at least one message is required",
        ),
        ({"messages": [{}], "max_tokens": 5}, "model: Field required"),
        ([1], "The request body is not valid JSON."),
    ],
)
def test_mock_refuses_what_anthropic_refuses(payload: object, message: str) -> None:
    """The mock answers bad bodies with Anthropic's 400 envelope, as the real API does."""
    reply = anthropic_reply(request("POST", "/messages", payload))
    assert reply.status == 400
    assert body_of(reply) == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": message},
    }
    err = error_from_anthropic("anthropic", reply.status, orjson.dumps(body_of(reply)))
    assert isinstance(err, InvalidRequest) and err.message == f"anthropic: {message}"


def test_mock_models_and_unknown_paths() -> None:
    """GET /models lists models in Anthropic's shape; other paths are a 404 envelope."""
    reply = anthropic_reply(request("GET", "/v1/models"), models=["claude-a", "claude-b"])
    assert body_of(reply) == {
        "data": [
            {
                "type": "model",
                "id": model,
                "display_name": display,
                "created_at": "2025-05-14T00:00:00Z",
            }
            for model, display in [("claude-a", "Claude A"), ("claude-b", "Claude B")]
        ],
        "has_more": False,
        "first_id": "claude-a",
        "last_id": "claude-b",
    }
    default = body_of(anthropic_reply(request("GET", "/models")))
    assert [m["id"] for m in default["data"]] == list(ANTHROPIC_MODELS)
    missing = anthropic_reply(request("POST", "/v1/chat/completions", CHAT))
    assert missing.status == 404 and body_of(missing)["error"]["type"] == "not_found_error"


def test_mock_error_reply_types() -> None:
    """anthropic_error_reply picks Anthropic's error type from the status, and keeps headers."""
    reply = anthropic_error_reply(529, "Overloaded", headers=[("retry-after", "2")])
    assert reply.status == 529 and ("retry-after", "2") in reply.headers
    assert body_of(reply)["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    err = error_from_anthropic("anthropic", 529, orjson.dumps(body_of(reply)), retry_after="2")
    assert isinstance(err, UpstreamUnavailable) and err.headers == {"retry-after": "2"}


_leaf = st.none() | st.booleans() | st.integers(-5, 500) | st.sampled_from(["", "a"])
_leaf |= st.sampled_from(["text", "thinking", "tool_use", "end_turn", "msg_1", "input_tokens"])
_keys = st.sampled_from(["id", "model", "content", "type", "text", "thinking", "input", "name"])
_keys |= st.sampled_from(["stop_reason", "usage", "input_tokens", "output_tokens"])
_json = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=5),
    max_leaves=15,
)


@given(st.dictionaries(_keys, _json, max_size=6))
def test_any_body_translates_or_is_a_502(doc: dict[str, Any]) -> None:
    """Whatever Anthropic sends, the answer is an encodable completion or an UpstreamError."""
    try:
        out: dict[str, Any] | UpstreamError = messages_to_chat(doc, created=0)
    except UpstreamError as exc:
        out = exc
    if isinstance(out, UpstreamError):
        assert out.status == 502
    else:
        assert orjson.loads(orjson.dumps(out))["object"] == "chat.completion"
