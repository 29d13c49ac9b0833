"""The spill directory's files: durable batched appends, claims, and the quarantine."""

from __future__ import annotations

import errno
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gomodel.storage import spill
from gomodel.termination import Termination
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import UsageRow, row_from_record, to_json_line

DEAD_PID = 2**22 + 12345  # above Linux's pid_max default: no such process


def _row(i: int) -> UsageRow:
    record = UsageRecord(
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
    return row_from_record(
        record,
        prices=PriceTable.from_package(),
        now=datetime(2026, 1, 1, tzinfo=UTC),
        row_id=str(uuid.uuid4()),
    )


def test_append_after_a_torn_line_starts_a_new_line(tmp_path: Path) -> None:
    """A file that ends in half a line (the process died mid-write): the next batch starts on
    a line of its own, so the torn line costs only itself."""
    path = spill.live_spill_path(tmp_path, DEAD_PID)
    torn = to_json_line(_row(0))[:50]
    path.write_bytes(torn)
    rows = [_row(i) for i in range(1, 4)]
    spill.append_rows(path, rows)
    contents = spill.read_spill(path)
    assert contents.rows == tuple(rows)
    assert contents.damaged == (torn,)


def test_a_failed_append_leaves_the_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full at fsync: the error reaches the caller (who keeps the rows) and the bytes
    written are cut off again, so the retry does not follow half a batch."""
    path = spill.live_spill_path(tmp_path, DEAD_PID)
    spill.append_rows(path, [_row(0)])
    before = path.read_bytes()

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        spill.append_rows(path, [_row(i) for i in range(1, 50)])
    assert path.read_bytes() == before


def test_claims_skip_live_processes_and_happen_once(tmp_path: Path) -> None:
    """A file of a process that still runs is left alone; a dead one's is claimed by exactly
    one of the processes sharing the directory."""
    live = spill.live_spill_path(tmp_path, 1)  # pid 1 always runs
    dead = spill.live_spill_path(tmp_path, DEAD_PID)
    for path in (live, dead):
        spill.append_rows(path, [_row(0)])
    [(origin, claimed)] = spill.claim_replayable(tmp_path, os.getpid())
    assert origin == dead and not dead.exists()
    assert claimed.name.startswith(f"usage-spill-{os.getpid()}.")
    assert spill.claim_replayable(tmp_path, os.getpid() + 1) == []  # already someone's
    assert spill.claim_replayable(tmp_path, os.getpid()) == [(claimed, claimed)]  # a retry
    assert live.exists()


def test_quarantine_moves_the_damaged_lines(tmp_path: Path) -> None:
    """The damaged lines go, byte for byte, to the quarantine file; the spill file keeps its
    good lines, so a repeated replay finds nothing more to set aside."""
    path = tmp_path / "usage-spill-7.abc.jsonl"
    good = to_json_line(_row(1))
    path.write_bytes(b"{half a\n" + good + b"\r\x00garbage")
    contents = spill.read_spill(path)
    target = spill.quarantine(path, contents)
    assert target.name == "usage-quarantine-7.abc.jsonl"
    assert target.read_bytes() == b"{half a\n\r\x00garbage\n"
    assert path.read_bytes() == good
    assert spill.read_spill(path).damaged == ()
    assert spill.quarantined(tmp_path) == (("usage-quarantine-7.abc.jsonl", 2),)
