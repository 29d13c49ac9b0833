"""The metrics registry: one attribute per series of :mod:`gomodel.observe.series`.

``Runtime.metrics`` is a :class:`Metrics`. With ``METRICS_ENABLED`` off it is
:data:`NO_METRICS`, whose instruments do nothing (one attribute test per call), and
prometheus_client is never imported. On, each instrument wraps a prometheus_client metric and
keeps the labelled children it has made in a dict keyed by the label values, so a hot-path
increment is one dict lookup and one ``inc`` (about 1.5 µs with multiprocess files).

Label values are given positionally, in the order the series declares them::

    metrics.retries.inc("openai", "status_503")
    metrics.breaker_state.set(2.0, "openai")
    metrics.duration.observe(0.42, "/v1/chat/completions", "openai", "false")

Several worker processes (``gomodel serve --workers N``, ``hypercorn --workers N``) write their
values to files in one directory (prometheus_client's multiprocess mode; the directory is
chosen by :mod:`gomodel.observe.multiproc`) and a scrape of any worker sums them all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs

from gomodel.observe.series import SERIES, Series

__all__ = ["NO_METRICS", "Counter", "Exposition", "Gauge", "Histogram", "LabelGuard", "Metrics"]

log = logging.getLogger("gomodel.metrics")

# A label fed by values the gateway does not fully control (model ids, when a provider takes
# any model) takes at most this many distinct values per process; later ones read "other".
MAX_LABEL_VALUES = 500


class _Instrument:
    __slots__ = ("_children", "_metric", "series")

    def __init__(self, series: Series, metric: Any = None) -> None:
        self.series = series
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    @property
    def enabled(self) -> bool:
        return self._metric is not None

    def _child(self, values: tuple[str, ...]) -> Any:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.series.labels):
                raise ValueError(f"{self.series.name} takes labels {self.series.labels}")
            child = self._metric.labels(*values) if values else self._metric
            self._children[values] = child
        return child


class Counter(_Instrument):
    __slots__ = ()

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if self._metric is not None and amount:
            self._child(labels).inc(amount)


class Gauge(_Instrument):
    __slots__ = ()

    def set(self, value: float, *labels: str) -> None:
        if self._metric is not None:
            self._child(labels).set(value)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if self._metric is not None:
            self._child(labels).inc(amount)

    def dec(self, *labels: str, amount: float = 1.0) -> None:
        if self._metric is not None:
            self._child(labels).dec(amount)


class Histogram(_Instrument):
    __slots__ = ()

    def observe(self, value: float, *labels: str) -> None:
        if self._metric is not None:
            self._child(labels).observe(value)


class LabelGuard:
    """Caps the distinct values one label takes; values past the cap read ``other``."""

    __slots__ = ("_limit", "_seen")

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._limit = limit
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(value)
        return value


_TYPES: dict[str, type[_Instrument]] = {
    "counter": Counter,
    "gauge": Gauge,
    "histogram": Histogram,
}


@attrs.frozen(eq=False)
class Metrics:
    """Every series, by attribute (docs/observability.md says what each means)."""

    enabled: bool
    exposition: Exposition | None
    requests: Counter
    terminations: Counter
    upstream_errors: Counter
    request_duration_seconds: Histogram
    time_to_first_byte_seconds: Histogram
    gateway_overhead_seconds: Histogram
    requests_in_flight: Gauge
    tokens: Counter
    cost_usd: Counter
    unpriced_requests: Counter
    upstream_connections: Gauge
    upstream_pool_waiters: Gauge
    usage_queue_rows: Gauge
    usage_rows: Counter
    usage_batches_written: Counter
    usage_write_failures: Counter
    audit_queue_entries: Gauge
    audit_entries: Counter
    audit_batches_written: Counter
    retries: Counter
    failovers: Counter
    circuit_breaker_state: Gauge
    rate_limit_refusals: Counter
    budget_refusals: Counter
    model_label: LabelGuard = attrs.field(factory=LabelGuard)

    @classmethod
    def disabled(cls) -> Metrics:
        instruments: dict[str, Any] = {s.attribute: _TYPES[s.kind](s) for s in SERIES}
        return cls(False, None, **instruments)

    @classmethod
    def create(cls, directory: Path | None = None) -> Metrics:
        """Live metrics: in this process only, or in ``directory`` shared by every worker."""
        from gomodel.observe import _prometheus

        registry, make = _prometheus.backend(directory)
        instruments: dict[str, Any] = {
            s.attribute: _TYPES[s.kind](s, make(s, registry)) for s in SERIES
        }
        return cls(True, Exposition(registry, directory), **instruments)


NO_METRICS = Metrics.disabled()


@attrs.frozen(eq=False)
class Exposition:
    """The text a scrape gets: this process's registry, or every worker's files summed."""

    registry: Any
    directory: Path | None

    def render(self) -> bytes:
        from gomodel.observe import _prometheus

        return _prometheus.render(self.registry, self.directory)

    @property
    def content_type(self) -> str:
        from gomodel.observe import _prometheus

        return _prometheus.CONTENT_TYPE

    @property
    def multiprocess(self) -> bool:
        return self.directory is not None
