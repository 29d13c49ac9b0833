"""The chat stream observer: usage seen, injected usage hidden, bytes otherwise untouched."""

from __future__ import annotations

import orjson

from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.wire.sse import SSEDecoder
from tests.conftest import load_stream

# The OpenAI recording was made without include_usage; this is the usage chunk OpenAI sends
# last when it is asked for (same id and fields as the recording's chunks).
OPENAI_USAGE_CHUNK = (
    b'data: {"id":"chatcmpl-D0q8CZXN1uEzngZGkU7FuV92lnXWq","object":"chat.completion.chunk",'
    b'"created":1769092764,"model":"gpt-4o-mini-2024-07-18","service_tier":"default",'
    b'"system_fingerprint":"fp_29330a9688","choices":[],"usage":{"prompt_tokens":19,'
    b'"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,'
    b'"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"x1"}\n\n'
)


def openai_stream_with_usage() -> bytes:
    raw = load_stream("openai/chat_completion_stream.txt")
    return raw.replace(b"data: [DONE]", OPENAI_USAGE_CHUNK + b"data: [DONE]")


def _replay(name: str, *, hide: bool) -> tuple[ChatStreamObserver, bytes, bytes]:
    raw = openai_stream_with_usage() if name.startswith("openai/") else load_stream(name)
    observer = ChatStreamObserver(hide_usage=hide)
    out = b"".join(
        piece for event in SSEDecoder().feed(raw) if (piece := observer.feed(event)) is not None
    )
    return observer, raw, out


def test_openai_stream_relayed_byte_for_byte_when_client_asked() -> None:
    """With usage asked for by the client, the relayed stream equals the recording."""
    observer, raw, out = _replay("openai/chat_completion_stream.txt", hide=False)
    assert out == raw
    assert observer.done
    assert observer.usage is not None
    assert observer.usage.total_tokens > 0


def test_openai_injected_usage_chunk_dropped() -> None:
    """When the gateway injected include_usage, the usage-only chunk disappears, nothing else."""
    observer, raw, out = _replay("openai/chat_completion_stream.txt", hide=True)
    assert out == raw.replace(OPENAI_USAGE_CHUNK, b"")
    assert out == load_stream("openai/chat_completion_stream.txt")
    assert observer.usage is not None  # still accounted


def test_groq_usage_on_content_chunk_is_removed_not_dropped() -> None:
    """Groq puts usage on the finish chunk: that chunk stays, without its usage member."""
    observer, _, out = _replay("groq/chat_completion_stream.txt", hide=True)
    assert observer.usage is not None and observer.usage.input_tokens == 38
    out_events = SSEDecoder().feed(out)
    finish = [
        orjson.loads(e.data) for e in out_events if e.data and b'"finish_reason":"stop"' in e.data
    ]
    assert len(finish) == 1
    assert "usage" not in finish[0]
    assert finish[0]["x_groq"]["usage"]["total_tokens"] == 42  # vendor fields untouched
    assert out.endswith(b"data: [DONE]\n\n")


def test_last_usage_event_wins_and_zero_usage_ignored() -> None:
    """A later usage event replaces an earlier one; an all-zero usage does not."""
    observer = ChatStreamObserver()
    decoder = SSEDecoder()
    for payload in (
        b'{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"choices":[]}',
        b'{"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,'
        b'"prompt_tokens_details":{"cached_tokens":3},'
        b'"completion_tokens_details":{"reasoning_tokens":4}},"choices":[]}',
        b'{"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0},"choices":[]}',
    ):
        for event in decoder.feed(b"data: " + payload + b"\n\n"):
            observer.feed(event)
    assert observer.usage is not None
    assert (observer.usage.input_tokens, observer.usage.output_tokens) == (5, 7)
    assert (observer.usage.cached_tokens, observer.usage.reasoning_tokens) == (3, 4)
    assert not observer.done


# What OpenAI sends on every chunk but the last when include_usage is on (real shape).
NULL_USAGE_CHUNK = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"A"},"logprobs":null,"finish_reason":null}],'
    b'"obfuscation":"ZGF","usage":null}'
)


def _one(data: bytes, *, hide: bool) -> tuple[ChatStreamObserver, bytes | None]:
    observer = ChatStreamObserver(hide_usage=hide)
    [event] = SSEDecoder().feed(b"data: " + data + b"\n\n")
    return observer, observer.feed(event)


def test_null_usage_member_relayed_as_is_when_the_client_asked() -> None:
    observer, out = _one(NULL_USAGE_CHUNK, hide=False)
    assert out == b"data: " + NULL_USAGE_CHUNK + b"\n\n"
    assert observer.usage is None


def test_null_usage_member_cut_when_the_gateway_asked() -> None:
    """The client that did not ask for usage gets the chunk as the provider would have sent it
    without include_usage: the same bytes minus the member, wherever the member sits."""
    expected = orjson.loads(NULL_USAGE_CHUNK)
    del expected["usage"]
    _, out = _one(NULL_USAGE_CHUNK, hide=True)
    assert out == b"data: " + NULL_USAGE_CHUNK.replace(b',"usage":null', b"") + b"\n\n"
    first = b'{"usage":null,' + NULL_USAGE_CHUNK[1:].replace(b',"usage":null', b"")
    spaced = NULL_USAGE_CHUNK.replace(b',"usage":null}', b', "usage": null}')
    for variant in (first, spaced):
        _, out = _one(variant, hide=True)
        assert out is not None and b"usage" not in out
        assert orjson.loads(out.removeprefix(b"data: ")) == expected
