"""The fast-path observer of Anthropic Messages streams: bytes untouched, usage, ids, the end."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gomodel.errors import RateLimited, UpstreamUnavailable
from gomodel.translate.anthropic_observe import AnthropicStreamObserver
from gomodel.translate.stage import StreamStage
from gomodel.usage.extract import Usage
from gomodel.wire.sse import SSEDecoder
from tests.conftest import load_stream
from tests.translate.anthropic_sdk import sdk_stream


def observe(raw: bytes, step: int = 0) -> tuple[AnthropicStreamObserver, bytes]:
    observer = AnthropicStreamObserver("routed-model")
    decoder = SSEDecoder()
    pieces = [raw] if not step else [raw[i : i + step] for i in range(0, len(raw), step)]
    out = bytearray()
    for piece in pieces:
        for event in decoder.feed(piece):
            out += observer.feed(event) or b""
    assert decoder.finish() == b""
    assert observer.finish() is None
    return observer, bytes(out)


def sse(*events: dict[str, Any], named: bool = True) -> bytes:
    def frame(e: dict[str, Any]) -> bytes:
        name = b"event: " + e["type"].encode() + b"\n" if named else b""
        return name + b"data: " + orjson.dumps(e) + b"\n\n"

    return b"".join(frame(e) for e in events)


def start(usage: dict[str, Any]) -> dict[str, Any]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x"}
    return {"type": "message_start", "message": {**message, "content": [], "usage": usage}}


def delta(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}


STOP = {"type": "message_stop"}


def test_is_a_stream_stage() -> None:
    stage: StreamStage = AnthropicStreamObserver()
    assert stage.error is None and not stage.result().done


@pytest.mark.parametrize("step", [0, 1, 13])
def test_recorded_stream_is_relayed_byte_for_byte(step: int) -> None:
    raw = load_stream("anthropic/messages_stream.txt")
    observer, out = observe(raw, step)
    assert out == raw
    result = observer.result()
    assert result.done
    assert result.usage == Usage(input_tokens=10, output_tokens=5, total_tokens=15)
    assert result.model == "claude-sonnet-4-20250514"
    assert result.provider_id == "msg_01SJmPi7XXP8qscFQiHPR9oy"
    assert observer.error is None


def test_cache_counts_fold_into_input() -> None:
    """Anthropic's input_tokens excludes cache reads and writes; the usage row's includes
    them, and keeps them apart for pricing. Later counts win; absent ones stay."""
    first = {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20}
    raw = sse(start({**first, "output_tokens": 1}), delta({"output_tokens": 42}), STOP)
    observer, out = observe(raw)
    assert out == raw
    assert observer.result().usage == Usage(
        input_tokens=125,
        output_tokens=42,
        total_tokens=167,
        cached_tokens=100,
        cache_write_tokens=20,
    )


def test_usage_is_current_before_the_end() -> None:
    """A stream cut before message_stop still reports what was counted, and is not done."""
    observer, _ = observe(sse(start({"input_tokens": 7, "output_tokens": 1})))
    assert observer.result().usage == Usage(7, 1, 8)
    assert not observer.result().done


def test_deltas_are_not_parsed() -> None:
    """Only message_start, message_delta and error are parsed: a broken delta passes as is."""
    broken = b'event: content_block_delta\ndata: {"type": "content_block_delta", \n\n'
    raw = sse(start({"input_tokens": 3})) + broken + b"event: ping\ndata: {}\n\n" + sse(STOP)
    observer, out = observe(raw)
    assert out == raw and observer.error is None and observer.result().done


def test_broken_watched_event_is_relayed_and_ignored() -> None:
    raw = b"event: message_start\ndata: {nope\n\n" + b": comment\n\n" + sse(STOP)
    observer, out = observe(raw)
    assert out == raw and observer.result().usage is None and observer.result().done


def test_events_without_names_are_read_by_type() -> None:
    unnamed = sse(start({"input_tokens": 3}), delta({"output_tokens": 2}), STOP, named=False)
    observer, out = observe(unnamed)
    assert out == unnamed
    assert observer.result().done and observer.result().usage == Usage(3, 2, 5)


@pytest.mark.parametrize(
    ("error", "cls", "status"),
    [
        ({"type": "overloaded_error", "message": "Overloaded"}, UpstreamUnavailable, 503),
        ({"type": "rate_limit_error", "message": "Slow down"}, RateLimited, 429),
    ],
)
def test_error_event_is_relayed_then_reported(
    error: dict[str, Any], cls: type, status: int
) -> None:
    raw = sse(start({"input_tokens": 3}), {"type": "error", "error": error})
    observer, out = observe(raw)
    assert out == raw
    assert isinstance(observer.error, cls) and observer.error.status == status
    assert error["message"] in observer.error.message
    assert not observer.result().done


def test_the_sdk_reads_the_relayed_stream() -> None:
    raw = load_stream("anthropic/messages_stream.txt")
    _, out = observe(raw)
    _, message = sdk_stream(out)
    assert message.content[0].type == "text" and message.content[0].text == "Hello World"
