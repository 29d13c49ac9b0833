"""``POST /v1/messages``: Anthropic's Messages API, for Anthropic's models and every other one.

* Anthropic (the fast path): the client's bytes go upstream verbatim (``passthrough``), or edited
  once (``rewrite``: a provider-qualified selector ``anthropic/claude-...``, the gateway's
  ``provider`` field, a missing ``max_tokens`` filled in from ANTHROPIC_DEFAULT_MAX_TOKENS); the
  client's ``anthropic-version`` and ``anthropic-beta`` go with them. The answer comes back byte
  for byte; a stream is relayed event by event while
  :class:`~gomodel.translate.anthropic_observe.AnthropicStreamObserver` reads its usage from
  ``message_start`` and ``message_delta``. An ``error`` event from Anthropic reaches the client
  as Anthropic sent it and ends the stream.
* Every other provider (``translate``): the request becomes a chat request
  (:func:`~gomodel.translate.messages_request.messages_to_chat`, then the chat route's own edits,
  such as ``max_completion_tokens`` for reasoning models) and the answer a Messages answer again
  (:func:`~gomodel.translate.messages_response.chat_to_messages`,
  :class:`~gomodel.translate.messages_stream.ChatToMessagesStream`, whose ``message_start``
  carries :func:`~gomodel.translate.messages_tokens.estimate_input_tokens`).

Both run in the one pipeline (route header, usage rows, disconnects as for chat). Errors on this
path are Anthropic's envelope (the route table says so, ``gomodel.app.routes``); a stream that
fails after it started ends with ``event: error``.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from gomodel.errors import GatewayError, InvalidRequest
from gomodel.ingress.semantics import chat_semantics, parse_messages
from gomodel.ingress.snapshot import Headers
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer
from gomodel.pipeline.plan import Plan, Target
from gomodel.pipeline.run import plans, serve
from gomodel.providers.passthrough_headers import response_headers_for
from gomodel.providers.spec import Dialect
from gomodel.relay.unary import UnaryResult
from gomodel.routing.decision import Policy, RouteKind, decide
from gomodel.routing.rewrite import fill_max_tokens, messages_body
from gomodel.translate.anthropic_observe import AnthropicStreamObserver
from gomodel.translate.anthropic_response import usage_from_anthropic
from gomodel.translate.dialects import DIALECTS, json_object
from gomodel.translate.holdback import MESSAGES_PRELUDE
from gomodel.translate.messages_errors import anthropic_error_event
from gomodel.translate.messages_request import messages_to_chat
from gomodel.translate.messages_response import chat_to_messages, chat_usage
from gomodel.translate.messages_stream import ChatToMessagesStream
from gomodel.translate.messages_tokens import estimate_input_tokens
from gomodel.translate.stage import StreamStage

__all__ = ["ENDPOINT", "anthropic_headers", "messages", "require_max_tokens"]

ENDPOINT = "/v1/messages"
# The client's headers that go to Anthropic with the request (the rest stay behind).
FORWARDED_HEADERS = (b"anthropic-version", b"anthropic-beta")
# The chat request made from a Messages request always asks for usage itself.
_TRANSLATED_POLICY = Policy(usage_enabled=False)


async def messages(ctx: RequestContext) -> None:
    semantics = parse_messages(ctx.snapshot.body)
    default = ctx.runtime.policy.default_max_tokens
    require_max_tokens(semantics.has_max_tokens, default)

    def build(chosen: Target) -> Plan:
        if chosen.route.kind is RouteKind.TRANSLATE:
            return _translated(ctx, chosen, default)
        return _native(ctx, chosen, default)

    await serve(ctx, await plans(ctx, semantics, build))


def require_max_tokens(has_max_tokens: bool, default: int | None) -> None:
    """A request without ``max_tokens`` needs the configured default (400 otherwise)."""
    if not has_max_tokens and default is None:
        raise InvalidRequest(
            "max_tokens is required (the gateway has no default: ANTHROPIC_DEFAULT_MAX_TOKENS=0)",
            param="max_tokens",
        )


def anthropic_headers(headers: Headers) -> list[tuple[str, str]]:
    """The client's ``anthropic-version`` and ``anthropic-beta`` (repeats joined with a comma,
    as one header carries a list of betas), for the request to Anthropic."""
    out = []
    for name in FORWARDED_HEADERS:
        values = [value.decode("latin-1").strip() for key, value in headers if key == name]
        if any(values):
            out.append((name.decode(), ",".join(value for value in values if value)))
    return out


def _native(ctx: RequestContext, chosen: Target, default: int | None) -> Plan:
    provider, model = chosen.provider, chosen.resolution.model
    body = messages_body(ctx.snapshot.body, chosen.semantics, chosen.route, default)
    observers: list[AnthropicStreamObserver] = []

    def answer(result: UnaryResult) -> Answer:
        doc = json_object(result.body, provider.name)
        headers = response_headers_for(result.headers.raw)  # request-id, retry-after, ...
        if not any(name == b"content-type" for name, _ in headers):
            headers.insert(0, (b"content-type", b"application/json"))
        return Answer(
            result.body,  # verbatim: every byte the provider sent
            usage_from_anthropic(doc.get("usage")),
            _text(doc.get("model")),
            _text(doc.get("id")),
            headers=headers,
        )

    def stage() -> StreamStage:
        observer = AnthropicStreamObserver(model, provider_name=provider.name)
        observers.append(observer)
        return observer

    def error_event(error: GatewayError) -> bytes:
        if observers and error is observers[-1].error:
            return b""  # Anthropic's own error event went out verbatim and ends the stream
        return anthropic_error_event(error)

    return chosen.plan(
        ENDPOINT,
        provider.url("messages"),
        body,
        answer=answer,
        stage=stage,
        error_event=error_event,
        headers=anthropic_headers(ctx.snapshot.headers),
        prelude=MESSAGES_PRELUDE,
    )


def _translated(ctx: RequestContext, chosen: Target, default: int | None) -> Plan:
    provider, resolution = chosen.provider, chosen.resolution
    assert provider.spec.dialect is Dialect.OPENAI  # Anthropic speaks Messages itself
    doc, model = chosen.semantics.doc, resolution.model
    fill = None if default is None else fill_max_tokens(doc, default)
    # The chat request, decided once: it is the gateway's own, no selector or field to undo.
    chat = chat_semantics(messages_to_chat(doc, model=model, default_max_tokens=fill))
    chat_route = decide(
        chat,
        attrs.evolve(resolution, qualified=False, virtual=None, pick=None),
        provider.spec,
        _TRANSLATED_POLICY,
    )
    dialect = DIALECTS[Dialect.OPENAI]
    body = dialect.body(orjson.dumps(chat.doc), chat, chat_route)

    def answer(result: UnaryResult) -> Answer:
        completion: dict[str, Any] = json_object(result.body, provider.name)
        message = chat_to_messages(completion, model=model)
        return Answer(
            orjson.dumps(message),
            chat_usage(completion.get("usage")),
            _text(completion.get("model")),
            _text(completion.get("id")),
        )

    def stage() -> StreamStage:
        estimate = estimate_input_tokens(doc)
        return ChatToMessagesStream(model=model, input_tokens=estimate, provider_name=provider.name)

    return chosen.plan(
        ENDPOINT,
        provider.url(dialect.endpoint),
        body,
        answer=answer,
        stage=stage,
        error_event=anthropic_error_event,
        prelude=MESSAGES_PRELUDE,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
