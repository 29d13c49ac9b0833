"""Stream stages chained on parsed chunks give exactly what chaining on re-encoded SSE gave."""

from __future__ import annotations

from gomodel.translate.anthropic_stream import AnthropicChatStream
from gomodel.translate.responses import ChatToResponsesStream
from gomodel.translate.stage import Chained, StreamResult, Verbatim
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.wire.sse import SSEDecoder
from tests.conftest import load_stream


def _stages() -> tuple[AnthropicChatStream, ChatToResponsesStream]:
    first = AnthropicChatStream("claude-sonnet-4", include_usage=True, created=7)
    second = ChatToResponsesStream(
        response_id="resp_1", created_at=7, model="claude-sonnet-4", request={"input": "hi"}
    )
    return first, second


def test_chained_on_chunks_equals_chained_on_bytes() -> None:
    """Anthropic -> chat -> Responses: handing parsed chunks along gives the same bytes as
    encoding the chat chunks as SSE and decoding them again, event for event."""
    events = SSEDecoder().feed(load_stream("anthropic/messages_stream.txt"))
    chained = Chained(*_stages())
    direct = [chained.feed(event) for event in events]

    first, second = _stages()
    via_bytes = []
    decoder = SSEDecoder()
    for event in events:
        middle = first.feed(event)
        pieces = [second.feed(e) for e in decoder.feed(middle)] if middle else []
        via_bytes.append(b"".join(p for p in pieces if p) or None)

    assert direct == via_bytes
    assert b"response.completed" in b"".join(p for p in direct if p)
    result = chained.result()
    assert result.done and result.usage is not None
    assert (result.provider_id, result.usage.total_tokens) == (first.provider_id, 15)
    assert chained.finish() is None  # ended properly: nothing left to say


def test_chained_finish_completes_a_stream_that_lost_its_terminator() -> None:
    """Without message_stop, the Responses side cannot finish (no finish reason came)."""
    events = SSEDecoder().feed(load_stream("anthropic/messages_stream.txt"))
    chained = Chained(*_stages())
    for event in events[:-1]:
        chained.feed(event)
    assert chained.finish() is None
    assert not chained.result().done


def test_verbatim_relays_every_byte_and_reads_usage() -> None:
    """The passthrough stage gives the provider's bytes back and the inner stage's counts."""
    raw = load_stream("groq/chat_completion_stream.txt")
    stage = Verbatim(ChatStreamObserver())
    out = b"".join(stage.feed(event) or b"" for event in SSEDecoder().feed(raw))
    assert out == raw
    assert stage.finish() is None
    result = stage.result()
    assert result.done and result.usage is not None and result.usage.total_tokens == 42
    assert Verbatim().result() == StreamResult(done=True)
