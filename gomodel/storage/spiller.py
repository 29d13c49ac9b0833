"""Rows held for the spill file, and the task that appends them: batched, off the event loop.

The recorder hands rows over with :meth:`Spiller.hold` (never blocks, never raises). The task
(:meth:`Spiller.serve`) waits ``SPILL_LINGER`` after the first row, so the rows of an overload
burst share one write and one fsync, and appends them in a worker thread. The rules:

* a spill that fails (disk full, permissions) keeps its rows held, is logged at error level and
  counted (``failures``), and is retried with a growing delay; meanwhile the recorder writes the
  rows held to storage directly whenever storage takes writes (:meth:`Spiller.take`);
* at most ``max_held`` rows are held (``MAX_HELD_ROWS`` by default). Past that, with storage
  and the spill file both failing, a row has nowhere to go: it is dropped, counted
  (``dropped``), and logged at error level, once when a batch of drops begins and once per spill
  or write attempt after it with the count. Never silently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from gomodel.storage import spill
from gomodel.usage.row import UsageRow

__all__ = ["MAX_HELD_ROWS", "SPILL_LINGER", "Spiller"]

log = logging.getLogger("gomodel.usage")

# The spiller waits this long after the first row before it writes, so that the rows of an
# overload burst share one fsync: at most about 1 / SPILL_LINGER fsyncs a second.
SPILL_LINGER = 0.05
SPILL_BATCH = 5000  # most rows per write
MAX_RETRY_DELAY = 30.0
# Rows held in memory at most (about 2 KB each: ~100 MB). Past it, with storage and the disk
# both failing, rows are dropped, loudly.
MAX_HELD_ROWS = 50_000


@attrs.define(eq=False)
class Spiller:
    path: Path  # this process's spill file
    offload: Callable[..., Awaitable[Any]]  # runs a blocking call off the event loop
    max_held: int = MAX_HELD_ROWS
    retry_delay: float = 5.0  # after a failed spill; doubles up to MAX_RETRY_DELAY

    #: Held by an append, and by a replay while it sets the spill file aside.
    lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    #: Rows were appended since a replay last set the file aside (set under ``lock``).
    unreplayed: bool = attrs.field(default=False, init=False)
    spilled: int = attrs.field(default=0, init=False)  # rows appended
    failures: int = attrs.field(default=0, init=False)  # appends that failed
    failing: bool = attrs.field(default=False, init=False)  # the last append failed
    dropped: int = attrs.field(default=0, init=False)
    _held: list[UsageRow] = attrs.field(factory=list, init=False)
    _in_flight: int = attrs.field(default=0, init=False)  # rows of the append under way
    _wakeup: trio.Event = attrs.field(factory=trio.Event, init=False)
    _dropped_unlogged: int = attrs.field(default=0, init=False)

    @property
    def held(self) -> int:
        """Rows in memory waiting for the spill file."""
        return len(self._held) + self._in_flight

    def hold(self, rows: list[UsageRow], *, capped: bool = True) -> None:
        """Keep ``rows`` for the spill file, up to ``max_held``; past it they are dropped.
        ``capped=False`` (shutdown: they are written at once) keeps every one."""
        room = max(self.max_held - self.held, 0) if capped else len(rows)
        self._held.extend(rows[:room])
        lost = len(rows) - len(rows[:room])
        if lost:
            self.dropped += lost
            if not self._dropped_unlogged:  # the first of a batch is told at once
                log.error(
                    "usage rows are being dropped: storage and the spill file %s fail and "
                    "%d rows are already held in memory",
                    self.path,
                    self.max_held,
                )
            self._dropped_unlogged += lost
        self._wakeup.set()

    def take(self) -> list[UsageRow]:
        """Every row held and not being appended, for storage to take instead."""
        rows, self._held = self._held, []
        return rows

    def log_drops(self) -> None:
        """One error line for the rows dropped since the last one."""
        if self._dropped_unlogged:
            log.error(
                "%d usage rows dropped (%d in all): storage and the spill file %s fail and "
                "%d rows are held in memory",
                self._dropped_unlogged,
                self.dropped,
                self.path,
                self.max_held,
            )
            self._dropped_unlogged = 0

    async def serve(self) -> None:
        """Append held rows until cancelled, a batch per write and fsync, off the loop."""
        delay = self.retry_delay
        while True:
            if not self._held:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            await trio.sleep(SPILL_LINGER)
            if await self.spill_held():
                delay = self.retry_delay
            else:
                await trio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY)
            self.log_drops()

    async def spill_held(self) -> bool:
        """Append what is held, ``SPILL_BATCH`` rows at a time; on failure keep it held."""
        while self._held:
            async with self.lock:
                batch = self._held[:SPILL_BATCH]
                del self._held[: len(batch)]
                self._in_flight = len(batch)
                written = False
                try:
                    await self.offload(spill.append_rows, self.path, batch)
                    written = True
                except Exception as exc:
                    self.failures += 1
                    self.failing = True
                    log.error(
                        "usage spill to %s failed; %d rows wait in memory (at most %d): %s",
                        self.path,
                        self.held,
                        self.max_held,
                        exc,
                    )
                finally:
                    self._in_flight = 0
                    if not written:  # in front of what arrived meanwhile
                        self._held[:0] = batch
                if not written:
                    return False
                self.failing = False
                self.spilled += len(batch)
                self.unreplayed = True
            log.warning(
                "storage is behind or unavailable: %d usage rows written to %s",
                len(batch),
                self.path,
            )
        return True
