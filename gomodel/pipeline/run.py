"""The one request pipeline every model surface runs (docs/architecture.md, "The pipeline").

A surface parses its request into :class:`~gomodel.ingress.semantics.Semantics` and says how to
plan an attempt on a given target; :func:`plans` selects the targets (a virtual model's, a
provider's deployments), keeps those the caller may use (a managed key's allow-list), admits the
request on the first (rate limits, budgets) and plans it; :func:`serve` runs the rest the same
way for every surface: the answer cache, the attempts (:mod:`gomodel.pipeline.attempts`: each
the stream relay or the watched unary exchange, retried or failed over before the response
started), the outcome observers after each attempt in a ``finally`` (so a client leaving, an
error and a shutdown all leave their usage row), the settlement of what admission reserved,
then the answer or the error.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs
import trio

from gomodel.errors import GatewayError, ModelNotFound
from gomodel.ingress.semantics import Semantics
from gomodel.ingress.user_path import normalize_user_path
from gomodel.keys.models import check_model, model_allowed
from gomodel.pipeline.attempts import run_attempts
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Alternatives, Plan, Target
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamRelay
from gomodel.relay.unary import UnaryExchange
from gomodel.relay.watch import ClientGone
from gomodel.routing.decision import capped, decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.targets import Selection, select
from gomodel.termination import Termination

__all__ = [
    "INITIAL_LOAD_WAIT",
    "authorize",
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
    targets = _authorized(ctx, semantics, selection)
    # Admission reserves for the request once, on its first target; the others share the
    # reservation and any output cap it set (a budget bounds the request, wherever it goes).
    admitted = await ctx.runtime.stages.admission.admit(ctx, targets[0])
    if admitted is not targets[0]:
        targets = [admitted, *(_readmitted(ctx, admitted, t) for t in targets[1:])]
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
    """The request's first target (deployment and upstream model, once the caller is known),
    authorized, its route decided, and admitted (for surfaces that do not fail over)."""
    targets = _authorized(ctx, semantics, await select_targets(ctx, semantics))
    return await ctx.runtime.stages.admission.admit(ctx, targets[0])


def authorize(ctx: RequestContext, resolution: Resolution, provider: Provider) -> None:
    """A managed key with a model allow-list may use the resolved target only (403). A
    deployment is judged as its provider (``azure/gpt-4o`` allows ``azure.east``), or by its
    own name."""
    key = ctx.principal.key
    if key is None or key.allowed_models is None:
        return
    group = provider.config.group
    if group is not None and model_allowed(
        key.allowed_set, provider=group, provider_type=provider.spec.type, model=resolution.model
    ):
        return
    check_model(
        key,
        provider=provider.name,
        provider_type=provider.spec.type,
        model=resolution.model,
        requested=resolution.requested,
    )


async def resolve_target(ctx: RequestContext, semantics: Semantics) -> tuple[Resolution, Provider]:
    """The first target's resolution and provider (for calls that are never failed over),
    once the caller is known; not authorized or admitted."""
    resolution = (await select_targets(ctx, semantics)).targets[0]
    return resolution, ctx.runtime.providers[resolution.provider]


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


def _authorized(ctx: RequestContext, semantics: Semantics, selection: Selection) -> list[Target]:
    """The selected targets the caller may use, decided; the first refusal when none."""
    targets: list[Target] = []
    refusal: GatewayError | None = None
    for resolution in selection.targets:
        provider = ctx.runtime.providers[resolution.provider]
        try:
            authorize(ctx, resolution, provider)
        except GatewayError as error:  # a managed key's model allow-list
            refusal = refusal or error
            continue
        targets.append(_decided(ctx, semantics, resolution))
    if not targets:
        assert refusal is not None
        raise refusal
    return targets


def _readmitted(ctx: RequestContext, admitted: Target, other: Target) -> Target:
    """Another target under the first one's admission: its reservation, and its output cap
    when admission lowered it (the route says ``output_capped``)."""
    if admitted.semantics is other.semantics:
        return attrs.evolve(other, admitted=admitted.admitted)
    route = decide(admitted.semantics, other.resolution, other.provider.spec, ctx.runtime.policy)
    return attrs.evolve(
        other, semantics=admitted.semantics, route=capped(route), admitted=admitted.admitted
    )


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
        outcome = await run_attempts(ctx, plan, partial(_attempt, outcomes=outcomes))
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
