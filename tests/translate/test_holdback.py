"""The hold-back stage: a stream's prelude waits for its first content, bytes untouched; a
failure before it leaves nothing sent."""

from __future__ import annotations

import orjson
import pytest

from gomodel.translate.holdback import CHAT_PRELUDE, RESPONSES_PRELUDE, HoldBack
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.wire.sse import Event, SSEDecoder


def events(*items: bytes | dict[str, object]) -> list[Event]:
    raw = b"".join(
        item if isinstance(item, bytes) else b"data: " + orjson.dumps(item) + b"\n\n"
        for item in items
    )
    return SSEDecoder().feed(raw)


def chunk(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


ROLE = chunk({"role": "assistant", "content": ""})
CONTENT = chunk({"content": "Hi"})


def feed_all(stage: HoldBack, stream: list[Event]) -> list[bytes | None]:
    return [stage.feed(event) for event in stream]


def test_role_chunk_waits_for_the_first_content_then_both_go_untouched() -> None:
    stream = events(b": keep-alive\n\n", ROLE, {"choices": []}, CONTENT, b"data: [DONE]\n\n")
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    out = feed_all(stage, stream)
    assert out[:3] == [None, None, None]
    assert out[3] == b"".join(e.raw for e in stream[:4])  # the same bytes, in order
    assert out[4] == stream[4].raw  # released: everything passes as it comes
    assert stage.result().done


@pytest.mark.parametrize(
    "first",
    [
        chunk({"content": "x"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f"}}]}),
        chunk({"reasoning_content": "thinking"}),
        chunk({"refusal": "no"}),
        chunk({}, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}},
    ],
)
def test_anything_with_content_releases(first: dict[str, object]) -> None:
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    stream = events(ROLE, first)
    assert feed_all(stage, stream) == [None, stream[0].raw + stream[1].raw]


def test_failure_while_held_sends_nothing() -> None:
    """An error event after the role chunk: the stage reports it; nothing was released."""
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    out = feed_all(stage, events(ROLE, {"error": {"message": "overloaded", "code": 503}}))
    assert out == [None, None]
    assert stage.error is not None and stage.error.status == 503
    assert stage.finish() is None


def test_malformed_event_while_held_is_a_failure() -> None:
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE, provider_name="p")
    assert feed_all(stage, events(ROLE, b"data: {not json\n\n")) == [None, None]
    assert stage.error is not None
    assert stage.error.code == "malformed_stream" and stage.error.status == 502


def test_malformed_event_after_content_is_relayed_as_before() -> None:
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    stream = events(CONTENT, b"data: {not json\n\n")
    assert feed_all(stage, stream) == [stream[0].raw, stream[1].raw]
    assert stage.error is None


def test_stream_that_ends_while_held() -> None:
    """Cut after the role chunk: nothing to release, the stream is not done."""
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    feed_all(stage, events(ROLE))
    assert stage.finish() is None and not stage.result().done


def test_done_releases_a_stream_that_was_all_prelude() -> None:
    stage = HoldBack(ChatStreamObserver(), CHAT_PRELUDE)
    stream = events(ROLE, b"data: [DONE]\n\n")
    assert feed_all(stage, stream) == [None, stream[0].raw + stream[1].raw]


def test_responses_prelude() -> None:
    def named(name: str, **extra: object) -> bytes:
        return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **extra}) + b"\n\n"

    class Raw:
        error = None

        def feed(self, event: Event) -> bytes | None:
            return event.raw

        def finish(self) -> bytes | None:
            return None

        def result(self) -> object:
            return None

    stage = HoldBack(Raw(), RESPONSES_PRELUDE)  # type: ignore[arg-type]
    stream = SSEDecoder().feed(
        named("response.created")
        + named("response.in_progress")
        + named("response.output_item.added")
        + named("response.content_part.added")
        + named("response.output_text.delta", delta="Hi")
    )
    out = feed_all(stage, stream)
    assert out[:4] == [None] * 4
    assert out[4] == b"".join(e.raw for e in stream)


def test_messages_prelude_and_a_relayed_error_held() -> None:
    """Anthropic's stream: message_start and content_block_start are prelude; its own error
    event, which the observer would relay, is held as a failure."""
    from gomodel.translate.anthropic_observe import AnthropicStreamObserver
    from gomodel.translate.holdback import MESSAGES_PRELUDE

    def named(name: str, doc: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **doc}) + b"\n\n"

    start = named("message_start", {"message": {"id": "m", "usage": {"input_tokens": 1}}})
    block = named("content_block_start", {"index": 0, "content_block": {"type": "text"}})
    delta = named("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "x"}})
    stage = HoldBack(AnthropicStreamObserver("claude"), MESSAGES_PRELUDE)
    stream = SSEDecoder().feed(start + block + delta)
    assert feed_all(stage, stream) == [None, None, start + block + delta]
    failing = HoldBack(AnthropicStreamObserver("claude"), MESSAGES_PRELUDE)
    error = named("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})
    assert feed_all(failing, SSEDecoder().feed(start + error)) == [None, None]
    assert failing.error is not None
