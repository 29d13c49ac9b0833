"""The attempt loop: a request's plan tried target by target, retried and failed over until an
attempt answers, the client leaves, or nothing is left to try (docs/resilience.md).

:func:`run_attempts` is what :func:`gomodel.pipeline.run.serve` runs where it used to run one
attempt. For every surface the same:

1. the :class:`~gomodel.resilience.schedule.Schedule` says which target comes next and after
   how long a wait (failover to the next target at once; retries after a backoff, honouring the
   provider's ``Retry-After``; nothing starts past ``RETRY_TOTAL_TIMEOUT``);
2. a wait watches for the client: ``http.disconnect`` during a backoff ends the request at once
   (:class:`~gomodel.relay.watch.ClientGone`); nothing else is running then, and the watcher is
   the only caller of ``receive()``, as in every exchange;
3. the target's circuit breaker must give a permit; an open breaker skips the deployment (and
   when no target is left, the client gets 503 ``circuit_open`` at once);
4. the attempt itself (the stream relay or the unary exchange) runs with the route header of
   its target and ``X-GoModel-Attempts``; its outcome goes to the observers, so every attempt
   leaves its own usage row with its own termination. When another attempt could follow, a
   stream's prelude (the role chunk...) is held back until its first content
   (:mod:`gomodel.translate.holdback`), so a failure before it stays invisible;
5. :func:`~gomodel.resilience.retry.judge` reads the outcome: answered, retry, or give up; the
   breaker hears the verdict (a call slower than ``CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD`` to its
   first byte counts as a failure).

The last attempt's outcome is returned: the answer was sent, or its error is the client's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import attrs
import trio

from gomodel.errors import GatewayError, UpstreamUnavailable
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Outcome
from gomodel.pipeline.plan import Plan
from gomodel.relay.watch import ClientGone, Receive, watch_disconnect
from gomodel.resilience.breaker import Permit, Verdict
from gomodel.resilience.retry import Judgement, RetryPolicy, judge
from gomodel.resilience.schedule import Schedule, Step, StepKind
from gomodel.translate.holdback import HoldBack

__all__ = ["ATTEMPTS_HEADER", "Attempt", "run_attempts", "wait_or_leave"]

log = logging.getLogger("gomodel.requests")

ATTEMPTS_HEADER = b"x-gomodel-attempts"
_ROUTE_HEADER = b"x-gomodel-route"

Attempt = Callable[[RequestContext, Plan], Awaitable[Outcome]]
"""One upstream exchange for a plan, its outcome observed (``gomodel.pipeline.run``)."""


async def run_attempts(ctx: RequestContext, plan: Plan, attempt: Attempt) -> Outcome:
    """Attempt ``plan`` and its alternatives until one answers or none is left; return the
    last attempt's outcome. Raises :class:`ClientGone` when the client leaves during a wait,
    and a 503 when every target's circuit breaker is open."""
    runtime = ctx.runtime
    fleet = runtime.fleet
    alternatives = plan.alternatives
    policy = runtime.retry
    if alternatives is not None and not alternatives.failover:
        policy = attrs.evolve(policy, failover=False)
    schedule = Schedule(
        policy, 1 if alternatives is None else alternatives.count, ctx.snapshot.received_at
    )
    last: Outcome | None = None
    refused: list[str] = []
    made = 0
    while (step := schedule.next(trio.current_time(), runtime.random())) is not None:
        try:
            current = (
                plan if alternatives is None or not step.index else alternatives.plan(step.index)
            )
        except GatewayError as error:  # this target does not offer the operation
            log.info(
                "request_id=%s target %d ruled out: %s", ctx.snapshot.request_id, step.index, error
            )
            schedule.skip(step.index)
            continue
        if step.wait > 0:
            await wait_or_leave(ctx.receive, step.wait)
        name = current.provider.name
        breaker = fleet.breaker(name)
        permit = breaker.acquire(trio.current_time())
        if permit is None:
            refused.append(name)
            schedule.skip(step.index)
            continue
        made += 1
        if made > 1:
            ctx.attempt_started_at = trio.current_time()
        current = _prepared(ctx, current, step, made, schedule)
        if made > 1:
            log.info(
                "request_id=%s attempt %d (%s) on %s after %.3gs",
                ctx.snapshot.request_id,
                made,
                step.kind.value,
                name,
                step.wait,
            )
        last, judgement = await _one(ctx, current, attempt, permit, policy)
        if not judgement.retry:
            return last
        schedule.failed(
            step.index, trio.current_time(), retry=True, retry_after=judgement.retry_after
        )
    if last is not None:
        return last
    raise _all_refused(ctx, refused)


async def _one(
    ctx: RequestContext, plan: Plan, attempt: Attempt, permit: Permit, policy: RetryPolicy
) -> tuple[Outcome, Judgement]:
    """One attempt, with the deployment's in-flight count and breaker kept up to date."""
    fleet = ctx.runtime.fleet
    name = plan.provider.name
    breaker = fleet.breaker(name)
    started = trio.current_time()
    verdict, detail = Verdict.NEUTRAL, None  # what the breaker hears if the attempt is cancelled
    fleet.enter(name)
    try:
        outcome = await attempt(ctx, plan)
        judgement = judge(
            outcome, policy, idempotent=plan.idempotent, now_epoch=ctx.runtime.clock()
        )
        verdict, detail = judgement.verdict, judgement.detail
        slow = breaker.settings.slow_call_threshold
        took = (outcome.first_byte_at or trio.current_time()) - started
        if verdict is Verdict.SUCCESS and slow is not None and took >= slow:
            verdict, detail = Verdict.SLOW, f"slow call: {took:.3g}s to the first byte"
        return outcome, judgement
    finally:
        fleet.leave(name)
        breaker.release(permit, trio.current_time(), verdict, detail)


def _prepared(ctx: RequestContext, plan: Plan, step: Step, number: int, schedule: Schedule) -> Plan:
    """The plan as this attempt runs it: its route header and attempt count on every answer,
    and its stream prelude held back if another attempt could still replace it."""
    route = plan.route
    if step.kind is StepKind.RETRY and route.target is not None:
        route = attrs.evolve(route, pick="retry")
    elif step.kind is StepKind.RETRY:
        route = attrs.evolve(
            route, target=f"{plan.provider.name}/{route.upstream_model}", pick="retry"
        )
    _set_header(ctx.headers, _ROUTE_HEADER, route.header.encode())
    _set_header(ctx.headers, ATTEMPTS_HEADER, str(number).encode())
    stage, prelude = plan.stage, plan.prelude
    hold = ctx.runtime.config.failover_hold_prelude and prelude is not None
    if (
        stage is not None
        and prelude is not None
        and hold
        and schedule.has_more(trio.current_time())
    ):
        inner = stage
        name = plan.provider.name
        return attrs.evolve(plan, route=route, stage=lambda: HoldBack(inner(), prelude, name))
    return attrs.evolve(plan, route=route) if route is not plan.route else plan


def _set_header(headers: list[tuple[bytes, bytes]], name: bytes, value: bytes) -> None:
    """Replace ``name`` in place: a stream relay holds this very list."""
    for index, (key, _) in enumerate(headers):
        if key == name:
            headers[index] = (name, value)
            return
    headers.append((name, value))


def _all_refused(ctx: RequestContext, refused: list[str]) -> UpstreamUnavailable:
    fleet = ctx.runtime.fleet
    now = trio.current_time()
    waits = [at - now for name in refused if (at := fleet.breaker(name).retry_at(now)) is not None]
    retry_after = max(math.ceil(min(waits)), 1) if waits else 1
    names = ", ".join(dict.fromkeys(refused))
    log.info(
        "request_id=%s no deployment available: circuit open for %s", ctx.snapshot.request_id, names
    )
    return UpstreamUnavailable(
        f"circuit breaker is open - provider temporarily unavailable ({names})",
        code="circuit_open",
        headers={"retry-after": str(retry_after)},
    )


async def wait_or_leave(receive: Receive, seconds: float) -> None:
    """Sleep ``seconds`` unless the client leaves first (then raise :class:`ClientGone`).

    The watcher is the only caller of ``receive()`` for the wait: the exchange before it has
    ended, the one after it has not started."""
    gone = False
    async with trio.open_nursery() as nursery:

        def on_disconnect() -> None:
            nonlocal gone
            gone = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch_disconnect, receive, on_disconnect)
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    if gone:
        raise ClientGone
