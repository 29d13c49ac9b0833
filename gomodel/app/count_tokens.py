"""``POST /v1/messages/count_tokens``: how many input tokens a Messages request would take.

* Anthropic's models: asked of Anthropic's own ``/messages/count_tokens`` (the body verbatim,
  or with the selector and the ``provider`` field edited; the client's ``anthropic-version``
  and ``anthropic-beta`` with it), and its answer relayed as it came.
* Every other model: nobody can count exactly (the gateway has no tokenizer, and providers
  differ), so the answer is :func:`~gomodel.translate.messages_tokens.estimate_input_tokens`,
  ``{"input_tokens": N}``. The request is first validated as a real one would be
  (:func:`~gomodel.translate.messages_request.messages_to_chat`), so the same bad input gets
  the same 400.

Counting costs nothing at the provider, so neither leaves a usage row (as the Responses API's
``input_tokens``). The resolution, the key's model allow-list and the client watch are those of a
real request.
"""

from __future__ import annotations

import orjson

from gomodel.app.messages import anthropic_headers
from gomodel.app.render import send_json
from gomodel.ingress.semantics import Semantics, parse_messages
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer
from gomodel.pipeline.run import authorize, resolve_target, send_answer
from gomodel.providers.client import Provider
from gomodel.providers.passthrough_headers import response_headers_for
from gomodel.providers.spec import Dialect
from gomodel.relay.unary import UnaryExchange, UnaryResult
from gomodel.relay.watch import ClientGone
from gomodel.routing.resolve import Resolution
from gomodel.routing.rewrite import with_model
from gomodel.termination import Termination
from gomodel.translate.messages_request import messages_to_chat
from gomodel.translate.messages_tokens import estimate_input_tokens

__all__ = ["count_tokens"]

# What the validation stands in for the max_tokens a count_tokens request does not carry.
_VALIDATION_MAX_TOKENS = 1


async def count_tokens(ctx: RequestContext) -> None:
    semantics = parse_messages(ctx.snapshot.body)
    resolution, provider = await resolve_target(ctx, semantics)
    authorize(ctx, resolution, provider)
    if provider.spec.dialect is Dialect.ANTHROPIC:
        await _ask_anthropic(ctx, semantics, resolution, provider)
        return
    doc = semantics.doc
    messages_to_chat(doc, model=resolution.model, default_max_tokens=_VALIDATION_MAX_TOKENS)
    await send_json(ctx.send, 200, {"input_tokens": estimate_input_tokens(doc)}, ctx.headers)


async def _ask_anthropic(
    ctx: RequestContext, semantics: Semantics, resolution: Resolution, provider: Provider
) -> None:
    body = ctx.snapshot.body
    if resolution.qualified or "provider" in semantics.doc:
        body = orjson.dumps(with_model(semantics.doc, resolution.model))
    request = provider.build_request(
        "POST",
        provider.url("messages/count_tokens"),
        body=body,
        request_id=ctx.snapshot.request_id,
        stream=False,
    )
    for name, value in anthropic_headers(ctx.snapshot.headers):
        request.headers[name] = value

    def answer(result: UnaryResult) -> Answer:
        return Answer(result.body, headers=response_headers_for(result.headers.raw))

    exchange = UnaryExchange(provider, request, ctx.receive, ctx.runtime.deadlines, answer=answer)
    outcome = await exchange.run()
    if outcome.termination is Termination.CLIENT_DISCONNECT:
        raise ClientGone
    if outcome.error is not None:
        raise outcome.error
    if exchange.result is not None:
        await send_answer(ctx, exchange.result)
