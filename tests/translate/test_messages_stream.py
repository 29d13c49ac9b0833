"""OpenAI chat streams -> Anthropic Messages streams: recorded streams, tools, usage, ends, errors,
and the official SDK as the client."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gomodel.errors import GatewayError, InvalidRequest, RateLimited, UpstreamError
from gomodel.translate.anthropic_stream import AnthropicChatStream
from gomodel.translate.messages_errors import (
    ERROR_TYPES,
    anthropic_envelope,
    anthropic_error_event,
    anthropic_error_type,
)
from gomodel.translate.messages_response import chat_to_messages
from gomodel.translate.messages_stream import ChatToMessagesStream
from gomodel.translate.stage import DONE_CHUNK, ChunkSink
from gomodel.usage.extract import Usage
from gomodel.wire.sse import DONE, SSEDecoder, encode_data
from tests.conftest import load_stream
from tests.translate.anthropic_sdk import sdk_message, sdk_stream

MODEL = "claude-sonnet-4"


def translate(raw: bytes, *, step: int = 0, **options: Any) -> tuple[ChatToMessagesStream, bytes]:
    """Feed the upstream body ``raw`` (whole, or ``step`` bytes at a time) through the SSE
    decoder into a translator, then end it; return it and what the client got."""
    stream = ChatToMessagesStream(model=MODEL, **options)
    decoder = SSEDecoder()
    pieces = [raw] if not step else [raw[i : i + step] for i in range(0, len(raw), step)]
    out = bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            out += stream.feed(event) or b""
    assert decoder.finish() == b""
    out += stream.finish() or b""
    return stream, bytes(out)


def upstream(*chunks: dict[str, Any], done: bool = True) -> bytes:
    """A chat stream body: one ``data:`` event per chunk, then ``[DONE]``."""
    return b"".join(encode_data(orjson.dumps(c)) for c in chunks) + (DONE if done else b"")


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> Any:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return {"id": "chatcmpl-1", "model": "gpt-x", "choices": [choice], **extra}


def usage_chunk(prompt: int = 10, completion: int = 5, cached: int = 0) -> dict[str, Any]:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    return {"id": "chatcmpl-1", "model": "gpt-x", "choices": [], "usage": usage}


def call(index: int, call_id: str | None = None, name: str | None = None, args: str = "") -> Any:
    fn: dict[str, Any] = {"arguments": args}
    if name is not None:
        fn["name"] = name
    out: dict[str, Any] = {"index": index, "function": fn}
    if call_id is not None:
        out.update(id=call_id, type="function")
    return {"tool_calls": [out]}


def frames(out: bytes) -> list[dict[str, Any]]:
    """The client's events, checked to be framed as Anthropic frames them."""
    events = SSEDecoder().feed(out)
    assert b"".join(e.raw for e in events) == out
    payloads = []
    for event in events:
        assert event.data is not None and event.raw.startswith(b"event: ")
        payload = orjson.loads(event.data)
        assert payload["type"] == event.event
        payloads.append(payload)
    return payloads


def check(out: bytes) -> dict[str, Any]:
    """Check the invariants of a Messages stream; return what it said, accumulated."""
    events = frames(out)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds.count("message_start") == 1
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("message_delta") == kinds.count("message_stop") == 1
    start = events[0]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for event in events[1:-2]:
        if event["type"] == "content_block_start":
            assert open_index is None and event["index"] == len(blocks)  # consecutive, one open
            open_index = event["index"]
            blocks.append({**event["content_block"], "_args": ""})
        elif event["type"] == "content_block_delta":
            assert event["index"] == open_index
            block, delta = blocks[event["index"]], event["delta"]
            expected = {"text": "text_delta", "thinking": "thinking_delta"}
            assert delta["type"] == expected.get(block["type"], "input_json_delta")
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            elif delta["type"] == "thinking_delta":
                block["thinking"] += delta["thinking"]
            else:
                block["_args"] += delta["partial_json"]
        else:
            assert event == {"type": "content_block_stop", "index": open_index}
            open_index = None
    assert open_index is None  # every block stopped
    tools = [(b["id"], b["name"], b["_args"]) for b in blocks if b["type"] == "tool_use"]
    return {
        "id": start["id"],
        "kinds": [b["type"] for b in blocks],
        "text": "".join(b["text"] for b in blocks if b["type"] == "text"),
        "thinking": "".join(b["thinking"] for b in blocks if b["type"] == "thinking"),
        "tools": tools,
        "delta": events[-2],
        "start_usage": start["usage"],
    }


def test_is_a_chunk_sink() -> None:
    stage: ChunkSink = ChatToMessagesStream(model=MODEL)
    assert stage.finish() is None and not stage.result().done


# -- recorded streams -------------------------------------------------------------------------

RECORDED = {
    "openai": ("Hello, World!", "", None),
    "groq": ("Hello World!", "", Usage(38, 4, 42)),
    "xai": (None, None, None),  # a long reasoning stream; checked against its own chunks
    "gemini": ("Hello World", "", None),
}


@pytest.mark.parametrize("provider", sorted(RECORDED))
def test_recorded_chat_streams(provider: str) -> None:
    """Every recorded stream becomes a valid Messages stream with the same text and reasoning,
    the same bytes however the upstream was cut, and one the SDK accumulates."""
    raw = load_stream(f"{provider}/chat_completion_stream.txt")
    stream, out = translate(raw)
    assert translate(raw, step=7)[1] == out
    assert translate(raw, step=1)[1] == out
    said = check(out)
    chunks = [orjson.loads(e.data) for e in SSEDecoder().feed(raw) if e.data and not e.is_done]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert said["text"] == "".join(d.get("content") or "" for d in deltas)
    assert said["thinking"] == "".join(d.get("reasoning_content") or "" for d in deltas)
    text, _, usage = RECORDED[provider]
    if text is not None:
        assert said["text"] == text
    assert said["delta"]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    result = stream.result()
    assert result.done and result.usage == usage
    assert result.model == chunks[0]["model"] and result.provider_id == chunks[0]["id"]
    assert said["id"] == f"msg_{chunks[0]['id']}"
    _, message = sdk_stream(out)
    assert "".join(b.text for b in message.content if b.type == "text") == said["text"]
    assert [b.type for b in message.content] == said["kinds"]
    if usage is not None:
        assert (message.usage.input_tokens, message.usage.output_tokens) == (38, 4)


def test_groq_usage_ends_the_message_with_the_finish_chunk() -> None:
    """Groq puts usage on the finish_reason chunk: the message ends there, [DONE] adds nothing."""
    raw = load_stream("groq/chat_completion_stream.txt")
    events = SSEDecoder().feed(raw)
    stream = ChatToMessagesStream(model=MODEL)
    outs = [stream.feed(e) for e in events]
    assert events[-1].is_done and outs[-1] is None
    assert outs[-2] is not None and outs[-2].endswith(b'{"type":"message_stop"}\n\n')


# -- content blocks ---------------------------------------------------------------------------

TOOLS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me check."}),
    chunk(call(0, "call_a", "get_weather")),
    chunk(call(0, args='{"loc')),
    chunk(call(0, args='ation": "Paris"}')),
    chunk(call(1, "call_b", "get_time", "{}")),
    chunk(finish="tool_calls"),
    usage_chunk(20, 9),
]


def test_text_then_parallel_tool_calls() -> None:
    _, out = translate(upstream(*TOOLS))
    said = check(out)
    assert said["kinds"] == ["text", "tool_use", "tool_use"]
    assert said["text"] == "Let me check."
    assert said["tools"] == [
        ("call_a", "get_weather", '{"location": "Paris"}'),
        ("call_b", "get_time", "{}"),
    ]
    assert said["delta"] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 9,
        },
    }
    _, message = sdk_stream(out)
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("text", None),
        ("tool_use", {"location": "Paris"}),
        ("tool_use", {}),
    ]
    assert message.stop_reason == "tool_use" and message.usage.input_tokens == 20


def test_stream_and_answer_agree() -> None:
    """The SDK's message from the stream equals the non-streamed translation of the same
    answer: the same id, blocks, stop reason and usage."""
    _, out = translate(upstream(chunk({"reasoning_content": "Paris?"}), *TOOLS[1:]))
    _, streamed = sdk_stream(out)
    tool_calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
        },
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]
    message = {"content": "Let me check.", "reasoning_content": "Paris?", "tool_calls": tool_calls}
    answer = chat_to_messages(
        {
            "id": "chatcmpl-1",
            "choices": [{"message": message, "finish_reason": "tool_calls"}],
            "usage": usage_chunk(20, 9)["usage"],
        },
        model=MODEL,
    )
    assert streamed.model_dump(exclude_none=True) == sdk_message(orjson.dumps(answer)).model_dump(
        exclude_none=True
    )


def test_arguments_before_the_name_wait_for_it() -> None:
    _, out = translate(
        upstream(
            chunk(call(0, "call_a", args='{"a":')),
            chunk(call(0, name="f", args=" 1}")),
            chunk(finish="tool_calls"),
        )
    )
    assert check(out)["tools"] == [("call_a", "f", '{"a": 1}')]


def test_a_call_that_never_got_its_name_is_still_sent() -> None:
    _, out = translate(upstream(chunk(call(0, "call_a", args="{}")), chunk(finish="tool_calls")))
    assert check(out)["tools"] == [("call_a", "", "{}")]


def test_calls_without_index_or_id() -> None:
    """Calls keyed by id when there is no index; a call without an id gets one."""
    first = {"tool_calls": [{"id": "x1", "function": {"name": "f", "arguments": "{}"}}]}
    second = {"tool_calls": [{"function": {"name": "g", "arguments": ""}}]}
    more = {"tool_calls": [{"function": {"arguments": "{}"}}]}
    _, out = translate(upstream(chunk(first), chunk(second), chunk(more), chunk(finish="stop")))
    said = check(out)
    assert said["tools"] == [("x1", "f", "{}"), ("toolu_chatcmpl-1_1", "g", "{}")]


def test_kinds_alternate_into_new_blocks() -> None:
    _, out = translate(
        upstream(
            chunk({"reasoning_content": "a"}),
            chunk({"content": "b"}),
            chunk({"reasoning": "c", "content": "d"}),
            chunk({"refusal": "e"}),
            chunk(finish="stop"),
        )
    )
    said = check(out)
    assert said["kinds"] == ["thinking", "text", "thinking", "text"]
    assert (said["thinking"], said["text"]) == ("ac", "bde")


def test_deltas_after_finish_reason_are_ignored() -> None:
    _, out = translate(upstream(chunk({"content": "a"}, "stop"), chunk({"content": "b"})))
    assert check(out)["text"] == "a"


def test_stop_sequence_from_vllm() -> None:
    finish = chunk({"content": "1, 2, "}, "stop")
    finish["choices"][0]["stop_reason"] = "3"
    _, out = translate(upstream(finish))
    assert check(out)["delta"]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "3"}


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("length", "max_tokens"), ("content_filter", "refusal"), ("function_call", "tool_use")],
)
def test_stop_reasons(finish: str, reason: str) -> None:
    _, out = translate(upstream(chunk({"content": "a"}, finish)))
    assert check(out)["delta"]["delta"]["stop_reason"] == reason


# -- usage and the end --------------------------------------------------------------------------


def test_message_delta_waits_for_the_usage_chunk() -> None:
    stream = ChatToMessagesStream(model=MODEL)
    first = stream.feed_chunk(chunk({"content": "Hi"}, "stop"))
    assert first is not None and b"message_delta" not in first
    last = stream.feed_chunk(usage_chunk(30, 2, cached=20))
    assert last is not None and last.startswith(b"event: message_delta")
    assert stream.feed_chunk(DONE_CHUNK) is None
    said = check(first + last)
    assert said["delta"]["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
        "output_tokens": 2,
    }
    assert stream.result().usage == Usage(30, 2, 32, cached_tokens=20)


def test_without_usage_the_message_ends_at_done() -> None:
    stream, out = translate(upstream(chunk({"content": "Hi"}, "stop")), input_tokens=12)
    said = check(out)
    assert said["start_usage"]["input_tokens"] == 12
    assert said["delta"]["usage"] == {"output_tokens": 0}
    assert stream.result().usage is None and stream.result().done
    _, message = sdk_stream(out)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 0)


def test_usage_on_the_first_chunk_goes_into_message_start() -> None:
    _, out = translate(upstream({**chunk({"content": "Hi"}, "stop"), **usage_chunk(8, 1)}))
    said = check(out)
    assert said["start_usage"]["input_tokens"] == 8
    assert said["delta"]["usage"]["output_tokens"] == 1


def test_finish_ends_a_stream_that_lost_its_done() -> None:
    stream, out = translate(upstream(chunk({"content": "Hi"}, "stop"), done=False))
    assert check(out)["text"] == "Hi"
    assert stream.result().done


def test_finish_without_finish_reason_is_truncation() -> None:
    stream, out = translate(upstream(chunk({"content": "Hi"}), done=False))
    assert b"message_stop" not in out and not stream.result().done
    assert stream.finish() is None


def test_done_without_finish_reason_ends_the_message() -> None:
    _, out = translate(upstream(chunk({"content": "Hi"})))
    assert check(out)["delta"]["delta"]["stop_reason"] == "end_turn"


def test_done_alone_is_an_empty_message() -> None:
    stream, out = translate(DONE)
    assert check(out)["kinds"] == []
    assert stream.result().done and stream.result().provider_id is None


def test_events_without_data_and_after_the_end_are_ignored() -> None:
    stream, out = translate(b": keep-alive\n\n" + upstream(chunk({"content": "a"}, "stop")))
    assert stream.feed(SSEDecoder().feed(encode_data(b"{}"))[0]) is None
    assert check(out)["text"] == "a"


# -- errors ------------------------------------------------------------------------------------


def test_in_band_error_chunk() -> None:
    error = {"error": {"message": "Rate limit reached", "type": "rate_limit", "code": "429"}}
    stream, out = translate(upstream(chunk({"content": "a"}), error, chunk({"content": "b"})))
    assert b"text_delta" in out and b'"b"' not in out and b"message_stop" not in out
    assert isinstance(stream.error, UpstreamError)
    assert "Rate limit reached" in stream.error.message
    assert not stream.result().done


def test_non_json_data_is_an_error() -> None:
    stream, out = translate(b"data: <html>\n\n" + upstream(chunk({"content": "a"})))
    assert out == b"" and isinstance(stream.error, UpstreamError)


def test_late_arguments_for_an_ended_call_are_an_error() -> None:
    stream, out = translate(
        upstream(
            chunk(call(0, "a", "f", "{")),
            chunk(call(1, "b", "g", "{}")),
            chunk(call(0, args="}")),
        )
    )
    assert isinstance(stream.error, UpstreamError) and b"message_stop" not in out
    assert stream.finish() is None


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (InvalidRequest("bad", param="x"), "invalid_request_error"),
        (GatewayError("auth", status=401), "authentication_error"),
        (GatewayError("forbidden", status=403), "permission_error"),
        (GatewayError("paid", status=402), "billing_error"),
        (GatewayError("big", status=413), "request_too_large"),
        (GatewayError("gone", status=404), "not_found_error"),
        (RateLimited("slow down"), "rate_limit_error"),
        (GatewayError("bug"), "api_error"),
        (UpstreamError("bad gateway"), "api_error"),
        (GatewayError("busy", status=503), "overloaded_error"),
        (GatewayError("busy", status=529), "overloaded_error"),
        (GatewayError("late", status=504), "timeout_error"),
        (GatewayError("method", status=405), "invalid_request_error"),
        (GatewayError("teapot", status=507), "api_error"),
        (UpstreamError("anthropic: busy", code="overloaded_error", status=502), "overloaded_error"),
    ],
)
def test_error_types(error: GatewayError, kind: str) -> None:
    assert anthropic_error_type(error) == kind
    message = f"{error.param}: {error.message}" if error.param else error.message
    assert anthropic_envelope(error) == {
        "type": "error",
        "error": {"type": kind, "message": message},
    }


def test_the_field_an_error_names_leads_its_message() -> None:
    """Anthropic's envelope has no param: the field goes in front, unless already said."""
    unnamed = InvalidRequest("content block type 'x' is not supported", param="messages[0].type")
    named = InvalidRequest("invalid request body: max_tokens must be 1", param="max_tokens")
    assert anthropic_envelope(unnamed)["error"]["message"] == (
        "messages[0].type: content block type 'x' is not supported"
    )
    assert anthropic_envelope(named)["error"]["message"] == named.message


def test_every_documented_status_has_a_type() -> None:
    assert sorted(ERROR_TYPES) == [400, 401, 402, 403, 404, 413, 429, 500, 502, 503, 504, 529]


def test_the_sdk_raises_on_the_error_event() -> None:
    """A stream that ends with the gateway's error event makes the SDK raise, with the type."""
    _, out = translate(upstream(chunk({"content": "partial"}), done=False))
    out += anthropic_error_event(UpstreamError("the provider went away", status=503))
    assert out.endswith(b"\n\n") and b"event: error\ndata: " in out
    with pytest.raises(anthropic.APIStatusError) as caught:
        sdk_stream(out)
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "the provider went away"},
    }


# -- chunks parsed or encoded, and Anthropic -> chat -> Messages ------------------------------


def test_parsed_chunks_give_the_same_bytes() -> None:
    raw = upstream(*TOOLS)
    _, out = translate(raw)
    stream = ChatToMessagesStream(model=MODEL)
    parsed = [stream.feed_chunk(c) for c in TOOLS] + [stream.feed_chunk(DONE_CHUNK)]
    assert b"".join(p for p in parsed if p) == out


def test_anthropic_stream_through_chat_and_back() -> None:
    """The recorded Anthropic stream, translated to chat chunks and back to a Messages stream,
    accumulates in the SDK to the same text, stop reason and counts as the original."""
    raw = load_stream("anthropic/messages_stream.txt")
    _, original = sdk_stream(raw)
    to_chat = AnthropicChatStream("routed", include_usage=True, created=0)
    chat = b"".join(p for e in SSEDecoder().feed(raw) if (p := to_chat.feed(e)))
    _, out = translate(chat)
    check(out)
    _, again = sdk_stream(out)
    assert again.id == f"msg_{original.id}" or again.id == original.id
    assert [b.model_dump() for b in again.content] == [b.model_dump() for b in original.content]
    assert again.stop_reason == original.stop_reason
    assert again.usage.input_tokens == original.usage.input_tokens
    assert again.usage.output_tokens == original.usage.output_tokens


# -- a property: any interleaving of text, reasoning and tool calls keeps the invariants ------

_piece = st.text(alphabet='ab "\\é', min_size=1, max_size=3)
_args = st.dictionaries(st.sampled_from(["x", "y"]), st.integers(0, 99) | _piece, max_size=2)


@st.composite
def _answers(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Chat chunks of a random answer, and what the answer says."""
    chunks: list[dict[str, Any]] = []
    said: dict[str, Any] = {"text": "", "thinking": "", "tools": []}
    for n in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["content", "reasoning_content", "tool"]))
        if kind != "tool":
            piece = draw(_piece)
            said["text" if kind == "content" else "thinking"] += piece
            chunks.append(chunk({kind: piece}))
            continue
        args = orjson.dumps(draw(_args)).decode()
        cuts = sorted(draw(st.lists(st.integers(0, len(args)), max_size=3)))
        pieces = [args[a:b] for a, b in zip([0, *cuts], [*cuts, len(args)], strict=True)]
        index = len(said["tools"])
        said["tools"].append((f"call_{n}", f"f{n}", args))
        chunks.append(chunk(call(index, f"call_{n}", f"f{n}", pieces[0])))
        chunks.extend(chunk(call(index, args=p)) for p in pieces[1:])
    chunks.append(chunk(finish=draw(st.sampled_from(["stop", "tool_calls", "length"]))))
    if draw(st.booleans()):
        chunks.append(usage_chunk())
    return chunks, said


@settings(max_examples=60, deadline=None)
@given(_answers(), st.booleans(), st.integers(1, 40))
def test_any_answer_makes_a_valid_stream(
    answer: tuple[list[dict[str, Any]], dict[str, Any]], done: bool, step: int
) -> None:
    """Whatever the mix, the stream is valid, says everything in order, is the same however
    the upstream was cut, and the SDK accumulates it to the same content."""
    chunks, expected = answer
    raw = upstream(*chunks, done=done)
    stream, out = translate(raw)
    assert translate(raw, step=step)[1] == out
    said = check(out)
    assert said["text"] == expected["text"]
    assert said["thinking"] == expected["thinking"]
    assert said["tools"] == expected["tools"]
    assert all(isinstance(orjson.loads(args), dict) for _, _, args in said["tools"])
    assert stream.result().done
    _, message = sdk_stream(out)
    assert [b.input for b in message.content if b.type == "tool_use"] == [
        orjson.loads(args) for _, _, args in expected["tools"]
    ]
