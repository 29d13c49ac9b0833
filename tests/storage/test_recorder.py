"""The usage recorder: batches, outages, the spill file and shutdown, with no row lost."""

from __future__ import annotations

import logging
import os
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gomodel.storage.recorder import BATCH_SIZE, UsageRecorder
from gomodel.termination import Termination
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import UsageRow, row_from_record, to_json_line

DEAD_PID = 2**22 + 12345  # above Linux's pid_max default: no such process


class FakeStore:
    """Storage that can be switched off; remembers rows by id like a primary key."""

    def __init__(self) -> None:
        self.rows: dict[str, UsageRow] = {}
        self.down = False
        self.inserts = 0
        self.inserted: Counter[str] = Counter()  # how often each id was handed over

    def migrate(self) -> None:
        pass

    def insert(self, rows: Sequence[UsageRow]) -> None:
        self.inserts += 1
        if self.down:
            raise ConnectionError("storage is down")
        for row in rows:
            self.inserted[row.id] += 1
            self.rows.setdefault(row.id, row)


def _record(i: int) -> UsageRecord:
    return UsageRecord(
        request_id=f"req-{i}",
        provider="openai",
        provider_type="openai",
        requested_model="gpt-4o",
        model="gpt-4o",
        endpoint="/v1/chat/completions",
        route="passthrough",
        stream=False,
        usage=Usage(input_tokens=10, output_tokens=5, total_tokens=15),
        complete=True,
        status=200,
        termination=Termination.COMPLETED,
    )


async def _inline(fn: Callable[..., Any], *args: Any) -> Any:
    await trio.lowlevel.checkpoint()
    return fn(*args)


def _recorder(store: FakeStore, tmp_path: Path, **kw: object) -> UsageRecorder:
    return UsageRecorder(
        store,  # type: ignore[arg-type]
        PriceTable.from_package(),
        tmp_path,
        now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        offload=_inline,
        **kw,  # type: ignore[arg-type]
    )


def _slow_store_offload(store: FakeStore, delay: float) -> Callable[..., Any]:
    """Storage that takes ``delay`` seconds per insert; everything else runs inline."""

    async def offload(fn: Callable[..., Any], *args: Any) -> Any:
        if fn == store.insert:
            await trio.sleep(delay)
        await trio.lowlevel.checkpoint()
        return fn(*args)

    return offload


async def test_batches_at_flush_interval(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Rows are written together at the flush interval, priced."""
    store = FakeStore()
    recorder = _recorder(store, tmp_path, flush_interval=5.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(3):
            recorder.record(_record(i))
        await trio.sleep(4.9)
        assert store.rows == {}
        await trio.sleep(0.2)
        assert sorted(r.request_id for r in store.rows.values()) == ["req-0", "req-1", "req-2"]
        assert store.inserts == 1
        assert all(r.total_cost is not None for r in store.rows.values())
        nursery.cancel_scope.cancel()
    assert recorder.statistics().written == 3


async def test_full_batch_written_early(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A full batch does not wait for the interval."""
    store = FakeStore()
    recorder = _recorder(store, tmp_path, flush_interval=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(BATCH_SIZE):
            recorder.record(_record(i))
        await trio.sleep(0.01)
        assert len(store.rows) == BATCH_SIZE
        nursery.cancel_scope.cancel()


async def test_busy_event_loop_loses_nothing_to_the_spill_file(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Requests finishing faster than one row per scheduler pass (a loaded worker): the recorder
    takes every waiting row each time it runs, so the buffer never fills and nothing spills."""
    store = FakeStore()
    recorder = _recorder(store, tmp_path, flush_interval=60.0, buffer_size=100)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for burst in range(300):
            for i in range(10):
                recorder.record(_record(burst * 10 + i))
            await trio.lowlevel.checkpoint()
        await trio.sleep(0.01)
        assert recorder.statistics().spilled == 0
        nursery.cancel_scope.cancel()
    assert len(store.rows) == 3000


async def test_outage_rows_wait_and_are_retried(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """While storage is down rows wait; when it comes back every one is written once."""
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, tmp_path, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(20):
            recorder.record(_record(i))
        await trio.sleep(20)
        assert store.rows == {}
        assert recorder.statistics().failed_writes >= 3
        attempts = store.inserts
        await trio.sleep(20)
        assert store.inserts - attempts <= 2  # the retries back off, they do not spin
        store.down = False
        await trio.sleep(31)
        assert len(store.rows) == 20
        nursery.cancel_scope.cancel()
    stats = recorder.statistics()
    assert (stats.written, stats.spilled, stats.pending) == (20, 0, 0)


async def test_long_outage_spills_then_replays_on_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Past the in-memory bound rows go to the spill file; the next start replays them."""
    store = FakeStore()
    store.down = True
    first = _recorder(store, tmp_path, flush_interval=1.0, buffer_size=10, process_id=DEAD_PID)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.serve)
        for i in range(25):
            first.record(_record(i))
            await trio.sleep(0.5)
        nursery.cancel_scope.cancel()  # shutdown while storage is still down
    stats = first.statistics()
    assert stats.written == 0
    assert stats.spilled == 25
    assert first.spill_path.exists()

    store.down = False
    second = _recorder(store, tmp_path, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(second.serve)
        assert len(store.rows) == 25
        assert not first.spill_path.exists()
        nursery.cancel_scope.cancel()
    assert second.statistics().replayed == 25


async def test_full_channel_spills(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A record that finds the buffer full is neither dropped nor waited for: it is held, and
    the spiller writes it to the spill file moments later."""
    store = FakeStore()
    recorder = UsageRecorder(
        store,  # type: ignore[arg-type]
        PriceTable.from_package(),
        tmp_path,
        buffer_size=2,
        offload=_slow_store_offload(store, 60.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(5):  # no checkpoint between them: nothing drains the channel
            recorder.record(_record(i))  # the first goes to the waiting task, two fill the buffer
        assert recorder.statistics().held == 2
        await trio.sleep(0.1)
        assert (recorder.statistics().spilled, recorder.statistics().pending) == (2, 3)
        assert len(recorder.spill_path.read_bytes().splitlines()) == 2
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("down", [False, True])
async def test_shutdown_flushes_or_spills(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, down: bool
) -> None:
    """On shutdown pending rows are written, or spilled when storage is down: none lost."""
    store = FakeStore()
    store.down = down
    recorder = _recorder(store, tmp_path, flush_interval=60.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(7):
            recorder.record(_record(i))
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    stats = recorder.statistics()
    assert stats.written + stats.spilled == 7
    assert (stats.spilled == 7) is down


async def test_storage_down_at_startup(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Storage that is down at startup does not stop the recorder; rows land when it is back."""

    class NotYet(FakeStore):
        def migrate(self) -> None:
            if self.down:
                raise ConnectionError("no database yet")

    store = NotYet()
    store.down = True
    recorder = _recorder(store, tmp_path, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        recorder.record(_record(1))
        await trio.sleep(10)
        assert store.rows == {}
        store.down = False
        await trio.sleep(40)
        assert len(store.rows) == 1
        nursery.cancel_scope.cancel()


async def test_spilled_rows_replayed_once_storage_recovers(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Rows spilled during an outage go in when storage recovers, without waiting for a
    restart; the spill file is gone afterwards."""
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, tmp_path, flush_interval=1.0, buffer_size=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(10):
            recorder.record(_record(i))
            await trio.sleep(0.5)
        assert recorder.statistics().spilled > 0
        store.down = False
        await trio.sleep(60)
        assert len(store.rows) == 10
        assert not [p for p in os.listdir(tmp_path) if p.startswith("usage-spill-")]
        nursery.cancel_scope.cancel()


def _row(i: int) -> UsageRow:
    return row_from_record(
        _record(i),
        prices=PriceTable.from_package(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        row_id=str(uuid.uuid4()),
    )


def _spill_files(spill_dir: Path) -> list[str]:
    return sorted(p for p in os.listdir(spill_dir) if p.startswith("usage-spill-"))


async def test_damaged_spill_lines_are_quarantined_and_the_rest_replayed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A spill file torn by a crash or a full disk (a line cut short, a line of garbage, a
    last line without its end) costs only its damaged lines: they are moved, unchanged, to a
    quarantine file beside it, every good row reaches storage once, the operator is told, and
    later rows go to storage, not to disk."""
    good = [_row(i) for i in range(4)]
    torn = to_json_line(_row(98))[:57]
    garbage = b"\x00\xff not json at all {"
    tail = to_json_line(_row(99))[:-30]
    spill = tmp_path / f"usage-spill-{DEAD_PID}.jsonl"
    spill.write_bytes(
        to_json_line(good[0])
        + to_json_line(good[1])
        + torn
        + b"\n"
        + garbage
        + b"\n"
        + to_json_line(good[2])
        + to_json_line(good[3])
        + tail
    )
    store = FakeStore()
    recorder = _recorder(store, tmp_path, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        assert store.inserted == Counter(row.id for row in good)
        for i in range(5):
            recorder.record(_record(i))
        await trio.sleep(2)
        assert len(store.rows) == 9  # the later rows are stored too
        nursery.cancel_scope.cancel()
    assert store.inserted == Counter(list(store.rows))  # each row handed over exactly once
    [quarantine] = [p for p in os.listdir(tmp_path) if p.startswith("usage-quarantine-")]
    assert (tmp_path / quarantine).read_bytes() == torn + b"\n" + garbage + b"\n" + tail + b"\n"
    assert _spill_files(tmp_path) == []
    stats = recorder.statistics()
    assert (stats.replayed, stats.quarantined, stats.written, stats.spilled) == (4, 3, 5, 0)
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert str(spill) in error.getMessage() and "3 damaged lines" in error.getMessage()
    assert quarantine in error.getMessage()
    [alarm] = recorder.alarms()
    assert quarantine in alarm and "3" in alarm


async def test_overload_spills_in_batches_not_row_by_row(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Storage slower than the traffic: the rows that find the buffer full go to disk a batch
    at a time, one fsync per batch (not one per row inside record(), which stalls every
    stream on the event loop), and all of them reach storage once it catches up."""
    fsyncs = 0
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        nonlocal fsyncs
        fsyncs += 1
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    store = FakeStore()
    recorder = UsageRecorder(
        store,  # type: ignore[arg-type]
        PriceTable.from_package(),
        tmp_path,
        buffer_size=10,
        flush_interval=1.0,
        now=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        offload=_slow_store_offload(store, 30.0),
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(1000):  # a thousand requests a second for a second
            recorder.record(_record(i))
            await trio.sleep(0.001)
        await trio.sleep(1)
        spilled = recorder.statistics().spilled
        assert spilled >= 800
        assert fsyncs <= 25, f"{fsyncs} fsyncs for {spilled} spilled rows"
        await trio.sleep(600)  # storage catches up; the spilled rows are replayed
        assert store.inserted == Counter(list(store.rows)) and len(store.rows) == 1000
        assert _spill_files(tmp_path) == []
        nursery.cancel_scope.cancel()


async def test_spill_failure_never_reaches_the_request(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage down and the spill directory unusable (disk full, permissions): record(), as
    the request handlers call it, still returns normally; the failure is logged and counted,
    the rows wait in memory, and they are written once storage is back."""
    spill_dir = tmp_path / "spill"
    spill_dir.write_bytes(b"a file where the spill directory should be")
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, spill_dir, flush_interval=1.0, buffer_size=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(10):
            recorder.record(_record(i))  # raises nothing
            await trio.sleep(0.5)
        await trio.sleep(5)
        stats = recorder.statistics()
        assert stats.spill_failures >= 1 and stats.spilled == 0 and stats.dropped == 0
        assert stats.held + stats.pending == 10
        assert any(
            r.levelno == logging.ERROR and str(spill_dir) in r.getMessage() for r in caplog.records
        )
        assert any("spill" in alarm for alarm in recorder.alarms())
        store.down = False
        await trio.sleep(60)
        assert store.inserted == Counter(list(store.rows)) and len(store.rows) == 10
        nursery.cancel_scope.cancel()
    stats = recorder.statistics()
    assert (stats.written, stats.held, stats.pending, stats.dropped) == (10, 0, 0, 0)


async def test_past_the_hard_cap_rows_are_dropped_loudly(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage and the spill file both failing: memory holds at most ``max_held`` rows for
    the spill; past that, rows are dropped, counted, logged at error level (a line per batch,
    not per row) and reported by /ready; the rows held are written when storage returns."""
    spill_dir = tmp_path / "spill"
    spill_dir.write_bytes(b"not a directory")
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, spill_dir, flush_interval=1.0, buffer_size=5, max_held=20)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(200):
            recorder.record(_record(i))
            await trio.sleep(0.01)
        await trio.sleep(5)
        stats = recorder.statistics()
        assert stats.held == 20
        assert stats.dropped == 200 - 20 - stats.pending
        dropped_lines = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert dropped_lines and all(r.levelno == logging.ERROR for r in dropped_lines)
        assert len(dropped_lines) < 20  # a line per batch, not a line per row
        assert any(str(stats.dropped) in alarm for alarm in recorder.alarms())
        store.down = False
        await trio.sleep(60)
        assert len(store.rows) == 200 - stats.dropped
        nursery.cancel_scope.cancel()


async def test_damaged_spill_found_while_storage_is_down(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The replay of a damaged file is retried while storage is down: its damaged lines are
    quarantined once, and its good rows land once storage is back."""
    good = _row(1)
    (tmp_path / f"usage-spill-{DEAD_PID}.jsonl").write_bytes(
        b"garbage\n" + to_json_line(good) + b'{"id": "cut sh'
    )
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, tmp_path, flush_interval=1.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        recorder.record(_record(2))
        await trio.sleep(20)
        assert store.rows == {}
        store.down = False
        await trio.sleep(40)
        nursery.cancel_scope.cancel()
    assert good.id in store.rows and len(store.rows) == 2
    [quarantine] = [p for p in os.listdir(tmp_path) if p.startswith("usage-quarantine-")]
    assert (tmp_path / quarantine).read_bytes() == b'garbage\n{"id": "cut sh\n'
    assert recorder.statistics().quarantined == 2
    assert _spill_files(tmp_path) == []


async def test_shutdown_spills_every_row_held_past_the_cap_too(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The cap bounds how far memory grows, not the last flush: on shutdown with storage down
    every row in memory goes to the spill file."""
    store = FakeStore()
    store.down = True
    recorder = _recorder(store, tmp_path, buffer_size=5, max_held=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(recorder.serve)
        for i in range(9):  # one to the task, five in the buffer, three held
            recorder.record(_record(i))
        nursery.cancel_scope.cancel()
    stats = recorder.statistics()
    assert (stats.spilled, stats.dropped, stats.held, stats.pending) == (9, 0, 0, 0)
    assert len(recorder.spill_path.read_bytes().splitlines()) == 9
