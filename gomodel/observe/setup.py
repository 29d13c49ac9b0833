"""Everything observability adds to a runtime, built from the configuration in one place:
the metrics registry and observer, the sampler and the metrics route; the audit writer and its
watcher; the tracer. ``open_runtime`` enters :func:`open_observability` around its nursery:
it plugs its observers and watchers into the runtime's stages, runs its background tasks, and
stops after the usage recorder has flushed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import attrs
import trio

from gomodel.observe import multiproc
from gomodel.observe.metrics import Metrics
from gomodel.observe.observer import MetricsObserver
from gomodel.observe.sampler import Sampler
from gomodel.pipeline.stages import OutcomeObserver, Watcher
from gomodel.storage.recorder import UsageRecorder

if TYPE_CHECKING:
    from gomodel.app.runtime import Runtime

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
        nursery = await stack.enter_async_context(trio.open_nursery())
        if config.metrics_enabled:
            directory = multiproc.worker_directory()
            if directory is not None:
                multiproc.sweep(directory, starting=True)
                stack.callback(multiproc.leave, directory)
            metrics = Metrics.create(directory)
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
        stages = runtime.stages
        runtime.stages = attrs.evolve(
            stages,
            observers=(*stages.observers, *observers),
            watchers=(*stages.watchers, *watchers),
        )
        yield
        nursery.cancel_scope.cancel()
