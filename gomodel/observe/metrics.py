"""The metrics registry: one attribute per series of :mod:`gomodel.observe.series`.

``Runtime.metrics`` is a :class:`Metrics`. With ``METRICS_ENABLED`` off it is
:data:`NO_METRICS`, whose instruments do nothing (one attribute test per call), and
prometheus_client is never imported. On, each instrument wraps a prometheus_client metric and
adds updates up in plain Python numbers, keyed by the label values; :meth:`Metrics.flush`
(the sampler, every second and before every scrape; and at shutdown) hands them to
prometheus_client. So a hot-path update is a dict lookup and an addition (well under a
microsecond), not a lock and an mmap write (1.5 to 3 µs each with multiprocess files).

Label values are given positionally, in the order the series declares them::

    metrics.retries.inc("openai", "status_503")
    metrics.breaker_state.set(2.0, "openai")
    metrics.duration.observe(0.42, "/v1/chat/completions", "openai", "false")

Several worker processes (``gomodel serve --workers N``, ``hypercorn --workers N``) write their
values to files in one directory (prometheus_client's multiprocess mode; the directory is
chosen by :mod:`gomodel.observe.multiproc`) and a scrape of any worker sums them all.
"""

from __future__ import annotations

import bisect
import logging
import math
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
    """Updates accumulate here, in plain Python numbers, and go to prometheus_client when
    :meth:`flush` runs (the sampler, every second and before every scrape): a hot-path update
    is a dict lookup and an addition, not a lock and an mmap write."""

    __slots__ = ("_arity", "_children", "_metric", "series")

    def __init__(self, series: Series, metric: Any = None) -> None:
        self.series = series
        self._metric = metric
        self._arity = len(series.labels)
        self._children: dict[tuple[str, ...], Any] = {}

    @property
    def enabled(self) -> bool:
        return self._metric is not None

    def _check(self, labels: tuple[str, ...]) -> None:
        if len(labels) != self._arity:
            raise ValueError(f"{self.series.name} takes labels {self.series.labels}")

    def _child(self, values: tuple[str, ...]) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._metric.labels(*values) if values else self._metric
            self._children[values] = child
        return child

    def flush(self) -> None:
        raise NotImplementedError


class Counter(_Instrument):
    __slots__ = ("_pending",)

    def __init__(self, series: Series, metric: Any = None) -> None:
        super().__init__(series, metric)
        self._pending: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if self._metric is not None and amount:
            if len(labels) != self._arity:
                self._check(labels)
            pending = self._pending
            pending[labels] = pending.get(labels, 0.0) + amount

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for labels, amount in pending.items():
            self._child(labels).inc(amount)


class Gauge(_Instrument):
    __slots__ = ("_deltas", "_values")

    def __init__(self, series: Series, metric: Any = None) -> None:
        super().__init__(series, metric)
        self._values: dict[tuple[str, ...], float] = {}
        self._deltas: dict[tuple[str, ...], float] = {}

    def set(self, value: float, *labels: str) -> None:
        if self._metric is not None:
            self._check(labels)
            self._values[labels] = value
            self._deltas.pop(labels, None)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        if self._metric is not None:
            if len(labels) != self._arity:
                self._check(labels)
            deltas = self._deltas
            deltas[labels] = deltas.get(labels, 0.0) + amount

    def dec(self, *labels: str, amount: float = 1.0) -> None:
        self.inc(*labels, amount=-amount)

    def flush(self) -> None:
        values, self._values = self._values, {}
        deltas, self._deltas = self._deltas, {}
        for labels, value in values.items():
            self._child(labels).set(value)
        for labels, delta in deltas.items():
            if delta:
                self._child(labels).inc(delta)


class Histogram(_Instrument):
    __slots__ = ("_bounds", "_pending")

    def __init__(self, series: Series, metric: Any = None) -> None:
        super().__init__(series, metric)
        self._bounds = (*series.buckets, math.inf)
        # label values -> [count per bucket..., sum]
        self._pending: dict[tuple[str, ...], list[float]] = {}

    def observe(self, value: float, *labels: str) -> None:
        if self._metric is not None:
            state = self._pending.get(labels)
            if state is None:
                self._check(labels)
                state = self._pending[labels] = [0.0] * (len(self._bounds) + 1)
            state[bisect.bisect_left(self._bounds, value)] += 1
            state[-1] += value

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for labels, state in pending.items():
            _prometheus_observe_many(self._child(labels), state)


def _prometheus_observe_many(child: Any, state: list[float]) -> None:
    from gomodel.observe import _prometheus

    _prometheus.observe_many(child, state)


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

    def flush(self) -> None:
        """Hand every update made since the last flush to prometheus_client (and so to this
        worker's files)."""
        if self.enabled:
            for field in attrs.fields(Metrics):
                instrument = getattr(self, field.name)
                if isinstance(instrument, _Instrument):
                    instrument.flush()

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
