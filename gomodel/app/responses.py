"""``POST /v1/responses``: native where the provider has the Responses API, translated via chat
completions everywhere else.

* Native (openai, azure, openrouter, xai, oracle): the body goes upstream verbatim (or with the
  model selector and the ``provider`` field edited), the answer comes back verbatim; streams
  are relayed event by event and their usage read from ``response.completed``.
* Translated (groq, gemini, zai, ollama, vllm, deepseek, anthropic): the request becomes a chat
  request (and for Anthropic a Messages request), the answer and its stream become Responses
  objects and events again. The chat request and its route are decided once and serve both the
  upstream body and the stream stage.

Both run in the one pipeline, so disconnects, deadlines and usage behave as for chat.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from gomodel.app.response_store import StoredResponse
from gomodel.ingress.semantics import Semantics, chat_semantics, parse_responses
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Plan, Target
from gomodel.pipeline.run import plans, serve
from gomodel.providers.client import Provider
from gomodel.providers.spec import Dialect
from gomodel.relay.unary import UnaryResult
from gomodel.routing.decision import Policy, Route, RouteKind, decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.rewrite import model_body, with_model
from gomodel.translate.dialects import DIALECTS, json_object
from gomodel.translate.holdback import RESPONSES_PRELUDE
from gomodel.translate.responses import (
    ChatToResponsesStream,
    ResponsesStreamObserver,
    chat_to_response,
    responses_to_chat,
)
from gomodel.translate.stage import Chained, StreamStage
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.usage.extract import usage_from_object

__all__ = ["responses"]

ENDPOINT = "/v1/responses"
# Chat requests made from Responses requests always ask for usage: the final event carries it.
_TRANSLATED_POLICY = Policy(usage_enabled=False)


@attrs.frozen
class _Way:
    """How a Responses request goes to its provider: natively or as chat."""

    endpoint: str  # the provider's endpoint, relative to its base URL
    body: bytes
    answer: Callable[[UnaryResult], Answer]
    stage: Callable[[], StreamStage]
    finished: Callable[[Outcome], None]


async def responses(ctx: RequestContext) -> None:
    def build(chosen: Target) -> Plan:
        semantics = chosen.semantics  # as admission handed it back (a lower output cap)
        if chosen.route.kind is RouteKind.TRANSLATE:
            way = _translated(ctx, semantics, chosen.resolution, chosen.provider)
        else:
            way = _native(ctx, semantics, chosen.resolution, chosen.provider, chosen.route)
        url = chosen.provider.url(way.endpoint)
        return chosen.plan(
            ENDPOINT,
            url,
            way.body,
            answer=way.answer,
            stage=way.stage,
            finished=way.finished,
            prelude=RESPONSES_PRELUDE,
        )

    await serve(ctx, await plans(ctx, parse_responses(ctx.snapshot.body), build))


def _native(
    ctx: RequestContext,
    semantics: Semantics,
    resolution: Resolution,
    provider: Provider,
    route: Route,
) -> _Way:
    body = model_body(ctx.snapshot.body, semantics, route)
    store, clock = ctx.runtime.responses, ctx.runtime.clock

    def answer(result: UnaryResult) -> Answer:
        native = json_object(result.body, provider.name)
        # Verbatim: every field the provider sent is kept.
        return Answer(
            result.body,
            usage_from_object(native.get("usage")),
            _text(native.get("model")),
            _text(native.get("id")),
        )

    def finished(outcome: Outcome) -> None:
        if outcome.provider_id is not None:  # the provider keeps it: remember which one
            store.put(outcome.provider_id, StoredResponse(provider.name, True, clock()))

    def stage() -> StreamStage:
        return ResponsesStreamObserver(provider_name=provider.name)

    return _Way("responses", body, answer, stage, finished)


def _translated(
    ctx: RequestContext, semantics: Semantics, resolution: Resolution, provider: Provider
) -> _Way:
    doc = semantics.doc
    created = int(ctx.runtime.clock())
    response_id = f"resp_{uuid.uuid4().hex}"
    # The chat request, decided once. It is the gateway's own: no selector or field to undo.
    chat = chat_semantics(responses_to_chat(with_model(doc, resolution.model)))
    chat_resolution = attrs.evolve(resolution, qualified=False, virtual=None, pick=None)
    chat_route = decide(chat, chat_resolution, provider.spec, _TRANSLATED_POLICY)
    dialect = DIALECTS[provider.spec.dialect]
    body = dialect.body(orjson.dumps(chat.doc), chat, chat_route)
    store = ctx.runtime.responses
    made: list[dict[str, Any]] = []  # the response object, once the answer is complete
    streams: list[ChatToResponsesStream] = []

    def answer(result: UnaryResult) -> Answer:
        chat_answer = dialect.answer(result.body, provider.name, created)
        response = chat_to_response(
            orjson.loads(chat_answer.body), response_id=response_id, created_at=created, request=doc
        )
        made.append(response)
        return attrs.evolve(chat_answer, body=orjson.dumps(response))

    def stage() -> StreamStage:
        to_responses = ChatToResponsesStream(
            response_id=response_id,
            created_at=created,
            model=resolution.model,
            request=doc,
            provider_name=provider.name,
        )
        streams.append(to_responses)
        if provider.spec.dialect is Dialect.OPENAI:
            return to_responses
        first = dialect.stage(chat, chat_route, created, provider.name)
        assert not isinstance(first, ChatStreamObserver)  # only OpenAI's chat is relayed raw
        return Chained(first, to_responses)

    def finished(outcome: Outcome) -> None:
        final = made[-1] if made else (streams[-1].final if streams else None)
        if final is not None:
            store.put(response_id, _stored(provider, created, doc, final))

    return _Way(dialect.endpoint, body, answer, stage, finished)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _stored(
    provider: Provider, created: int, request: dict[str, Any], response: dict[str, Any]
) -> StoredResponse:
    """A translated response, with its input as Responses input items, for the lifecycle."""
    given = request.get("input")
    if isinstance(given, str):
        given = [{"type": "message", "role": "user", "content": given}]
    items = []
    for index, item in enumerate(given if isinstance(given, list) else []):
        if isinstance(item, dict):
            items.append({"id": f"{response['id']}_in{index}", **item})
    return StoredResponse(provider.name, False, float(created), response, tuple(items))
