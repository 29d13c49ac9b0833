"""How a chat request reaches a provider of each dialect, and how its answer comes back.

* OpenAI-compatible providers: the client's body verbatim or minimally rewritten
  (``routing.rewrite``), the answer relayed verbatim (a usage chunk the gateway asked for
  hidden again);
* Anthropic: the body translated to a Messages request, the answer (or its event stream)
  translated back to OpenAI chat shapes (``translate.anthropic_*``).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from gomodel.errors import UpstreamError
from gomodel.ingress.semantics import Semantics
from gomodel.pipeline.outcome import Answer
from gomodel.providers.spec import Dialect
from gomodel.routing.decision import Route
from gomodel.routing.rewrite import upstream_body
from gomodel.translate.anthropic_request import chat_to_messages
from gomodel.translate.anthropic_response import messages_to_chat, usage_from_anthropic
from gomodel.translate.anthropic_stream import AnthropicChatStream
from gomodel.translate.stage import ChunkSource
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.usage.extract import usage_from_object

__all__ = ["DIALECTS", "ChatDialect", "json_object"]


class ChatDialect(Protocol):
    endpoint: str  # the provider's chat endpoint, relative to its base URL

    def body(self, raw: bytes, semantics: Semantics, route: Route) -> bytes:
        """The upstream request body for the client's chat request."""

    def stage(
        self, semantics: Semantics, route: Route, created: int, provider: str
    ) -> ChunkSource | ChatStreamObserver:
        """The stream stage that turns the provider's events into chat chunks."""

    def answer(self, body: bytes, provider: str, created: int) -> Answer:
        """The client's ``chat.completion`` from the provider's non-streamed answer."""


def json_object(body: bytes, provider: str) -> dict[str, Any]:
    """An upstream answer that must be a JSON object; a 502 naming the provider otherwise."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"{provider} returned a response that is not JSON")
    if not isinstance(doc, dict):
        raise UpstreamError(f"{provider} returned a response that is not a JSON object")
    return doc


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


class OpenAIChat:
    endpoint = "chat/completions"

    def body(self, raw: bytes, semantics: Semantics, route: Route) -> bytes:
        return upstream_body(raw, semantics, route)

    def stage(
        self, semantics: Semantics, route: Route, created: int, provider: str
    ) -> ChatStreamObserver:
        return ChatStreamObserver(hide_usage=route.inject_usage, provider_name=provider)

    def answer(self, body: bytes, provider: str, created: int) -> Answer:
        doc = json_object(body, provider)
        # The upstream's bytes go to the client untouched: every field it sent is kept.
        return Answer(
            body, usage_from_object(doc.get("usage")), _text(doc.get("model")), _text(doc.get("id"))
        )


class AnthropicChat:
    endpoint = "messages"

    def body(self, raw: bytes, semantics: Semantics, route: Route) -> bytes:
        return orjson.dumps(chat_to_messages(semantics.doc, model=route.upstream_model))

    def stage(
        self, semantics: Semantics, route: Route, created: int, provider: str
    ) -> AnthropicChatStream:
        return AnthropicChatStream(
            route.upstream_model,
            include_usage=semantics.include_usage,
            created=created,
            provider_name=provider,
        )

    def answer(self, body: bytes, provider: str, created: int) -> Answer:
        doc = json_object(body, provider)
        chat = messages_to_chat(doc, created=created)
        return Answer(
            orjson.dumps(chat),
            usage_from_anthropic(doc.get("usage")),
            _text(doc.get("model")),
            _text(doc.get("id")),
        )


DIALECTS: dict[Dialect, ChatDialect] = {
    Dialect.OPENAI: OpenAIChat(),
    Dialect.ANTHROPIC: AnthropicChat(),
}
