"""The one request pipeline every model surface runs (docs/architecture.md, "The pipeline").

A surface parses its request into :class:`~gomodel.ingress.semantics.Semantics` and says how to
plan an attempt on a given target; :func:`plans` selects the targets (a virtual model's, a
provider's deployments) and plans the first; :func:`serve` runs the rest the same way for every
surface: admission, the answer cache, the attempts (:mod:`gomodel.pipeline.attempts`: each the
stream relay or the watched unary exchange, retried or failed over before the response
started), the outcome observers after each attempt in a ``finally`` (so a client leaving, an
error and a shutdown all leave their usage row), then the answer or the error.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import trio

from gomodel.errors import GatewayError, ModelNotFound
from gomodel.ingress.semantics import Semantics
from gomodel.ingress.user_path import normalize_user_path
from gomodel.pipeline.attempts import run_attempts
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Alternatives, Plan, Target
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamRelay
from gomodel.relay.unary import UnaryExchange
from gomodel.relay.watch import ClientGone
from gomodel.routing.decision import decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.targets import Selection, select
from gomodel.termination import Termination

__all__ = [
    "INITIAL_LOAD_WAIT",
    "identify",
    "plans",
    "resolve_target",
    "select_targets",
    "send_answer",
    "serve",
    "target",
    "with_alternatives",
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


async def plans(
    ctx: RequestContext,
    semantics: Semantics,
    build: Callable[[Target], Plan],
    *,
    same_model: bool = False,
) -> Plan:
    """The plan for the request's first target, with the others as its alternatives.

    ``build`` is the surface's: a target (deployment, model, route decided) -> its plan.
    ``same_model``: only targets asking for the first target's model (embeddings)."""
    selection = await select_targets(ctx, semantics)
    if same_model:
        selection = selection.same_model()
    targets = [_decided(ctx, semantics, resolution) for resolution in selection.targets]
    # The first target that can take the request (one that does not offer the operation,
    # such as embeddings on Anthropic, is passed over); its error if none can.
    first: Plan | None = None
    problem: GatewayError | None = None
    while targets and first is None:
        try:
            first = build(targets[0])
        except GatewayError as error:
            problem = problem or error
            targets.pop(0)
    if first is None:
        assert problem is not None
        raise problem
    return with_alternatives(first, len(targets), lambda i: build(targets[i]), selection.failover)


def with_alternatives(
    first: Plan, count: int, make: Callable[[int], Plan], failover: bool = True
) -> Plan:
    """``first`` carrying the request's other targets (``make(i)`` plans target ``i``)."""
    if count <= 1:
        return first
    return attrs.evolve(first, alternatives=Alternatives(count, make, failover))


async def target(ctx: RequestContext, semantics: Semantics) -> Target:
    """The request's first target: deployment and upstream model (once the caller is known),
    and its route decided."""
    selection = await select_targets(ctx, semantics)
    return _decided(ctx, semantics, selection.targets[0])


async def resolve_target(ctx: RequestContext, semantics: Semantics) -> tuple[Resolution, Provider]:
    """The first target's resolution and provider (for calls that are never failed over)."""
    chosen = await target(ctx, semantics)
    return chosen.resolution, chosen.provider


async def select_targets(ctx: RequestContext, semantics: Semantics) -> Selection:
    """The deployments that may serve the request, in the order to try them, once the caller
    is known (sticky routing hashes its key or user path).

    A model not known yet waits for the first model-list load."""
    identify(ctx)
    runtime = ctx.runtime
    sticky = ctx.principal.key_id or ctx.user_path

    def selected() -> Selection:
        return select(
            semantics.model,
            semantics.provider,
            runtime.catalog,
            runtime.routing,
            runtime.fleet,
            sticky_key=sticky,
        )

    try:
        return selected()
    except ModelNotFound:
        if runtime.initial_load.is_set():
            raise
        with trio.move_on_after(INITIAL_LOAD_WAIT):
            await runtime.initial_load.wait()
        return selected()


def _decided(ctx: RequestContext, semantics: Semantics, resolution: Resolution) -> Target:
    provider = ctx.runtime.providers[resolution.provider]
    route = decide(semantics, resolution, provider.spec, ctx.runtime.policy)
    return Target(semantics, resolution, provider, route, ctx.snapshot.request_id)


async def serve(ctx: RequestContext, plan: Plan) -> None:
    """Run ``plan`` and answer the client; every attempt leaves its outcome with the observers.

    Raises the error the client must be answered with (before its response started), or
    :class:`~gomodel.relay.watch.ClientGone`."""
    stages = ctx.runtime.stages
    ctx.headers.append((b"x-gomodel-route", plan.route.header.encode()))
    plan = await stages.admission.admit(ctx, plan)
    cached = await stages.cache.lookup(ctx, plan)
    if cached is not None:
        await send_answer(ctx, cached)
        return
    outcome = await run_attempts(ctx, plan, _attempt)
    if outcome.termination is Termination.CLIENT_DISCONNECT and not outcome.started:
        raise ClientGone
    if outcome.error is not None and not outcome.started:
        raise outcome.error


async def _attempt(ctx: RequestContext, plan: Plan) -> Outcome:
    """One upstream exchange for ``plan``; its outcome goes to the observers whatever happens."""
    runtime = ctx.runtime
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
        )
    try:
        outcome = await exchange.run()
        plan.finished(outcome)
    finally:
        runtime.stages.observe(ctx, plan, exchange.outcome())
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
