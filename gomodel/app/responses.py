"""``POST /v1/responses``: native where the provider has the Responses API, translated via chat
completions everywhere else.

* Native (openai, azure, openrouter, xai, oracle): the body goes upstream verbatim (or with the
  model selector and the ``provider`` field edited), the answer comes back verbatim; streams
  are relayed event by event and their usage read from ``response.completed``.
* Translated (groq, gemini, zai, ollama, vllm, deepseek, anthropic): the request becomes a chat
  request (and for Anthropic a Messages request), the answer and its stream become Responses
  objects and events again.

Both run in the same relay as chat, so disconnects, deadlines and usage behave the same.
"""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import httpx
import orjson
import trio

from gomodel.app.accounting import record_usage, resolve_model, termination_for
from gomodel.app.chat_dialects import DIALECTS, ChatObserver
from gomodel.app.context import RequestContext
from gomodel.app.render import send_raw_json
from gomodel.app.response_store import StoredResponse
from gomodel.errors import GatewayError, InvalidRequest, UpstreamError
from gomodel.ingress.semantics import parse_chat, parse_json_object, parse_selector
from gomodel.ingress.user_path import normalize_user_path
from gomodel.providers.client import Provider
from gomodel.providers.spec import Dialect
from gomodel.relay.unary import fetch
from gomodel.relay.watch import ClientGone
from gomodel.routing.decision import Policy, decide
from gomodel.routing.resolve import Resolution
from gomodel.termination import Termination
from gomodel.translate.chain import ChainedStream
from gomodel.translate.responses import (
    ChatToResponsesStream,
    ResponsesStreamObserver,
    chat_to_response,
    responses_to_chat,
)
from gomodel.usage.extract import Usage, usage_from_object

__all__ = ["responses"]

ENDPOINT = "/v1/responses"
# Chat requests made from Responses requests always ask for usage: the final event carries it.
_TRANSLATED_POLICY = Policy(usage_enabled=False)


@attrs.frozen
class _Outcome:
    status: int
    termination: Termination
    usage: Usage | None = None
    complete: bool = False
    model: str | None = None
    provider_id: str | None = None
    first_byte_at: float | None = None
    upstream_seconds: float = 0.0
    error: GatewayError | None = None  # a stream that failed before it started


async def responses(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    doc = parse_json_object(ctx.snapshot.body)
    model, hint = parse_selector(doc)
    stream = doc.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream must be a boolean", param="stream")
    ctx.user_path = normalize_user_path(ctx.snapshot.header(b"x-gomodel-user-path"))
    resolution = await resolve_model(runtime, model, hint)
    provider = runtime.providers[resolution.provider]

    if provider.spec.native_responses:
        reasons = [
            r
            for r, on in (
                ("qualified_selector", resolution.qualified),
                ("provider_field", "provider" in doc),
            )
            if on
        ]
        route = "rewrite" if reasons else "passthrough"
        body = ctx.snapshot.body
        if reasons:
            body = orjson.dumps(
                {**{k: v for k, v in doc.items() if k != "provider"}, "model": resolution.model}
            )
        url = provider.url("responses")
    else:
        reasons, route = ["dialect"], "translate"
        chat = responses_to_chat({k: v for k, v in doc.items() if k != "provider"})
        chat["model"] = resolution.model
        chat_body = orjson.dumps(chat)
        semantics = parse_chat(chat_body)
        chat_route = decide(semantics, resolution, provider.spec, _TRANSLATED_POLICY)
        dialect = DIALECTS[provider.spec.dialect]
        body = dialect.body(chat_body, semantics, chat_route)
        url = provider.url(dialect.endpoint)
    header = f"{route}; {', '.join(reasons)}" if reasons else route
    ctx.headers.append((b"x-gomodel-route", header.encode()))
    request = provider.build_request(
        "POST", url, body=body, request_id=ctx.snapshot.request_id, stream=stream
    )
    created = int(runtime.clock())
    response_id = f"resp_{uuid.uuid4().hex}"
    outcome = _Outcome(500, Termination.UPSTREAM_ERROR)  # replaced below, unless a bug
    try:
        if stream:
            outcome = await _stream(
                ctx, provider, request, doc, resolution, route, created, response_id
            )
        else:
            outcome = await _unary(ctx, provider, request, doc, route, created, response_id)
    except ClientGone:
        outcome = _Outcome(499, Termination.CLIENT_DISCONNECT)
        raise
    except GatewayError as error:
        outcome = _Outcome(error.status, termination_for(error), error=error)
        raise
    finally:
        record_usage(
            ctx,
            endpoint=ENDPOINT,
            provider=provider,
            resolution=resolution,
            route=route,
            route_header=header,
            stream=stream,
            status=outcome.status,
            termination=outcome.termination,
            usage=outcome.usage,
            complete=outcome.complete,
            model=outcome.model,
            provider_id=outcome.provider_id,
            first_byte_at=outcome.first_byte_at,
            upstream_seconds=outcome.upstream_seconds
            or trio.current_time() - ctx.snapshot.received_at,
        )
    if outcome.error is not None:
        raise outcome.error


async def _unary(
    ctx: RequestContext,
    provider: Provider,
    request: httpx.Request,
    doc: dict[str, Any],
    route: str,
    created: int,
    response_id: str,
) -> _Outcome:
    result = await fetch(provider, request, receive=ctx.receive, deadlines=ctx.runtime.deadlines)
    store = ctx.runtime.responses
    if route == "translate":
        answer = DIALECTS[provider.spec.dialect].answer(result.body, provider.name, created)
        chat = orjson.loads(answer.body)
        response = chat_to_response(chat, response_id=response_id, created_at=created, request=doc)
        body = orjson.dumps(response)
        usage, model, provider_id = answer.usage, answer.model, answer.provider_id
        store.put(response_id, _stored(provider, created, doc, response))
    else:
        try:
            native = orjson.loads(result.body)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"{provider.name} returned a response that is not JSON")
        if not isinstance(native, dict):
            raise UpstreamError(f"{provider.name} returned a response that is not a JSON object")
        body = result.body  # verbatim: every field the provider sent is kept
        usage = usage_from_object(native.get("usage"))
        model = native.get("model") if isinstance(native.get("model"), str) else None
        provider_id = native.get("id") if isinstance(native.get("id"), str) else None
        if provider_id is not None:
            store.put(provider_id, StoredResponse(provider.name, True, ctx.runtime.clock()))
    await send_raw_json(ctx.send, 200, body, ctx.headers)
    return _Outcome(
        200,
        Termination.COMPLETED,
        usage,
        usage is not None,
        model,
        provider_id,
        trio.current_time(),
        result.upstream_seconds,
    )


async def _stream(
    ctx: RequestContext,
    provider: Provider,
    request: httpx.Request,
    doc: dict[str, Any],
    resolution: Resolution,
    route: str,
    created: int,
    response_id: str,
) -> _Outcome:
    observer: ChatObserver
    to_responses: ChatToResponsesStream | None = None
    if route == "translate":
        to_responses = ChatToResponsesStream(
            response_id=response_id,
            created_at=created,
            model=resolution.model,
            request=doc,
            provider_name=provider.name,
        )
        if provider.spec.dialect is Dialect.OPENAI:
            observer = to_responses
        else:
            chat_doc = responses_to_chat({k: v for k, v in doc.items() if k != "provider"})
            chat_doc["model"] = resolution.model
            semantics = parse_chat(orjson.dumps(chat_doc))
            route_obj = decide(semantics, resolution, provider.spec, _TRANSLATED_POLICY)
            first = DIALECTS[provider.spec.dialect].observer(semantics, route_obj, created)
            observer = ChainedStream(first, to_responses)
    else:
        observer = ResponsesStreamObserver(provider_name=provider.name)
    relay = ctx.stream_relay(provider, request, observer)
    await relay.run()
    store = ctx.runtime.responses
    if to_responses is not None and to_responses.final is not None:
        store.put(response_id, _stored(provider, created, doc, to_responses.final))
    elif route != "translate" and observer.provider_id is not None:
        store.put(observer.provider_id, StoredResponse(provider.name, True, ctx.runtime.clock()))
    return _Outcome(
        relay.status,
        relay.termination or Termination.COMPLETED,
        observer.usage,
        observer.usage is not None and observer.done,
        observer.model,
        observer.provider_id,
        relay.first_byte_at,
        relay.upstream_seconds,
        error=relay.error,  # nothing was sent: rendered as an ordinary error
    )


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
