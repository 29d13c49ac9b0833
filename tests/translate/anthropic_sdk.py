"""The official anthropic SDK as the client of bytes the gateway made.

The SDK is what Claude Code and most Messages clients run on: it parses an answer into its
``Message`` model, and a stream through its SSE decoder and message accumulator (the same code
``client.messages.stream(...).get_final_message()`` uses). A ``MockTransport`` serves the
bytes, so nothing leaves the process.
"""

from __future__ import annotations

import anthropic
from anthropic.types import Message, MessageStreamEvent

try:  # recent SDKs run on httpx2, older ones on httpx; the transport must be the SDK's own
    import httpx2 as http
except ImportError:  # pragma: no cover
    import httpx as http  # type: ignore[no-redef]

__all__ = ["sdk_message", "sdk_stream"]

_REQUEST = {
    "model": "gpt-4o-mini",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "x"}],
}


def _client(body: bytes, content_type: str) -> anthropic.Anthropic:
    def reply(request: http.Request) -> http.Response:
        return http.Response(200, content=body, headers={"content-type": content_type})

    return anthropic.Anthropic(
        api_key="test",
        base_url="http://gateway.test",
        http_client=http.Client(transport=http.MockTransport(reply)),
        max_retries=0,
    )


def sdk_message(body: bytes) -> Message:
    """The SDK's ``Message`` for a non-streamed answer body."""
    with _client(body, "application/json") as client:
        return client.messages.create(**_REQUEST)  # type: ignore[arg-type]


def sdk_stream(body: bytes) -> tuple[list[MessageStreamEvent], Message]:
    """The events the SDK's stream helper yields for a stream body, and its final message.

    Raises what the SDK raises (``anthropic.APIStatusError`` for an ``error`` event)."""
    with (
        _client(body, "text/event-stream") as client,
        client.messages.stream(**_REQUEST) as stream,  # type: ignore[arg-type]
    ):
        events = list(stream)
        return events, stream.get_final_message()
