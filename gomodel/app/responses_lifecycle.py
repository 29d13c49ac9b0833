"""``/v1/responses/{id}`` (GET, DELETE), ``/{id}/cancel``, ``/{id}/input_items`` and
``/v1/responses/input_tokens``.

A response a native provider created is asked of that provider (the gateway remembers which
one; an id it never saw is looked for at each native provider in turn, as the Go gateway does).
A response the gateway made by translation is served from its own store
(:mod:`gomodel.app.response_store`); such responses cannot be cancelled (501), and
``input_tokens`` needs a native provider (501 otherwise).
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.app.render import send_json
from gomodel.errors import GatewayError, MethodNotAllowed, NotFound
from gomodel.ingress.paths import response_path, upstream_query
from gomodel.ingress.semantics import parse_responses
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer
from gomodel.pipeline.run import resolve_target, send_answer
from gomodel.providers.client import Provider
from gomodel.relay.unary import UnaryExchange
from gomodel.routing.rewrite import with_model

__all__ = ["PREFIX", "response_lifecycle"]

PREFIX = "/v1/responses/"


def _unsupported(what: str) -> GatewayError:
    return GatewayError(
        f"{what} is not available for responses the gateway translated",
        code="unsupported_response_operation",
        status=501,
    )


async def response_lifecycle(ctx: RequestContext) -> None:
    method = ctx.snapshot.method
    response_id, action = response_path(ctx.snapshot.raw_path, ctx.snapshot.path)
    rest = f"{response_id}/{action}" if action else response_id
    if rest == "input_tokens":
        if method != "POST":
            raise MethodNotAllowed(f"use POST on {ctx.snapshot.path}", headers={"allow": "POST"})
        await _input_tokens(ctx)
        return
    allowed = {"": ("GET", "DELETE"), "cancel": ("POST",), "input_items": ("GET",)}
    if not response_id or action not in allowed:
        raise NotFound(f"unknown route: {method} {ctx.snapshot.path}", code="unknown_route")
    if method not in allowed[action]:
        raise MethodNotAllowed(
            f"method {method} is not allowed on {ctx.snapshot.path}",
            headers={"allow": ", ".join(allowed[action])},
        )
    runtime = ctx.runtime
    entry = runtime.responses.get(response_id, runtime.clock())
    if entry is not None and not entry.native:
        await _translated(ctx, response_id, action, entry.response or {}, entry.input_items)
        return
    if entry is not None:
        candidates = [runtime.providers[entry.provider]]
    else:
        candidates = [p for p in runtime.providers.values() if p.spec.native_responses]
    for provider in candidates:
        try:
            await _forward(ctx, provider, f"responses/{rest}", body=None)
        except NotFound:
            continue
        if method == "DELETE":
            runtime.responses.delete(response_id)
        return
    raise NotFound(f"response not found: {response_id}", code="response_not_found")


async def _translated(
    ctx: RequestContext,
    response_id: str,
    action: str,
    response: dict[str, Any],
    items: tuple[dict[str, Any], ...],
) -> None:
    method = ctx.snapshot.method
    if action == "cancel":
        raise _unsupported("cancelling")
    if action == "input_items":
        data = list(items)
        page = {
            "object": "list",
            "data": data,
            "first_id": data[0].get("id") if data else None,
            "last_id": data[-1].get("id") if data else None,
            "has_more": False,
        }
        await send_json(ctx.send, 200, page, ctx.headers)
    elif method == "DELETE":
        ctx.runtime.responses.delete(response_id)
        answer = {"id": response_id, "object": "response", "deleted": True}
        await send_json(ctx.send, 200, answer, ctx.headers)
    else:
        await send_json(ctx.send, 200, response, ctx.headers)


async def _input_tokens(ctx: RequestContext) -> None:
    semantics = parse_responses(ctx.snapshot.body)
    resolution, provider = await resolve_target(ctx, semantics)
    if not provider.spec.native_responses:
        raise _unsupported("counting input tokens")
    body = orjson.dumps(with_model(semantics.doc, resolution.model))
    await _forward(ctx, provider, "responses/input_tokens", body=body)


async def _forward(
    ctx: RequestContext, provider: Provider, endpoint: str, body: bytes | None
) -> None:
    """Ask the provider and relay its JSON answer. Bookkeeping calls cost nothing at the
    provider, so they leave no usage row."""
    url = f"{provider.config.base_url}/{endpoint}"
    url += upstream_query(ctx.snapshot.query)
    request = provider.build_request(
        ctx.snapshot.method, url, body=body, request_id=ctx.snapshot.request_id, stream=False
    )
    exchange = UnaryExchange(
        provider,
        request,
        ctx.receive,
        ctx.runtime.deadlines,
        answer=lambda result: Answer(result.body, status=result.status),
        any_success=True,
    )
    outcome = await exchange.run()
    if outcome.error is not None:
        raise outcome.error
    if exchange.result is not None:
        await send_answer(ctx, exchange.result)
