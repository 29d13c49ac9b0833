"""Anthropic SSE streams -> OpenAI chat chunks: recorded and mock streams, tools, errors, usage."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.errors import GatewayError, RateLimited, UpstreamError, UpstreamUnavailable
from gomodel.testing._anthropic import anthropic_reply
from gomodel.testing._h11server import RecordedRequest
from gomodel.testing._reply import Sleep
from gomodel.translate.anthropic_request import chat_to_messages
from gomodel.translate.anthropic_response import messages_to_chat, usage_from_anthropic
from gomodel.translate.anthropic_stream import AnthropicChatStream
from gomodel.wire.sse import SSEDecoder
from tests.conftest import load_stream

CREATED = 1_700_000_000
RECORDED_ID = "msg_01SJmPi7XXP8qscFQiHPR9oy"
RECORDED_MODEL = "claude-sonnet-4-20250514"


def translate(
    raw: bytes, *, include_usage: bool = False, step: int = 0
) -> tuple[AnthropicChatStream, bytes]:
    """Feed ``raw`` through SSEDecoder (whole, or ``step`` bytes at a time) into a translator;
    return it and what the client got."""
    stream = AnthropicChatStream("routed-model", include_usage=include_usage, created=CREATED)
    decoder = SSEDecoder()
    pieces = [raw] if not step else [raw[i : i + step] for i in range(0, len(raw), step)]
    out = bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            chunk = stream.feed(event)
            if chunk is not None:
                out += chunk
    assert decoder.finish() == b""
    stream.finish()
    return stream, bytes(out)


def payloads(out: bytes) -> list[Any]:
    """The client's events: parsed JSON objects, and "[DONE]" for the end marker."""
    events = SSEDecoder().feed(out)
    assert b"".join(e.raw for e in events) == out  # nothing but whole data events
    return ["[DONE]" if e.is_done else orjson.loads(e.data or b"") for e in events]


def deltas(out: bytes) -> list[tuple[dict[str, Any], str | None]]:
    """(delta, finish_reason) of each chunk that has a choice."""
    return [
        (p["choices"][0]["delta"], p["choices"][0]["finish_reason"])
        for p in payloads(out)
        if p != "[DONE]" and p["choices"]
    ]


def sse(*events: dict[str, Any]) -> bytes:
    """An Anthropic stream body: ``event:`` and ``data:`` lines, as the real API sends."""
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events
    )


def start(usage: dict[str, Any] | None = None, model: str = "claude-x") -> dict[str, Any]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": model}
    return {"type": "message_start", "message": {**message, "content": [], "usage": usage or {}}}


def block(index: int, content_block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": content_block}


def delta(index: int, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": fields}


def stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "message_delta", "delta": {"stop_reason": stop_reason}}
    return {**event, "usage": usage} if usage is not None else event


END = {"type": "message_stop"}
PING = {"type": "ping"}


def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": RECORDED_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": RECORDED_MODEL,
        "choices": choices,
        **extra,
    }


def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}


@pytest.mark.parametrize("include_usage", [False, True])
def test_recorded_stream(include_usage: bool) -> None:
    """The recorded stream gives exactly these chunks, fed whole, byte by byte or in 7s."""
    raw = load_stream("anthropic/messages_stream.txt")
    outs = [translate(raw, include_usage=include_usage, step=s)[1] for s in (0, 1, 7)]
    assert outs[0] == outs[1] == outs[2]
    expected: list[Any] = [
        chunk([choice({"role": "assistant", "content": ""})]),
        chunk([choice({"content": "Hello World"})]),
        chunk([choice({}, "stop")]),
    ]
    if include_usage:
        usage = {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        }
        expected.append(chunk([], usage=usage))
    assert payloads(outs[0]) == [*expected, "[DONE]"]


def test_recorded_stream_state() -> None:
    """After the recording: done, the message id and model, and the final usage."""
    stream, _ = translate(load_stream("anthropic/messages_stream.txt"))
    assert stream.done and stream.error is None
    assert (stream.provider_id, stream.model) == (RECORDED_ID, RECORDED_MODEL)
    assert stream.usage is not None
    assert (stream.usage.input_tokens, stream.usage.output_tokens) == (10, 5)


def test_recorded_stream_usage_equals_the_unary_answer() -> None:
    """The same answer, not streamed, has the same usage (and the same OpenAI usage object)."""
    stream, out = translate(load_stream("anthropic/messages_stream.txt"), include_usage=True)
    unary = {
        "id": RECORDED_ID,
        "type": "message",
        "model": RECORDED_MODEL,
        "content": [{"type": "text", "text": "Hello World"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 5,
        },
    }
    assert stream.usage == usage_from_anthropic(unary["usage"])
    usage_chunk = payloads(out)[-2]
    assert usage_chunk["usage"] == messages_to_chat(unary, created=CREATED)["usage"]


def test_cached_usage_split_over_start_and_delta_equals_unary() -> None:
    """Cache counts in message_start and cumulative output in message_delta add up to the
    usage of the unary answer."""
    final = {
        "input_tokens": 3,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 200,
        "output_tokens": 42,
    }
    raw = sse(
        start({**final, "output_tokens": 1}),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="ok"),
        stop(0),
        message_delta("end_turn", {"output_tokens": 42}),
        END,
    )
    stream, out = translate(raw, include_usage=True)
    assert stream.usage == usage_from_anthropic(final)
    assert stream.usage is not None and stream.usage.cache_write_tokens == 200
    usage_chunk = payloads(out)[-2]
    unary = {"id": "msg_1", "model": "claude-x", "content": [], "usage": final}
    assert usage_chunk["usage"] == messages_to_chat(unary, created=0)["usage"]
    assert usage_chunk["usage"]["prompt_tokens"] == 1203


def test_two_tools_stream_with_running_index() -> None:
    """Tool calls get indexes 0, 1 in order; arguments stream; an argument-less tool gets "{}"."""
    raw = sse(
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Let me check."),
        stop(0),
        block(1, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
        PING,
        delta(1, type="input_json_delta", partial_json=""),
        delta(1, type="input_json_delta", partial_json='{"location": '),
        delta(1, type="input_json_delta", partial_json='"Paris"}'),
        stop(1),
        block(2, {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}),
        delta(2, type="input_json_delta", partial_json=""),
        stop(2),
        message_delta("tool_use", {"output_tokens": 9}),
        END,
    )
    _, out = translate(raw)
    header = {"type": "function"}
    assert deltas(out) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Let me check."}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_a",
                        **header,
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_b",
                        **header,
                        "function": {"name": "get_time", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]


def test_thinking_stream() -> None:
    """Thinking deltas become reasoning_content; signatures and redacted thinking say nothing."""
    raw = sse(
        start(),
        block(0, {"type": "thinking", "thinking": ""}),
        delta(0, type="thinking_delta", thinking="x + 5 = 12"),
        delta(0, type="thinking_delta", thinking=""),
        delta(0, type="signature_delta", signature="EoQD"),
        stop(0),
        block(1, {"type": "redacted_thinking", "data": "abc"}),
        stop(1),
        block(2, {"type": "text", "text": ""}),
        delta(2, type="text_delta", text="x = 7"),
        delta(2, type="citations_delta", citation={}),
        stop(2),
        message_delta("max_tokens"),
        END,
    )
    assert deltas(translate(raw)[1]) == [
        ({"role": "assistant", "content": ""}, None),
        ({"reasoning_content": "x + 5 = 12"}, None),
        ({"content": "x = 7"}, None),
        ({}, "length"),
    ]


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, UpstreamUnavailable, 503),
        ({"type": "rate_limit_error", "message": "Slow down"}, RateLimited, 429),
        ({"type": "api_error", "message": "Internal"}, UpstreamError, 502),
    ],
)
def test_mid_stream_error_event(
    error: dict[str, str], cls: type[GatewayError], status: int
) -> None:
    """An error event mid-stream sets ``error`` (never ignored) and ends the translation."""
    raw = sse(
        start(),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Hel"),
        {"type": "error", "error": error},
        delta(0, type="text_delta", text="lo"),
        message_delta("end_turn"),
        END,
    )
    stream, out = translate(raw)
    assert deltas(out) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Hel"}, None),
    ]
    assert not stream.done
    assert type(stream.error) is cls
    assert (stream.error.status, stream.error.code) == (status, error["type"])
    assert stream.error.message == f"anthropic: {error['message']}"


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]", b'"text"'])
def test_malformed_event_is_an_error(data: bytes) -> None:
    """A data line that is not a JSON object stops the translation with a 502."""
    stream, out = translate(sse(start()) + b"data: " + data + b"\n\n" + sse(END))
    assert not stream.done
    assert type(stream.error) is UpstreamError and stream.error.code == "malformed_stream"
    assert deltas(out) == [({"role": "assistant", "content": ""}, None)]  # nothing after it


def test_noise_is_ignored() -> None:
    """Pings, comments, events without data, unknown types and events after the end say nothing."""
    raw = (
        b": keep-alive\n\n"
        + b"event: ping\n\n"
        + sse(start(), PING, {"type": "brand_new_event"}, message_delta(None), END)
        + sse(delta(0, type="text_delta", text="late"), END)
    )
    stream, out = translate(raw)
    assert stream.done
    assert payloads(out)[1:] == [
        {**chunk([choice({}, "stop")]), "id": "msg_1", "model": "claude-x"},
        "[DONE]",
    ]


def test_truncated_stream_is_not_done() -> None:
    """Without message_stop the stream is not done and sends no final chunk; usage so far is
    still known."""
    raw = sse(
        start({"input_tokens": 10, "output_tokens": 1}),
        block(0, {"type": "text", "text": ""}),
        delta(0, type="text_delta", text="Hi"),
        message_delta("end_turn", {"output_tokens": 2}),
    )
    stream, out = translate(raw, include_usage=True)
    assert not stream.done and stream.error is None
    assert stream.finish() is None
    assert [d for d, _ in deltas(out)] == [
        {"role": "assistant", "content": ""},
        {"content": "Hi"},
    ]
    assert stream.usage is not None and stream.usage.total_tokens == 12


def test_model_defaults_to_routed_model() -> None:
    """A message_start without a model leaves the routed model on the chunks."""
    stream, out = translate(sse({"type": "message_start", "message": {"id": "msg_9"}}, END))
    assert stream.model == "routed-model" and stream.provider_id == "msg_9"
    assert {p["model"] for p in payloads(out) if p != "[DONE]"} == {"routed-model"}


# -- the mock upstream's streams, against its own unary answers -------------------------------


def mock_answer(openai: dict[str, Any], *, stream: bool) -> bytes:
    body = chat_to_messages({**openai, "stream": stream}, model="claude-sonnet-4-20250514")
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
    reply = anthropic_reply(recorded, stream_gap=0.5, message_id="msg_mock_1")
    assert reply.status == 200
    if stream:
        assert ("content-type", "text/event-stream") in reply.headers
        assert any(isinstance(step, Sleep) and step.seconds == 0.5 for step in reply.body)
    return b"".join(step for step in reply.body if isinstance(step, bytes))


def accumulate(out: bytes) -> tuple[dict[str, Any], str | None]:
    """The message a client SDK assembles from the chunks, and the finish reason."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for d, reason in deltas(out):
        finish = reason or finish
        if d.get("content"):
            message["content"] = (message["content"] or "") + d["content"]
        for call in d.get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"function": {"arguments": ""}})
            entry.update({k: call[k] for k in ("id", "type") if k in call})
            entry["function"]["name"] = call["function"].get("name", entry["function"].get("name"))
            entry["function"]["arguments"] += call["function"]["arguments"]
    if calls:
        message["tool_calls"] = [
            {
                **c,
                "function": {
                    **c["function"],
                    "arguments": orjson.loads(c["function"]["arguments"]),
                },
            }
            for _, c in sorted(calls.items())
        ]
    return message, finish


OPENAI_REQUESTS = [
    {"model": "claude", "messages": [{"role": "user", "content": "Tell me a long story"}]},
    {
        "model": "claude",
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        "tool_choice": "required",
    },
]


@pytest.mark.parametrize("openai", OPENAI_REQUESTS, ids=["text", "tool"])
def test_mock_stream_equals_its_unary_answer(openai: dict[str, Any]) -> None:
    """Streamed or not, the mock's answer translates to the same message, finish reason and
    usage; byte-by-byte feeding changes nothing."""
    unary = messages_to_chat(orjson.loads(mock_answer(openai, stream=False)), created=CREATED)
    raw = mock_answer(openai, stream=True)
    assert b"event: ping\n" in raw
    stream, out = translate(raw, include_usage=True)
    assert out == translate(raw, include_usage=True, step=1)[1]
    message, finish = accumulate(out)
    expected = dict(unary["choices"][0]["message"])
    if "tool_calls" in expected:
        expected["tool_calls"] = [
            {
                **c,
                "function": {
                    **c["function"],
                    "arguments": orjson.loads(c["function"]["arguments"]),
                },
            }
            for c in expected["tool_calls"]
        ]
    assert message == expected
    assert finish == unary["choices"][0]["finish_reason"]
    assert stream.usage == usage_from_anthropic(
        orjson.loads(mock_answer(openai, stream=False))["usage"]
    )
    assert payloads(out)[-2]["usage"] == unary["usage"]
    assert stream.provider_id == unary["id"] == "msg_mock_1"


_names = ["message_start", "content_block_start", "content_block_delta", "content_block_stop"]
_names += ["message_delta", "message_stop", "ping", "error", "text_delta", "input_json_delta"]
_names += ["thinking_delta", "tool_use", "text", "thinking", "overloaded_error"]
_types = st.sampled_from(_names)
_keys = st.sampled_from(["type", "message", "index", "content_block", "delta", "usage", "id"])
_keys |= st.sampled_from(["text", "thinking", "partial_json", "stop_reason", "error", "input"])
_keys |= st.sampled_from(["input_tokens", "output_tokens", "model", "name", "message"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(["", "a"]) | _types,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=8,
)


@given(st.lists(st.dictionaries(_keys, _json, max_size=5), max_size=10), st.booleans())
def test_any_events_give_whole_chunks_or_an_error(events: list[Any], include_usage: bool) -> None:
    """Whatever Anthropic streams, the client gets whole JSON data events, and nothing after
    an error or the end."""
    raw = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    stream, out = translate(raw, include_usage=include_usage)
    parsed = payloads(out)
    assert parsed.count("[DONE]") == (1 if stream.done else 0)
    assert stream.error is None or not stream.done
