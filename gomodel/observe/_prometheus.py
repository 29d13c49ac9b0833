"""The one module that imports prometheus_client, and only once metrics are turned on.

prometheus_client chooses between in-process values and multiprocess files when it is first
imported (``PROMETHEUS_MULTIPROC_DIR`` set or not), so the directory is put in the environment
before the import; if the library was already imported in-process by something else, its value
class is switched to the files explicitly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gomodel.observe.multiproc import ENV
from gomodel.observe.series import Series

__all__ = ["CONTENT_TYPE", "backend", "observe_many", "render"]

log = logging.getLogger("gomodel.metrics")

# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Make = Callable[[Series, Any], Any]


def backend(directory: Path | None) -> tuple[Any, Make]:
    """A registry for this runtime's metrics, and how to make one metric in it."""
    if directory is not None:
        os.environ[ENV] = str(directory)
    from prometheus_client import CollectorRegistry, values

    if directory is not None and not getattr(values.ValueClass, "_multiprocess", False):
        log.warning(
            "prometheus_client was imported before metrics started; switching it to %s", directory
        )
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=False)
    return registry, _make


def _make(series: Series, registry: Any) -> Any:
    import prometheus_client as pc

    name, doc, labels = series.name, series.help, series.labels
    if series.kind == "counter":
        return pc.Counter(name, doc, labels, registry=registry)
    if series.kind == "histogram":
        return pc.Histogram(name, doc, labels, registry=registry, buckets=series.buckets)
    mode: Any = series.mode
    return pc.Gauge(name, doc, labels, registry=registry, multiprocess_mode=mode)


def render(registry: Any, directory: Path | None) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if directory is None:
        return bytes(generate_latest(registry))
    merged = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(merged, str(directory))  # type: ignore[no-untyped-call]
    return bytes(generate_latest(merged))


def observe_many(child: Any, state: list[float]) -> None:
    """Add many observations to a histogram child at once: ``state`` holds the count per
    bucket (prometheus_client's buckets, +Inf last) and then their sum. Uses the child's value
    objects (``_buckets``, ``_sum``), as its own ``observe`` does for one value."""
    buckets, total = state[:-1], state[-1]
    child._sum.inc(total)
    for index, count in enumerate(buckets):
        if count:
            child._buckets[index].inc(count)
