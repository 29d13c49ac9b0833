"""The audit log's place in the pipeline: one entry per request, handed to the writer when the
request ends (after its last attempt), with the facts of the last attempt.

A :class:`~gomodel.pipeline.stages.Watcher` and an
:class:`~gomodel.pipeline.stages.OutcomeObserver`. With ``LOGGING_LOG_BODIES`` it taps each
attempt: a non-streamed answer is kept as the client gets it (a reference to its bytes), a
stream goes through :class:`~gomodel.translate.stage.Tapped` into a
:class:`~gomodel.audit.reassemble.StreamReassembler`. Without bodies nothing is wrapped: the
plan runs as it came. Redaction and caps are the writer's, off the request path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from gomodel.audit.entry import AuditRecord
from gomodel.audit.reassemble import StreamReassembler
from gomodel.ingress.forwarded import client_address
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.observers import Timings
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Plan
from gomodel.relay.stream import SSE_HEADERS
from gomodel.relay.unary import UnaryResult
from gomodel.translate.stage import StreamStage, Tapped

__all__ = ["AuditWatcher"]

_JSON = [(b"content-type", b"application/json")]


@attrs.define(eq=False, slots=True)
class _Request:
    attempts: int = 0
    plan: Plan | None = None
    outcome: Outcome | None = None
    times: Timings | None = None
    answer: Answer | None = None
    stream: StreamReassembler | None = None


class _Sink(Protocol):
    def record(self, record: AuditRecord) -> None: ...


@attrs.define(eq=False)
class AuditWatcher:
    writer: _Sink  # the AuditWriter
    bodies: bool  # LOGGING_LOG_BODIES
    headers: bool  # LOGGING_LOG_HEADERS
    cap: int  # LOGGING_MAX_BODY_SIZE: a reassembled stream keeps at most this much text
    wall_clock: Callable[[], float] = time.time
    _open: dict[RequestContext, _Request] = attrs.field(factory=dict, init=False)

    def request_started(self, ctx: RequestContext, plan: Plan) -> None:
        self._open[ctx] = _Request()

    def attempt(self, ctx: RequestContext, plan: Plan) -> Plan:
        request = self._open.get(ctx)
        if request is None:
            return plan
        request.attempts += 1
        request.answer = request.stream = None
        if not self.bodies:
            return plan
        if plan.stage is not None:
            reassembler = request.stream = StreamReassembler(self.cap)
            make = plan.stage

            def tapped_stage() -> StreamStage:
                return Tapped(make(), reassembler.feed)

            return attrs.evolve(plan, stage=tapped_stage)
        answer = plan.answer

        def tapped_answer(result: UnaryResult) -> Answer:
            request.answer = answer(result)
            return request.answer

        return attrs.evolve(plan, answer=tapped_answer)

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        request = self._open.get(ctx)
        if request is not None:
            request.plan, request.outcome = plan, outcome
            request.times = Timings.of(ctx, outcome)

    def request_ended(self, ctx: RequestContext) -> None:
        request = self._open.pop(ctx, None)
        if request is None or request.plan is None or request.outcome is None:
            return  # refused before any attempt (admission), or answered from a cache
        plan, outcome, times = request.plan, request.outcome, request.times
        assert times is not None
        snapshot = ctx.snapshot
        error = outcome.error
        answer = request.answer
        response_headers = None
        if self.headers:
            if plan.stream and outcome.started:
                response_headers = [*SSE_HEADERS, *ctx.headers]
            elif answer is not None and outcome.error is None:
                response_headers = [*(answer.headers or _JSON), *ctx.headers]
            else:
                response_headers = [*_JSON, *ctx.headers]
        received = self.wall_clock() - (trio.current_time() - snapshot.received_at)
        self.writer.record(
            AuditRecord(
                received_at=received,
                request_id=snapshot.request_id,
                key_id=ctx.principal.key_id,
                auth_method=ctx.principal.method.value,
                user_path=ctx.user_path,
                client=client_address(snapshot, ctx.runtime.config.trusted_proxy_hops),
                method=snapshot.method,
                path=plan.endpoint,  # re-encoded, as the usage row keeps it
                route=plan.semantics.operation.value,
                provider=plan.provider.name,
                provider_type=plan.provider.spec.type,
                requested_model=plan.resolution.requested,
                model=outcome.model or plan.resolution.model,
                route_kind=plan.route.header,
                stream=plan.stream,
                status=outcome.status,
                termination=outcome.termination.value,
                attempts=request.attempts,
                duration_ms=times.latency * 1000,
                ttfb_ms=None if times.ttfb is None else times.ttfb * 1000,
                overhead_ms=times.overhead * 1000,
                usage=outcome.usage,
                error_type=None if error is None else error.error_type,
                error_code=None if error is None else error.code,
                error_message=None if error is None else error.message,
                request_headers=snapshot.headers if self.headers else None,
                response_headers=response_headers,
                request_body=snapshot.body if self.bodies else None,
                response_body=answer.body if answer is not None else None,
                response_stream=_stream_answer(request.stream, outcome),
            )
        )


def _stream_answer(stream: StreamReassembler | None, outcome: Outcome) -> dict[str, Any] | None:
    """The reassembled stream; with the provider's counts when the client's stream had none
    (the gateway asked for usage itself and kept the usage chunk from the client)."""
    if stream is None:
        return None
    answer = stream.result()
    usage = outcome.usage
    if answer is not None and usage is not None and "usage" not in answer:
        answer["usage"] = {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
        }
    return answer
