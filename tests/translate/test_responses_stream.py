"""Chat streams -> Responses streams, and native Responses streams watched going by."""

from __future__ import annotations

from typing import Any

import orjson
import pydantic
import pytest
from openai import omit
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import Response, ResponseStreamEvent

from gomodel.errors import UpstreamError
from gomodel.translate.responses import (
    ChatToResponsesStream,
    ResponsesStreamObserver,
    chat_to_response,
)
from gomodel.usage.extract import Usage
from gomodel.wire.sse import DONE, SSEDecoder, encode_data
from tests.conftest import load_stream

REQUEST: dict[str, Any] = {"model": "routed", "input": "hi", "stream": True}
EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)
TEXT_ITEM = [
    "response.output_item.added",
    "response.content_part.added",
]
TEXT_DONE = [
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def translate(
    raw: bytes, *, step: int = 0, request: dict[str, Any] | None = None
) -> tuple[ChatToResponsesStream, bytes]:
    """Feed ``raw`` through SSEDecoder (whole, or ``step`` bytes at a time) into a translator;
    return it and what the client got."""
    stream = ChatToResponsesStream(
        response_id="resp_abc", created_at=1000, model="routed", request=request or REQUEST
    )
    decoder = SSEDecoder()
    pieces = [raw] if not step else [raw[i : i + step] for i in range(0, len(raw), step)]
    out = bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            chunk = stream.feed(event)
            if chunk is not None:
                out += chunk
    assert decoder.finish() == b""
    return stream, bytes(out)


def events(out: bytes) -> list[dict[str, Any]]:
    """The client's events, checked: whole frames, ``event:`` = ``type``, sequence numbers
    0, 1, 2, ..., and each one valid for the official SDK's event models."""
    decoded = SSEDecoder().feed(out)
    assert b"".join(e.raw for e in decoded) == out
    payloads = []
    for n, event in enumerate(decoded):
        payload = orjson.loads(event.data or b"")
        assert event.event == payload["type"]
        assert payload["sequence_number"] == n
        EVENTS.validate_python(payload)
        payloads.append(payload)
    return payloads


def sdk_final(out: bytes) -> Response:
    """What the SDK's ``responses.stream()`` helper assembles from the events."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    for payload in events(out):
        state.handle_event(EVENTS.validate_python(payload))
    final = state._completed_response
    assert final is not None
    return final


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
) -> bytes:
    """One chat.completion.chunk event."""
    doc: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m-1"}
    doc["choices"] = (
        [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
    )
    if usage is not None:
        doc["usage"] = usage
    return encode_data(orjson.dumps(doc))


def call(
    index: int, *, id: str | None = None, name: str | None = None, args: str | None = None
) -> dict[str, Any]:
    """A tool_calls delta entry."""
    entry: dict[str, Any] = {"index": index}
    if id is not None:
        entry |= {"id": id, "type": "function"}
    fn = {k: v for k, v in (("name", name), ("arguments", args)) if v is not None}
    if fn:
        entry["function"] = fn
    return entry


USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
HELLO = b"".join(
    [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        chunk(choices=False, usage=USAGE),
        DONE,
    ]
)
TWO_TOOLS = b"".join(
    [
        chunk({"role": "assistant", "content": None}),
        chunk({"tool_calls": [call(0, id="call_a", name="get_weather", args="")]}),
        chunk({"tool_calls": [call(0, args='{"city"')]}),
        chunk({"tool_calls": [call(0, args=':"Paris"}')]}),
        chunk({"tool_calls": [call(1, id="call_b", name="get_time", args="")]}),
        chunk({"tool_calls": [call(1, args='{"tz":"CET"}')]}),
        chunk({}, "tool_calls"),
        chunk(choices=False, usage=USAGE),
        DONE,
    ]
)


# -- the translated stream -------------------------------------------------------------------


def test_text_stream_event_sequence() -> None:
    """A text answer gives the real API's event sequence, ending with response.completed."""
    stream, out = translate(HELLO)
    got = events(out)
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        *TEXT_ITEM,
        "response.output_text.delta",
        "response.output_text.delta",
        *TEXT_DONE,
        "response.completed",
    ]
    assert got[0]["response"]["status"] == "in_progress" and got[0]["response"]["output"] == []
    assert got[0]["response"]["id"] == "resp_abc" and got[0]["response"]["model"] == "m-1"
    assert [e["delta"] for e in got if e["type"] == "response.output_text.delta"] == ["Hel", "lo"]
    assert got[4] == {
        "type": "response.output_text.delta",
        "content_index": 0,
        "item_id": "msg_abc",
        "output_index": 0,
        "delta": "Hel",
        "logprobs": [],
        "sequence_number": 4,
    }
    assert got[6]["text"] == "Hello"
    assert stream.done and stream.provider_id == "chatcmpl-1" and stream.model == "m-1"
    assert stream.error is None
    assert b"[DONE]" not in out


def test_usage_is_carried_into_response_completed() -> None:
    """The chat usage chunk ends up, mapped, in response.completed and in ``usage``."""
    stream, out = translate(HELLO)
    final = events(out)[-1]["response"]
    assert final["status"] == "completed"
    assert final["usage"] == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 18,
    }
    assert stream.usage == Usage(11, 7, 18, cached_tokens=4, reasoning_tokens=2)
    assert sdk_final(out).output_text == "Hello"


@pytest.mark.parametrize("raw", [HELLO, TWO_TOOLS], ids=["text", "tools"])
def test_byte_by_byte_feeding_gives_identical_output(raw: bytes) -> None:
    """Upstream chunking changes nothing the client sees."""
    assert translate(raw)[1] == translate(raw, step=1)[1] == translate(raw, step=7)[1]


def test_two_tool_calls_stream_their_arguments() -> None:
    """Each tool call is an item with argument deltas; both end at finish_reason."""
    stream, out = translate(TWO_TOOLS)
    got = events(out)
    assert [(e["type"], e.get("output_index")) for e in got[2:]] == [
        ("response.output_item.added", 0),
        ("response.function_call_arguments.delta", 0),
        ("response.function_call_arguments.delta", 0),
        ("response.output_item.added", 1),
        ("response.function_call_arguments.delta", 1),
        ("response.function_call_arguments.done", 0),
        ("response.output_item.done", 0),
        ("response.function_call_arguments.done", 1),
        ("response.output_item.done", 1),
        ("response.completed", None),
    ]
    assert got[2]["item"] == {
        "id": "fc_call_a",
        "type": "function_call",
        "status": "in_progress",
        "arguments": "",
        "call_id": "call_a",
        "name": "get_weather",
    }
    assert got[3] == {
        "type": "response.function_call_arguments.delta",
        "item_id": "fc_call_a",
        "output_index": 0,
        "delta": '{"city"',
        "sequence_number": 3,
    }
    assert got[7]["arguments"] == '{"city":"Paris"}'
    assert got[10]["item"]["arguments"] == '{"tz":"CET"}'
    final = sdk_final(out)
    assert [(i.type, getattr(i, "arguments", None)) for i in final.output] == [
        ("function_call", '{"city":"Paris"}'),
        ("function_call", '{"tz":"CET"}'),
    ]
    assert stream.usage is not None and stream.usage.total_tokens == 18


def test_text_then_tool_call() -> None:
    """A tool call ends the open message item first; output indexes follow."""
    raw = b"".join(
        [
            chunk({"content": "Checking."}),
            chunk({"tool_calls": [call(0, id="call_a", name="f", args="{}")]}),
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    got = events(translate(raw)[1])
    assert [e["type"] for e in got[2:]] == [
        *TEXT_ITEM,
        "response.output_text.delta",
        *TEXT_DONE,
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [i["id"] for i in got[-1]["response"]["output"]] == ["msg_abc", "fc_call_a"]
    assert got[-1]["response"]["usage"] is None  # the provider sent none


def test_stream_and_non_stream_give_the_same_object() -> None:
    """response.completed carries what chat_to_response gives for the same answer."""
    raw = b"".join(
        [
            chunk({"reasoning_content": "think"}),
            chunk({"content": "Checking."}),
            chunk({"tool_calls": [call(0, id="call_a", name="f", args='{"a":1}')]}),
            chunk({}, "tool_calls", usage=USAGE),
            DONE,
        ]
    )
    final = events(translate(raw)[1])[-1]["response"]
    message = {
        "content": "Checking.",
        "reasoning_content": "think",
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
        ],
    }
    answer = {
        "model": "m-1",
        "choices": [{"message": message, "finish_reason": "tool_calls"}],
        "usage": USAGE,
    }
    assert final == chat_to_response(
        answer, response_id="resp_abc", created_at=1000, request=REQUEST
    )


def test_reasoning_then_text_are_two_items() -> None:
    """Reasoning deltas stream as a reasoning item (as xAI does), ended when text starts."""
    raw = b"".join(
        [
            chunk({"reasoning_content": "a"}),
            chunk({"reasoning": "b"}),
            chunk({"content": "c"}),
            DONE,
        ]
    )
    got = events(translate(raw)[1])
    assert [e["type"] for e in got[2:7]] == [
        "response.output_item.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.output_item.done",
    ]
    assert got[2]["item"] == {
        "id": "rs_abc",
        "summary": [],
        "type": "reasoning",
        "status": "in_progress",
    }
    assert got[5]["text"] == "ab"
    assert got[6]["item"]["content"] == [{"type": "reasoning_text", "text": "ab"}]
    assert got[7]["output_index"] == 1 and got[7]["item"]["id"] == "msg_abc"


def test_text_after_reasoning_after_text_opens_new_items() -> None:
    """Interleaved kinds each open a fresh item with a fresh id."""
    raw = b"".join(
        [chunk({"content": "a"}), chunk({"reasoning_content": "r"}), chunk({"content": "b"}), DONE]
    )
    final = sdk_final(translate(raw)[1])
    assert [i.id for i in final.output] == ["msg_abc", "rs_abc", "msg_abc_1"]


@pytest.mark.parametrize(
    ("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")]
)
def test_incomplete_stream(finish: str, reason: str) -> None:
    """A truncated answer ends with response.incomplete and incomplete items."""
    raw = b"".join([chunk({"content": "part"}), chunk({}, finish), DONE])
    stream, out = translate(raw)
    got = events(out)
    assert got[-1]["type"] == "response.incomplete"
    assert got[-1]["response"]["status"] == "incomplete"
    assert got[-1]["response"]["incomplete_details"] == {"reason": reason}
    assert got[-2]["item"]["status"] == "incomplete"
    assert stream.done


def test_done_alone_gives_an_empty_message() -> None:
    """An upstream that says only [DONE] still gets a complete, SDK-valid response."""
    stream, out = translate(DONE)
    got = events(out)
    assert [e["type"] for e in got] == [
        "response.created",
        "response.in_progress",
        *TEXT_ITEM,
        *TEXT_DONE,
        "response.completed",
    ]
    assert sdk_final(out).output_text == ""
    assert stream.done and stream.usage is None


def test_tool_call_details_arriving_late() -> None:
    """Arguments before the name are sent right after the item; a missing id is derived; an
    entry without an index continues the last call."""
    raw = b"".join(
        [
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a"'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": ":1"}}]}),
            chunk({"tool_calls": [{"function": {"arguments": "}"}}]}),
            chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
            chunk({}, "tool_calls"),
            DONE,
        ]
    )
    got = events(translate(raw)[1])
    deltas = [e["delta"] for e in got if e["type"] == "response.function_call_arguments.delta"]
    assert deltas == ['{"a":1', "}", "{}"]  # what came before the name goes in one piece
    output = got[-1]["response"]["output"]
    assert [(i["call_id"], i["name"], i["arguments"]) for i in output] == [
        ("call_abc_0", "f", '{"a":1}'),
        ("call_abc_1", "", "{}"),  # its name never came: announced at the end, nameless
    ]


def test_deltas_after_finish_reason_are_ignored() -> None:
    """Only usage may follow finish_reason; stray content opens no item after the end."""
    raw = b"".join([chunk({"content": "a"}, "stop"), chunk({"content": "b"}), DONE])
    final = events(translate(raw)[1])[-1]["response"]
    assert [i["content"][0]["text"] for i in final["output"]] == ["a"]


def test_finish_completes_a_stream_that_lost_its_done() -> None:
    """At EOF, a finished answer without [DONE] is completed; an unfinished one is not."""
    stream, out = translate(HELLO[: -len(DONE)])
    assert not stream.done
    tail = stream.finish()
    assert tail is not None and stream.done
    assert events(out + tail)[-1]["type"] == "response.completed"
    assert stream.finish() is None
    cut, _ = translate(chunk({"content": "a"}))
    assert cut.finish() is None and not cut.done


def test_in_band_error() -> None:
    """A chat error event sets ``error`` and sends nothing; later events are ignored."""
    error = {"error": {"message": "overloaded", "type": "server_error", "code": "overloaded"}}
    raw = (
        chunk({"content": "a"}) + encode_data(orjson.dumps(error)) + chunk({"content": "b"}) + DONE
    )
    stream, out = translate(raw)
    assert isinstance(stream.error, UpstreamError)
    assert "overloaded" in stream.error.message and stream.error.code == "overloaded"
    assert [e["type"] for e in events(out)][-1] == "response.output_text.delta"
    assert not stream.done


def test_malformed_event() -> None:
    """A data line that is not a JSON object is a 502 malformed_stream error."""
    stream, out = translate(b"data: [1, 2]\n\n" + HELLO)
    assert out == b""
    assert stream.error is not None and stream.error.code == "malformed_stream"


@pytest.mark.parametrize("provider", ["openai", "groq", "gemini", "xai"])
def test_recorded_chat_streams(provider: str) -> None:
    """Recorded chat streams translate to complete Responses streams, however chunked."""
    raw = load_stream(f"{provider}/chat_completion_stream.txt")
    stream, out = translate(raw)
    assert translate(raw, step=1)[1] == out
    text = ""
    for event in SSEDecoder().feed(raw):
        if event.data and not event.is_done:
            for choice in orjson.loads(event.data)["choices"]:
                text += choice["delta"].get("content") or ""
    final = sdk_final(out)
    assert final.output_text == text and stream.done
    assert final.status == "completed"
    if provider == "xai":
        assert final.output[0].type == "reasoning"
    if provider == "groq":  # the only recording with a usage chunk
        assert stream.usage is not None and stream.usage.total_tokens == 42


# -- the native observer ---------------------------------------------------------------------


def observe(raw: bytes, step: int = 0) -> tuple[ResponsesStreamObserver, bytes]:
    """Feed ``raw`` through SSEDecoder into a native observer; return it and the client bytes."""
    observer = ResponsesStreamObserver()
    decoder = SSEDecoder()
    pieces = [raw] if not step else [raw[i : i + step] for i in range(0, len(raw), step)]
    out = bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            relayed = observer.feed(event)
            assert relayed == event.raw
            out += relayed
    return observer, bytes(out)


@pytest.mark.parametrize(
    ("provider", "usage", "response_id", "model"),
    [
        (
            "openai",
            Usage(17, 5, 22),
            "resp_0b7e83747d2b84440069a31433ab1881998d8036ef3db1ef03",
            "gpt-4o-mini-2024-07-18",
        ),
        (
            "xai",
            Usage(17, 185, 202, cached_tokens=3, reasoning_tokens=181),
            "9f619ea5-7275-4a31-cb4c-35f8adb5c6b0",
            "grok-3-mini",
        ),
    ],
)
def test_native_recorded_streams(provider: str, usage: Usage, response_id: str, model: str) -> None:
    """Native streams are relayed byte for byte; usage, id, model and the end are recorded."""
    raw = load_stream(f"{provider}/responses_stream.txt")
    for step in (0, 1, 13):
        observer, out = observe(raw, step)
        assert out == raw
        assert observer.done and observer.error is None
        assert observer.usage == usage
        assert observer.provider_id == response_id and observer.model == model


def test_native_done_only_at_the_terminal_event() -> None:
    """``done`` turns true with response.completed, not before."""
    raw = load_stream("openai/responses_stream.txt")
    events_ = SSEDecoder().feed(raw)
    observer = ResponsesStreamObserver()
    for event in events_[:-1]:
        observer.feed(event)
    assert not observer.done and observer.usage is None
    assert observer.provider_id is not None  # from response.created
    observer.feed(events_[-1])
    assert observer.done


def test_native_failed_and_error_events() -> None:
    """response.failed and error events are relayed, then reported through ``error``."""
    failed = {
        "type": "response.failed",
        "response": {
            "id": "resp_1",
            "status": "failed",
            "error": {"code": "server_error", "message": "boom"},
        },
    }
    raw = b"event: response.failed\ndata: " + orjson.dumps(failed) + b"\n\n"
    observer, out = observe(raw)
    assert out == raw and observer.done
    assert observer.error is not None and observer.error.code == "server_error"
    assert "boom" in observer.error.message
    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
    observer, _ = observe(b"event: error\ndata: " + orjson.dumps(error) + b"\n\n")
    assert observer.error is not None and observer.error.code == "rate_limit_exceeded"
    assert not observer.done
    envelope = {"error": {"message": "bad gateway"}}  # no event name, no type
    observer, _ = observe(encode_data(orjson.dumps(envelope)))
    assert observer.error is not None and "bad gateway" in observer.error.message


def test_native_data_only_events_and_done_marker() -> None:
    """Events without an ``event:`` line are still read; ``[DONE]`` and comments pass."""
    completed = {
        "type": "response.completed",
        "response": {"id": "r", "model": "m", "usage": {"input_tokens": 2, "output_tokens": 3}},
    }
    raw = b": keep-alive\n\n" + encode_data(orjson.dumps(completed))
    observer, out = observe(raw)
    assert out == raw and observer.done and observer.usage == Usage(2, 3, 5)
    observer, _ = observe(DONE)
    assert observer.done and observer.usage is None
