"""Streams put back together: chat chunks, Responses events, Anthropic events; fed whole and
byte by byte; capped."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gomodel.audit.reassemble import StreamReassembler


def _sse(events: list[dict[str, Any]], *, named: bool = False, done: bool = False) -> bytes:
    out = b""
    for event in events:
        if named:
            out += f"event: {event['type']}\n".encode()
        out += b"data: " + orjson.dumps(event) + b"\n\n"
    return out + (b"data: [DONE]\n\n" if done else b"")


def _feed(data: bytes, whole: bool, cap: int = 1 << 20) -> StreamReassembler:
    r = StreamReassembler(cap)
    if whole:
        r.feed(data)
    else:
        for i in range(len(data)):
            r.feed(data[i : i + 1])
    return r


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


CHAT = _sse(
    [
        _chunk({"role": "assistant", "content": "Hel"}),
        _chunk({"content": "lo"}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "t1", "function": {"name": "f", "arguments": '{"a"'}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        _chunk({}, "tool_calls"),
    ],
    done=True,
)
ANTHROPIC = _sse(
    [
        {
            "type": "message_start",
            "message": {
                "id": "msg_1",
                "model": "claude",
                "role": "assistant",
                "content": [],
                "usage": {"input_tokens": 3},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "there"},
        },
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "tu1", "name": "look", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"q": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '"x"}'},
        },
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ],
    named=True,
)


@pytest.mark.parametrize("whole", [True, False])
def test_chat(whole: bool) -> None:
    answer = _feed(CHAT, whole).result()
    assert answer is not None
    [choice] = answer["choices"]
    assert choice["message"]["content"] == "Hello"
    assert choice["message"]["tool_calls"] == [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    ]
    assert choice["finish_reason"] == "tool_calls" and answer["id"] == "c1"


@pytest.mark.parametrize("whole", [True, False])
def test_anthropic(whole: bool) -> None:
    r = _feed(ANTHROPIC, whole)
    answer = r.result()
    assert answer == r.result()  # asking twice gives the same
    assert answer is not None
    assert answer["content"] == [
        {"type": "text", "text": "Hi there"},
        {"type": "tool_use", "id": "tu1", "name": "look", "input": {"q": "x"}},
    ]
    assert answer["stop_reason"] == "tool_use"
    assert answer["usage"] == {"input_tokens": 3, "output_tokens": 7}


def test_responses_final_object_wins_and_deltas_rebuild_without_it() -> None:
    final = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "Yo"}]}],
    }
    events = [
        {"type": "response.created", "response": {"id": "resp_1", "model": "m"}},
        {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message"}},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "Y"},
        {"type": "response.output_text.delta", "output_index": 0, "delta": "o"},
    ]
    cut = _feed(_sse(events, named=True), True).result()
    assert cut is not None and cut["status"] == "incomplete"
    assert cut["output"][0]["content"][0]["text"] == "Yo"
    whole = _feed(_sse([*events, {"type": "response.completed", "response": final}]), True)
    assert whole.result() == {**final, "stream_events": 5}


def test_text_capped() -> None:
    events = [_chunk({"content": "x" * 600}), _chunk({"content": "y" * 600})]
    answer = _feed(_sse(events), True, cap=1000).result()
    assert answer is not None and answer["truncated"] is True
    assert len(answer["choices"][0]["message"]["content"]) == 1000


def test_unknown_stream_gives_nothing() -> None:
    assert _feed(b'data: {"hello": 1}\n\nevent: x\ndata: not json\n\n', True).result() is None
