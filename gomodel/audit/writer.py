"""The audit writer: a task in the lifespan nursery that stores audit entries in batches.

Requests hand over an :class:`~gomodel.audit.entry.AuditRecord` with :meth:`AuditWriter.record`,
which never waits and never raises. The writer takes every record waiting, builds the entries
(redaction, body caps, JSON) and inserts them in a worker thread, when 100 wait or every
``LOGGING_FLUSH_INTERVAL``. Retention deletes entries older than ``LOGGING_RETENTION_DAYS`` at
start and hourly.

Overflow policy (unlike usage rows, which are billing data and never dropped silently, an
audit entry may be lost under overload, but never without a count and a log line):

* the channel holds ``LOGGING_BUFFER_SIZE`` records; a record that finds it full is dropped:
  counted (``dropped``, ``gomodel_audit_entries_total{event="dropped"}``) and logged at
  warning level, the first one at once and then one line per batch with the count since;
* when storage fails, the records stay in memory (at most ``LOGGING_BUFFER_SIZE``; the oldest
  beyond that are dropped and counted) and the write is retried with a growing delay (up to
  30 s);
* on shutdown what is left is written, for at most 5 s; what cannot be is counted and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import attrs
import trio

from gomodel.audit.entry import AuditEntry, AuditRecord, entry_from_record
from gomodel.audit.redact import Redactor

__all__ = ["AuditStatistics", "AuditStore", "AuditWriter"]

log = logging.getLogger("gomodel.audit")

BATCH_SIZE = 100
MAX_RETRY_DELAY = 30.0
SHUTDOWN_WRITE_TIMEOUT = 5.0
RETENTION_INTERVAL = 3600.0


class AuditStore(Protocol):
    def migrate(self) -> None: ...

    def insert(self, entries: list[AuditEntry]) -> None: ...

    def delete_older_than(self, cutoff: datetime) -> int: ...


@attrs.frozen
class AuditStatistics:
    received: int
    written: int
    dropped: int  # buffer full, storage down too long, or shutdown with storage down
    pending: int  # in memory, waiting for storage
    batches: int
    failed_writes: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.define(eq=False)
class AuditWriter:
    store: AuditStore
    redactor: Redactor
    cap: int  # LOGGING_MAX_BODY_SIZE
    buffer_size: int = 1000
    flush_interval: float = 5.0
    retention_days: int = 30
    now: Callable[[], datetime] = _utcnow
    offload: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync

    _send: trio.MemorySendChannel[AuditRecord] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[AuditRecord] = attrs.field(init=False)
    _pending: list[AuditRecord] = attrs.field(factory=list, init=False)
    _received: int = attrs.field(default=0, init=False)
    _written: int = attrs.field(default=0, init=False)
    _dropped: int = attrs.field(default=0, init=False)
    _unlogged_drops: int = attrs.field(default=0, init=False)
    _batches: int = attrs.field(default=0, init=False)
    _failed_writes: int = attrs.field(default=0, init=False)
    _migrated: bool = attrs.field(default=False, init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[AuditRecord](self.buffer_size)

    def record(self, record: AuditRecord) -> None:
        """Take one record without waiting; a full buffer drops it (counted, logged)."""
        self._received += 1
        try:
            self._send.send_nowait(record)
        except trio.WouldBlock:
            self._drop(1, "the buffer is full (LOGGING_BUFFER_SIZE)")

    def statistics(self) -> AuditStatistics:
        return AuditStatistics(
            received=self._received,
            written=self._written,
            dropped=self._dropped,
            pending=len(self._pending) + self._receive.statistics().current_buffer_used,
            batches=self._batches,
            failed_writes=self._failed_writes,
        )

    def _drop(self, count: int, why: str) -> None:
        first = self._dropped == 0
        self._dropped += count
        if first:
            log.warning("audit entries dropped: %s; dropping is counted and logged", why)
        else:
            self._unlogged_drops += count

    def _log_drops(self) -> None:
        if self._unlogged_drops:
            log.warning("%d audit entries dropped (%d in all)", self._unlogged_drops, self._dropped)
            self._unlogged_drops = 0

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until cancelled; write what is left on the way out."""
        await self._migrate()
        async with trio.open_nursery() as nursery:
            if self.retention_days:
                nursery.start_soon(self._serve_retention)
            task_status.started()
            try:
                await self._serve_writes()
            finally:
                with trio.CancelScope(shield=True):
                    await self._flush_on_shutdown()
                nursery.cancel_scope.cancel()

    async def _serve_writes(self) -> None:
        delay = self.flush_interval
        healthy = True
        while True:
            with trio.move_on_after(delay):
                while not (healthy and len(self._pending) >= BATCH_SIZE):
                    self._pending.append(await self._receive.receive())
                    self._take_ready()
            healthy = await self._write_pending()
            self._bound_pending()
            self._log_drops()
            delay = self.flush_interval if healthy else min(delay * 2, MAX_RETRY_DELAY)

    def _take_ready(self) -> None:
        while True:
            try:
                self._pending.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return

    def _bound_pending(self) -> None:
        overflow = len(self._pending) - self.buffer_size
        if overflow > 0:
            del self._pending[:overflow]
            self._drop(overflow, "storage is down and the buffer is full")

    async def _write_pending(self) -> bool:
        try:
            if not await self._migrate():
                return False
            while self._pending:
                batch = self._pending[: BATCH_SIZE * 10]
                await self.offload(self._insert, batch)
                del self._pending[: len(batch)]
                self._written += len(batch)
                self._batches += 1
        except Exception as exc:
            self._failed_writes += 1
            log.warning("audit storage write failed (%d entries wait): %s", len(self._pending), exc)
            return False
        return True

    async def _migrate(self) -> bool:
        if self._migrated:
            return True
        try:
            await self.offload(self.store.migrate)
        except Exception as exc:
            self._failed_writes += 1
            log.warning("audit storage unavailable: %s; entries wait in memory", exc)
            return False
        self._migrated = True
        return True

    def _insert(self, batch: list[AuditRecord]) -> None:
        """In a worker thread: build the entries (redaction, caps) and store them."""
        entries = []
        for record in batch:
            try:
                entries.append(entry_from_record(record, self.redactor, cap=self.cap))
            except Exception:  # one broken record must not block the rest forever
                log.exception("audit entry for request_id=%s could not be built", record.request_id)
        self.store.insert(entries)

    async def _flush_on_shutdown(self) -> None:
        self._take_ready()
        if self._pending:
            with trio.move_on_after(SHUTDOWN_WRITE_TIMEOUT):
                await self._write_pending()
        if self._pending:
            self._drop(len(self._pending), "shutting down with audit storage unavailable")
            self._pending.clear()
        self._log_drops()

    async def _serve_retention(self) -> None:
        while True:
            cutoff = self.now() - timedelta(days=self.retention_days)
            if not await self._migrate():
                await trio.sleep(self.flush_interval)
                continue
            try:
                deleted = await self.offload(self.store.delete_older_than, cutoff)
            except Exception as exc:
                log.warning("audit retention cleanup failed: %s", exc)
            else:
                if deleted:
                    log.info("audit retention: deleted %d entries older than %s", deleted, cutoff)
            await trio.sleep(RETENTION_INTERVAL)
