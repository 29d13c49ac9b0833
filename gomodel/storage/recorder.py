"""The usage recorder: a task in the lifespan nursery that writes usage rows in batches.

Usage rows are billing data, so none is ever dropped silently:

* handlers hand a record over without waiting (``record()``, which never raises): it goes into
  a bounded channel (``USAGE_BUFFER_SIZE``); when the channel is full the row is held for the
  spill file instead (:mod:`gomodel.storage.spiller`: batched appends in a worker thread, one
  fsync per batch; a failing disk keeps the rows in memory up to a hard cap, past which they
  are dropped, counted and logged at error level);
* the task writes a batch when it has ``BATCH_SIZE`` rows or every ``USAGE_FLUSH_INTERVAL``;
  storage calls run in a worker thread (``trio.to_thread``);
* when storage fails, rows wait in memory (at most ``USAGE_BUFFER_SIZE``) and are retried with a
  growing delay; past that bound the oldest are held for the spill file; while the spill file
  fails too, the rows held for it go to storage as soon as storage takes writes;
* on shutdown every row still in memory is written, or spilled if storage is down;
* spill files left by processes that are gone, and this process's own, are replayed into
  storage at startup and whenever storage takes writes again (inserts are idempotent on the row
  id, so a replay that is interrupted and repeated duplicates nothing). A line that holds no
  row (cut short by a crash or a full disk, garbage) is moved to a quarantine file beside it;
  the rest of the file is replayed, the error is logged, and ``/ready`` says so
  (:meth:`UsageRecorder.alarms`) for as long as the quarantine file is there.

The spill files are JSON lines, one row each; :mod:`gomodel.storage.spill` names them.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import trio

from gomodel.storage import spill
from gomodel.storage.base import UsageStore
from gomodel.storage.spiller import MAX_HELD_ROWS, Spiller
from gomodel.usage.pricing import PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import UsageRow, row_from_record

__all__ = ["RecorderStatistics", "UsageRecorder"]

log = logging.getLogger("gomodel.usage")

BATCH_SIZE = 100  # rows pending that start a write before the flush interval is up
WRITE_SIZE = 1000  # most rows per transaction
# Retry delays after a failed write grow from the flush interval up to this.
MAX_RETRY_DELAY = 30.0
# Shutdown gives storage this long to take the last rows before they are spilled.
SHUTDOWN_WRITE_TIMEOUT = 10.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@attrs.frozen
class RecorderStatistics:
    received: int
    written: int
    spilled: int  # rows written to the spill file (storage down, or the channel full)
    replayed: int  # spilled rows written to storage at startup or after an outage
    pending: int  # rows in memory waiting for storage
    failed_writes: int
    held: int = 0  # rows in memory waiting for the spill file
    spill_failures: int = 0  # spill writes that failed (their rows stayed held)
    dropped: int = 0  # rows lost: past the hard cap with storage and the spill both failing
    quarantined: int = 0  # damaged spill lines moved to a quarantine file
    batches: int = 0  # inserts that succeeded (a batch of up to WRITE_SIZE rows each)


@attrs.define(eq=False)
class UsageRecorder:
    store: UsageStore
    prices: PriceTable
    spill_dir: Path
    buffer_size: int = 1000
    flush_interval: float = 5.0
    now: Callable[[], datetime] = _utcnow
    # Names this process's spill file; a restarted gateway replays files of processes gone.
    process_id: int = attrs.field(factory=os.getpid)
    # How blocking storage and file calls leave the event loop. Tests under MockClock run them
    # inline: a real thread lets the autojump clock move while the call is in flight.
    offload: Callable[..., Awaitable[Any]] = trio.to_thread.run_sync
    # Rows held in memory for the spill file at most (see gomodel.storage.spiller).
    max_held: int = MAX_HELD_ROWS
    # Sees every row as it is priced (the metrics' tokens and cost: priced once, here).
    on_row: Callable[[UsageRecord, UsageRow], None] | None = None

    _send: trio.MemorySendChannel[UsageRow] = attrs.field(init=False)
    _receive: trio.MemoryReceiveChannel[UsageRow] = attrs.field(init=False)
    _spiller: Spiller = attrs.field(init=False)
    _pending: list[UsageRow] = attrs.field(factory=list, init=False)
    _received: int = attrs.field(default=0, init=False)
    _written: int = attrs.field(default=0, init=False)
    _replayed: int = attrs.field(default=0, init=False)
    _failed_writes: int = attrs.field(default=0, init=False)
    _batches: int = attrs.field(default=0, init=False)
    _quarantined: int = attrs.field(default=0, init=False)
    _quarantine_files: tuple[tuple[str, int], ...] = attrs.field(default=(), init=False)
    _prepared: bool = attrs.field(default=False, init=False)  # migrated
    _replay_due: bool = attrs.field(default=True, init=False)  # startup, or a replay failed

    def __attrs_post_init__(self) -> None:
        # Bounded: a full channel spills to disk rather than growing without limit.
        self._send, self._receive = trio.open_memory_channel[UsageRow](self.buffer_size)
        self._spiller = Spiller(
            self.spill_path, self.offload, self.max_held, retry_delay=self.flush_interval
        )

    @property
    def spill_path(self) -> Path:
        return spill.live_spill_path(self.spill_dir, self.process_id)

    def record(self, record: UsageRecord) -> None:
        """Take one record without waiting; never raises, never loses it silently."""
        row = row_from_record(
            record,
            prices=self.prices,
            now=self.now(),
            row_id=str(uuid.uuid4()),
            latency_ms=record.latency_ms,
            ttfb_ms=record.ttfb_ms,
            overhead_ms=record.overhead_ms,
            user_path=record.user_path,
        )
        self._received += 1
        try:
            self._send.send_nowait(row)
        except trio.WouldBlock:
            self._spiller.hold([row])
        if self.on_row is not None:
            try:
                self.on_row(record, row)
            except Exception:  # an observer's bug must not cost the request (the row is safe)
                log.exception("usage row observer failed")

    def statistics(self) -> RecorderStatistics:
        return RecorderStatistics(
            received=self._received,
            written=self._written,
            spilled=self._spiller.spilled,
            replayed=self._replayed,
            pending=len(self._pending) + self._receive.statistics().current_buffer_used,
            failed_writes=self._failed_writes,
            held=self._spiller.held,
            spill_failures=self._spiller.failures,
            dropped=self._spiller.dropped,
            quarantined=self._quarantined,
            batches=self._batches,
        )

    def alarms(self) -> tuple[str, ...]:
        """What an operator must look at, for ``/ready``: quarantined lines, a failing spill
        file, dropped rows. Empty when all is well."""
        alarms = [
            f"usage: {lines} damaged spill lines wait in quarantine in {name}; see the log"
            for name, lines in self._quarantine_files
        ]
        if self._spiller.failing:
            alarms.append(
                f"usage: the spill file cannot be written; {self._spiller.held} rows wait in memory"
            )
        if self._spiller.dropped:
            alarms.append(
                f"usage: {self._spiller.dropped} rows dropped: storage and the spill file "
                f"failed with {self.max_held} rows held in memory"
            )
        return tuple(alarms)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Write batches until cancelled; flush on the way out.

        Storage that is down at startup does not stop the gateway: migrations and the replay
        of spill files are retried before each write until they succeed.
        """
        healthy = await self._prepare() and await self._replay_if_due()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._spiller.serve)
            task_status.started()
            try:
                await self._serve_writes(healthy)
            finally:
                with trio.CancelScope(shield=True):
                    await self._flush_on_shutdown()

    async def _serve_writes(self, healthy: bool) -> None:
        delay = self.flush_interval
        while True:
            # Collect until a batch is full (only while storage works) or the delay passes.
            with trio.move_on_after(delay):
                while not (healthy and len(self._pending) >= BATCH_SIZE):
                    self._pending.append(await self._receive.receive())
                    self._take_ready()
                    if not healthy:
                        self._bound_pending()
            healthy = await self._write_pending()
            if not healthy:
                self._bound_pending()  # rows taken from the spiller may have come back
            self._spiller.log_drops()
            delay = self.flush_interval if healthy else min(delay * 2, MAX_RETRY_DELAY)

    async def _prepare(self) -> bool:
        if self._prepared:
            return True
        try:
            await self.offload(self.store.migrate)
        except Exception as exc:
            self._failed_writes += 1
            log.warning("usage storage unavailable: %s; rows wait, then spill to disk", exc)
            return False
        self._prepared = True
        return True

    async def _write_pending(self) -> bool:
        """Write what is pending, a batch at a time; on failure keep it for the next try.
        While the spill file fails, the rows held for it go to storage too."""
        if not await self._prepare():
            return False
        while True:
            if not self._pending and self._spiller.failing:
                self._pending = self._spiller.take()
            if not self._pending:
                break
            batch = self._pending[:WRITE_SIZE]
            try:
                await self.offload(self.store.insert, batch)
            except Exception as exc:
                self._failed_writes += 1
                log.warning(
                    "usage storage write failed (%d rows wait): %s", len(self._pending), exc
                )
                return False
            del self._pending[: len(batch)]
            self._written += len(batch)
            self._batches += 1
        return await self._replay_if_due()

    def _take_ready(self) -> None:
        """Every row already waiting, without a trip through the scheduler per row: under load
        one row per trip drained slower than requests filled the buffer (the bench saw rows
        spilled to disk at a few hundred requests a second)."""
        while True:
            try:
                self._pending.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    def _bound_pending(self) -> None:
        overflow = len(self._pending) - self.buffer_size
        if overflow > 0:  # only while storage is failing: the oldest rows go to disk
            self._spiller.hold(self._pending[:overflow])
            del self._pending[:overflow]

    async def _flush_on_shutdown(self) -> None:
        while True:
            try:
                self._pending.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        self._pending += self._spiller.take()  # storage first: nothing to replay later
        if self._pending:
            with trio.move_on_after(SHUTDOWN_WRITE_TIMEOUT):
                await self._write_pending()
        if self._pending:
            log.warning("shutting down with usage storage unavailable: spilling what is left")
            rows, self._pending = self._pending, []
            self._spiller.hold(rows, capped=False)
        if self._spiller.held and not await self._spiller.spill_held():
            lost = self._spiller.take()
            self._spiller.dropped += len(lost)
            log.error("shutting down: %d usage rows lost, the spill file failed", len(lost))
        self._spiller.log_drops()

    # -- replay --------------------------------------------------------------------------------

    async def _replay_if_due(self) -> bool:
        """Replay the spill files if there may be any; a failure is retried later."""
        if not (self._replay_due or self._spiller.unreplayed):
            return True
        try:
            await self._replay_spills()
        except Exception as exc:
            log.warning("replaying spilled usage rows failed, will retry: %s", exc)
            self._replay_due = True
            return False
        return True

    async def _replay_spills(self) -> None:
        """Write spilled rows to storage: this process's own (set aside first, so new spills
        start a new file) and those of processes that are gone."""
        async with self._spiller.lock:  # no append is under way while the file is set aside
            self._replay_due = self._spiller.unreplayed = False
            claimed = await self.offload(spill.claim_replayable, self.spill_dir, self.process_id)
        for origin, path in claimed:
            contents = await self.offload(spill.read_spill, path)
            if contents.damaged:
                await self._quarantine(origin, path, contents)
            rows = contents.rows
            for start in range(0, len(rows), WRITE_SIZE):
                await self.offload(self.store.insert, rows[start : start + WRITE_SIZE])
            await self.offload(spill.remove, path)
            self._replayed += len(rows)
            log.info("replayed %d spilled usage rows from %s", len(rows), origin)
        self._quarantine_files = await self.offload(spill.quarantined, self.spill_dir)

    async def _quarantine(self, origin: Path, path: Path, contents: spill.SpillContents) -> None:
        """Move the damaged lines of ``path`` (claimed from ``origin``) aside, and say so."""
        target = await self.offload(spill.quarantine, path, contents)
        lines = len(contents.damaged)
        self._quarantined += lines
        if target.name not in dict(self._quarantine_files):
            self._quarantine_files = (*self._quarantine_files, (target.name, lines))
        log.error(
            "usage spill file %s: %d damaged lines (cut short or garbage) moved to %s for "
            "repair; its other rows are replayed",
            origin,
            lines,
            target,
        )
