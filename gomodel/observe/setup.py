"""Everything observability adds to a runtime, built from the configuration in one place:
the metrics registry and observer, the sampler and the metrics route; the audit writer and its
watcher; the tracer. ``open_runtime`` enters :func:`open_observability` around its nursery:
it plugs its observers and watchers into the runtime's stages, runs its background tasks, and
stops after the usage recorder has flushed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from gomodel.audit.observer import AuditWatcher
from gomodel.audit.redact import Redactor
from gomodel.audit.writer import AuditWriter
from gomodel.errors import ConfigError
from gomodel.observe import multiproc
from gomodel.observe.metrics import Metrics
from gomodel.observe.observer import MetricsObserver
from gomodel.observe.sampler import Sampler
from gomodel.pipeline.stages import OutcomeObserver, Watcher
from gomodel.storage.audit import open_audit_store
from gomodel.storage.recorder import UsageRecorder

if TYPE_CHECKING:
    from gomodel.app.runtime import Runtime
    from gomodel.observe.tracing import Tracing

__all__ = ["open_observability"]

log = logging.getLogger("gomodel")


@asynccontextmanager
async def open_observability(
    runtime: Runtime, *, span_processor: object = None
) -> AsyncIterator[None]:
    """Turn on what the configuration asks for, for the duration of the block."""
    config = runtime.config
    observers: list[OutcomeObserver] = []
    watchers: list[Watcher] = []
    async with AsyncExitStack() as stack:
        # The audit store closes last: after the writer, in the nursery, wrote what it holds.
        writer = _audit_writer(runtime, stack) if config.logging_enabled else None
        nursery = await stack.enter_async_context(trio.open_nursery())
        if config.metrics_enabled:
            directory = multiproc.worker_directory()
            if directory is not None:
                multiproc.sweep(directory, starting=True)
                stack.callback(multiproc.leave, directory)
            metrics = Metrics.create(directory)
            stack.callback(metrics.flush)  # the last updates, before this worker's files close
            recorder = runtime.usage if isinstance(runtime.usage, UsageRecorder) else None
            # The recorder prices each row once and hands it over; without one the observer
            # prices the record itself (nobody else does).
            observer = MetricsObserver(
                metrics, prices=None if recorder is not None else config.price_table
            )
            if recorder is not None:
                recorder.on_row = observer.on_row
            observers.append(observer)
            watchers.append(observer)
            runtime.metrics = metrics
            runtime.sampler = Sampler(
                metrics, runtime.providers, usage=recorder.statistics if recorder else None
            )
            await nursery.start(runtime.sampler.serve)
            from gomodel.app.metrics import metrics as metrics_route

            runtime.routes = {**runtime.routes, config.metrics_endpoint: {"GET": metrics_route}}
            if not (config.metrics_token or config.master_key):
                log.warning(
                    "METRICS_ENABLED without METRICS_TOKEN or GOMODEL_MASTER_KEY: %s answers "
                    "loopback clients only",
                    config.metrics_endpoint,
                )
        if writer is not None:
            await nursery.start(writer.serve)
            audit = AuditWatcher(
                writer,
                bodies=config.logging_log_bodies,
                headers=config.logging_log_headers,
                cap=config.logging_max_body_bytes,
            )
            observers.append(audit)
            watchers.append(audit)
            if runtime.sampler is not None:
                runtime.sampler.audit = writer.statistics
        if config.otel_enabled:
            tracing = _tracing(span_processor)
            stack.push_async_callback(_close, tracing.provider.shutdown)
            observers.append(tracing)
            watchers.append(tracing)
        stages = runtime.stages
        runtime.stages = attrs.evolve(
            stages,
            observers=(*stages.observers, *observers),
            watchers=(*stages.watchers, *watchers),
        )
        yield
        nursery.cancel_scope.cancel()


def _audit_writer(runtime: Runtime, stack: AsyncExitStack) -> AuditWriter:
    config = runtime.config
    store = open_audit_store(
        config.storage_type, sqlite_path=config.sqlite_path, postgres_url=config.postgres_url or ""
    )
    stack.push_async_callback(_close, store.close)
    runtime.audit = store
    secrets = [p.api_key for p in config.providers if p.api_key]
    secrets += [s for s in (config.master_key, config.metrics_token) if s]
    return AuditWriter(
        store,
        Redactor(secrets),
        config.logging_max_body_bytes,
        buffer_size=config.logging_buffer_size,
        flush_interval=config.logging_flush_interval,
        retention_days=config.logging_retention_days,
    )


async def _close(close: Callable[[], None]) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(5.0):
        await trio.to_thread.run_sync(close)


def _tracing(span_processor: object) -> Tracing:
    try:
        from gomodel.observe.tracing import Tracing, open_tracer_provider
    except ImportError as exc:
        raise ConfigError(
            "OTEL_ENABLED", f"needs the OpenTelemetry SDK: pip install 'gomodel[otel]' ({exc})"
        )
    return Tracing(open_tracer_provider(span_processor))
