"""Traces (``OTEL_ENABLED``): one server span per model request and a client span per upstream
attempt under it, named and attributed after OpenTelemetry's GenAI semantic conventions.

Only imported when enabled: the OpenTelemetry SDK is an optional dependency
(``pip install 'gomodel[otel]'``). The tracer provider is the gateway's own (not the global
one), with a batch processor and the OTLP/HTTP exporter, configured by the standard
variables (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``, ``..._HEADERS``,
``..._TIMEOUT``, ``..._CERTIFICATE``; ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``). A
client's ``traceparent`` makes the request span its child.

The request span starts when the request arrived (the snapshot's time, not when the pipeline
reached the watcher), so its duration is the client's view.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio
from opentelemetry import trace
from opentelemetry.propagators.textmap import DefaultGetter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Outcome
from gomodel.pipeline.plan import Plan

__all__ = ["Tracing", "open_tracer_provider"]

# gen_ai.operation.name by the gateway's operation (passthrough: the provider's own API).
_OPERATIONS = {"chat": "chat", "responses": "chat", "embeddings": "embeddings"}
_PROPAGATOR = TraceContextTextMapPropagator()
_GETTER: DefaultGetter = DefaultGetter()


def open_tracer_provider(span_processor: Any = None) -> TracerProvider:
    """The gateway's tracer provider: ``span_processor``, or a batch OTLP/HTTP exporter."""
    name = os.environ.get("OTEL_SERVICE_NAME") or "gomodel"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if span_processor is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        span_processor = BatchSpanProcessor(OTLPSpanExporter())
    assert isinstance(span_processor, SpanProcessor)
    provider.add_span_processor(span_processor)
    return provider


@attrs.define(eq=False, slots=True)
class _Spans:
    request: Span
    attempt: Span | None = None
    status: int | None = None


@attrs.define(eq=False)
class Tracing:
    """A :class:`~gomodel.pipeline.stages.Watcher` and an
    :class:`~gomodel.pipeline.stages.OutcomeObserver`."""

    provider: TracerProvider
    wall_clock_ns: Callable[[], int] = time.time_ns
    _tracer: trace.Tracer = attrs.field(init=False)
    _open: dict[RequestContext, _Spans] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        self._tracer = self.provider.get_tracer("gomodel")

    def request_started(self, ctx: RequestContext, plan: Plan) -> None:
        snapshot = ctx.snapshot
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in snapshot.headers
            if name in (b"traceparent", b"tracestate")
        }
        parent = _PROPAGATOR.extract(carrier, getter=_GETTER) if carrier else None
        waited = trio.current_time() - snapshot.received_at
        route = (
            plan.endpoint if plan.semantics.operation.value != "passthrough" else "/p/{provider}"
        )
        span = self._tracer.start_span(
            f"{snapshot.method} {route}",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=self.wall_clock_ns() - int(waited * 1e9),
            attributes={
                "http.request.method": snapshot.method,
                "http.route": route,
                "url.path": plan.endpoint,
                "gomodel.request_id": snapshot.request_id,
                "gomodel.user_path": ctx.user_path,
                "gomodel.auth_method": ctx.principal.method.value,
                **({"gomodel.key_id": ctx.principal.key_id} if ctx.principal.key_id else {}),
            },
        )
        self._open[ctx] = _Spans(span)

    def attempt(self, ctx: RequestContext, plan: Plan) -> Plan:
        spans = self._open.get(ctx)
        if spans is None:
            return plan
        operation = _OPERATIONS.get(plan.semantics.operation.value)
        model = plan.resolution.model
        system = plan.provider.spec.type
        attributes: dict[str, Any] = {
            "gen_ai.system": system,
            "gen_ai.provider.name": system,
            "gen_ai.request.model": model,
            "gomodel.provider": plan.provider.name,
            "gomodel.route": plan.route.header,
            "gomodel.stream": plan.stream,
        }
        if operation is not None:
            attributes["gen_ai.operation.name"] = operation
        spans.attempt = self._tracer.start_span(
            f"{operation or plan.semantics.operation.value} {model}",
            context=trace.set_span_in_context(spans.request),
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        return plan

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        spans = self._open.get(ctx)
        if spans is None or spans.attempt is None:
            return
        span, spans.attempt = spans.attempt, None
        spans.status = outcome.status
        span.set_attribute("http.response.status_code", outcome.status)
        span.set_attribute("gomodel.termination", outcome.termination.value)
        if outcome.model:
            span.set_attribute("gen_ai.response.model", outcome.model)
        if outcome.provider_id:
            span.set_attribute("gen_ai.response.id", outcome.provider_id)
        usage = outcome.usage
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)
        error = outcome.error
        if error is not None:
            span.set_attribute("error.type", error.code or error.error_type)
            span.set_status(Status(StatusCode.ERROR, error.message))
        elif outcome.termination.value != "completed":
            span.set_attribute("error.type", outcome.termination.value)
            span.set_status(Status(StatusCode.ERROR, outcome.termination.value))
        span.end()

    def request_ended(self, ctx: RequestContext) -> None:
        spans = self._open.pop(ctx, None)
        if spans is None:
            return
        if spans.attempt is not None:  # an attempt whose outcome never came (cancelled)
            spans.attempt.end()
        if spans.status is not None:
            spans.request.set_attribute("http.response.status_code", spans.status)
            if spans.status >= 500:
                spans.request.set_status(Status(StatusCode.ERROR))
        spans.request.end()
