"""The one request pipeline every model surface runs (docs/architecture.md, "The pipeline").

A surface parses its request into :class:`~gomodel.ingress.semantics.Semantics`, finds the
provider with :func:`resolve_target`, decides a :class:`~gomodel.pipeline.plan.Plan`, and hands
it to :func:`serve`, which runs the rest the same way for every surface: admission, the answer
cache, the attempt (the stream relay or the watched unary exchange), the outcome observers in a
``finally`` (so a client leaving, an error and a shutdown all leave their usage row), then the
answer or the error.
"""

from __future__ import annotations

import trio

from gomodel.errors import ModelNotFound
from gomodel.ingress.semantics import Semantics
from gomodel.ingress.user_path import normalize_user_path
from gomodel.keys.models import check_model
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Plan, Target
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamRelay
from gomodel.relay.unary import UnaryExchange
from gomodel.relay.watch import ClientGone
from gomodel.routing.decision import decide
from gomodel.routing.resolve import Resolution, resolve
from gomodel.termination import Termination

__all__ = [
    "INITIAL_LOAD_WAIT",
    "authorize",
    "identify",
    "resolve_target",
    "send_answer",
    "serve",
    "target",
]

# A request for an unknown model waits this long for the first model-list load to finish.
INITIAL_LOAD_WAIT = 10.0
_JSON = (b"content-type", b"application/json")


def identify(ctx: RequestContext) -> None:
    """Settle whom the request is for: a managed key's user path, else the request's own
    ``X-GoModel-User-Path`` (400 if malformed)."""
    ctx.user_path = ctx.principal.user_path or normalize_user_path(
        ctx.snapshot.header(b"x-gomodel-user-path")
    )


async def target(ctx: RequestContext, semantics: Semantics) -> Target:
    """The request resolved (provider and upstream model, once the caller is known) and its
    route decided."""
    resolution, provider = await resolve_target(ctx, semantics)
    authorize(ctx, resolution, provider)
    route = decide(semantics, resolution, provider.spec, ctx.runtime.policy)
    chosen = Target(semantics, resolution, provider, route, ctx.snapshot.request_id)
    return await ctx.runtime.stages.admission.admit(ctx, chosen)


def authorize(ctx: RequestContext, resolution: Resolution, provider: Provider) -> None:
    """A managed key with a model allow-list may use the resolved target only (403)."""
    key = ctx.principal.key
    if key is not None and key.allowed_models is not None:
        check_model(
            key,
            provider=provider.name,
            provider_type=provider.spec.type,
            model=resolution.model,
            requested=resolution.requested,
        )


async def resolve_target(ctx: RequestContext, semantics: Semantics) -> tuple[Resolution, Provider]:
    """The provider and upstream model for the request's selector, once the caller is known.

    A model not known yet waits for the first model-list load."""
    identify(ctx)
    runtime = ctx.runtime
    try:
        resolution = resolve(semantics.model, semantics.provider, runtime.catalog)
    except ModelNotFound:
        if runtime.initial_load.is_set():
            raise
        with trio.move_on_after(INITIAL_LOAD_WAIT):
            await runtime.initial_load.wait()
        resolution = resolve(semantics.model, semantics.provider, runtime.catalog)
    return resolution, runtime.providers[resolution.provider]


async def serve(ctx: RequestContext, plan: Plan) -> None:
    """Run ``plan`` and answer the client; every attempt leaves its outcome with the observers,
    and the watchers see the request begin and end.

    Raises the error the client must be answered with (before its response started), or
    :class:`~gomodel.relay.watch.ClientGone`."""
    stages = ctx.runtime.stages
    stages.request_started(ctx, plan)
    try:
        await _serve(ctx, plan)
    finally:
        stages.request_ended(ctx)


async def _serve(ctx: RequestContext, plan: Plan) -> None:
    stages = ctx.runtime.stages
    ctx.headers.append((b"x-gomodel-route", plan.route.header.encode()))
    outcomes: list[Outcome] = []
    try:
        cached = await stages.cache.lookup(ctx, plan)
        if cached is not None:
            await send_answer(ctx, cached)
            return
        outcome = await _attempt(ctx, plan, outcomes)
    finally:
        # Whatever happened (the client left, a shutdown), what was reserved is settled.
        await stages.admission.settle(ctx, plan, outcomes)
    if outcome.termination is Termination.CLIENT_DISCONNECT and not outcome.started:
        raise ClientGone
    if outcome.error is not None and not outcome.started:
        raise outcome.error


async def _attempt(ctx: RequestContext, plan: Plan, outcomes: list[Outcome]) -> Outcome:
    """One upstream exchange for ``plan``; its outcome goes to the observers (and onto
    ``outcomes``) whatever happens."""
    runtime = ctx.runtime
    plan = runtime.stages.attempt(ctx, plan)
    exchange: StreamRelay | UnaryExchange
    if plan.stage is not None:
        exchange = StreamRelay(
            provider=plan.provider,
            request=plan.request,
            receive=ctx.receive,
            send=ctx.send,
            response_headers=ctx.headers,
            stage=plan.stage(),
            deadlines=runtime.deadlines,
            max_event_size=runtime.config.stream_max_event_bytes,
            error_event=plan.error_event,
        )
    else:
        exchange = UnaryExchange(
            provider=plan.provider,
            request=plan.request,
            receive=ctx.receive,
            deadlines=runtime.deadlines,
            answer=plan.answer,
            any_success=plan.any_success,
            max_body=runtime.config.upstream_max_body_size,
        )
    try:
        outcome = await exchange.run()
        plan.finished(outcome)
    finally:
        last = exchange.outcome()
        outcomes.append(last)
        runtime.stages.observe(ctx, plan, last)
    # A non-streamed answer goes out once its row is with the recorder.
    answer = exchange.result if isinstance(exchange, UnaryExchange) else None
    if answer is not None and outcome.termination is Termination.COMPLETED:
        await send_answer(ctx, answer)
    return outcome


async def send_answer(ctx: RequestContext, answer: Answer) -> None:
    """A non-streamed answer: the upstream's headers (passthrough), ours, the body."""
    body = answer.body
    headers = [_JSON] if answer.headers is None else list(answer.headers)
    headers += ctx.headers
    headers.append((b"content-length", str(len(body)).encode()))
    await ctx.send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await ctx.send({"type": "http.response.body", "body": body})
