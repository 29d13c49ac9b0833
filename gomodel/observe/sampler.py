"""Copies the background components' ``statistics()`` into the metrics (upstream pools, the
usage recorder, the audit writer) and flushes every update made since the last sample to
prometheus_client. Every second (so every worker's files are at most a second old when
another worker is scraped), right before this worker renders a scrape, and at shutdown.

Gauges are set; the components' cumulative counts become counter increments of the difference
since the last sample, so a worker that restarts keeps the totals going up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import trio

from gomodel.observe.metrics import Metrics
from gomodel.providers.client import Provider
from gomodel.providers.transport import PoolStatistics, UpstreamTransport
from gomodel.storage.recorder import RecorderStatistics

__all__ = ["SAMPLE_INTERVAL", "Sampler"]

SAMPLE_INTERVAL = 1.0

_USAGE_EVENTS = ("received", "written", "spilled", "replayed", "dropped", "quarantined")


class _AuditStatistics(Protocol):
    @property
    def received(self) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def dropped(self) -> int: ...
    @property
    def pending(self) -> int: ...
    @property
    def batches(self) -> int: ...


@attrs.define(eq=False)
class Sampler:
    metrics: Metrics
    providers: Mapping[str, Provider]
    usage: Callable[[], RecorderStatistics] | None = None
    audit: Callable[[], _AuditStatistics] | None = None
    _last: dict[tuple[str, str], int] = attrs.field(factory=dict, init=False)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self.sample()
            await trio.sleep(SAMPLE_INTERVAL)

    def sample(self) -> None:
        m = self.metrics
        for name, provider in self.providers.items():
            transport = provider.transport
            if isinstance(transport, UpstreamTransport):
                pool: PoolStatistics = transport.statistics()
                m.upstream_connections.set(pool.busy, name, "busy")
                m.upstream_connections.set(pool.idle, name, "idle")
                m.upstream_pool_waiters.set(pool.waiters, name)
        if self.usage is not None:
            usage = self.usage()
            m.usage_queue_rows.set(usage.pending, "pending")
            m.usage_queue_rows.set(usage.held, "held")
            for event in _USAGE_EVENTS:
                m.usage_rows.inc(event, amount=self._delta("usage", event, usage))
            m.usage_batches_written.inc(amount=self._delta("usage", "batches", usage))
            failures = (("storage", "failed_writes"), ("spill", "spill_failures"))
            for target, field in failures:
                m.usage_write_failures.inc(target, amount=self._delta("usage", field, usage))
        if self.audit is not None:
            audit = self.audit()
            m.audit_queue_entries.set(audit.pending)
            for event in ("received", "written", "dropped"):
                m.audit_entries.inc(event, amount=self._delta("audit", event, audit))
            m.audit_batches_written.inc(amount=self._delta("audit", "batches", audit))
        m.flush()

    def _delta(self, source: str, field: str, stats: Any) -> int:
        value = int(getattr(stats, field))
        last = self._last.get((source, field), 0)
        self._last[source, field] = value
        return max(value - last, 0)
