"""The audit store (SQLite and PostgreSQL alike) and the writer's batching, overflow and
retention, under MockClock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from gomodel.audit.entry import AuditEntry, entry_from_record
from gomodel.audit.query import parse_audit_query
from gomodel.audit.redact import Redactor
from gomodel.audit.writer import AuditWriter
from gomodel.storage.audit import SQLAuditStore, open_audit_store
from tests.audit.records import record
from tests.storage.pg import pg_schema

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
REDACTOR = Redactor(["sk-provider-secret-1"])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLAuditStore]:
    if request.param == "sqlite":
        opened = open_audit_store("sqlite", sqlite_path=tmp_path / "a.db")
        opened.migrate()
        yield opened
        opened.close()
        return
    with pg_schema() as url:
        opened = open_audit_store("postgresql", postgres_url=url)
        opened.migrate()
        yield opened
        opened.close()


def _entry(days_ago: float, request_id: str) -> AuditEntry:
    received = (NOW - timedelta(days=days_ago)).timestamp()
    return entry_from_record(
        record(received_at=received, request_id=request_id), REDACTOR, cap=1024
    )


async def _inline(fn: Callable[..., Any], *args: Any) -> Any:
    return fn(*args)


def test_insert_is_idempotent_and_pages(store: SQLAuditStore) -> None:
    entries = [_entry(i / 24, f"r{i}") for i in range(5)]
    store.insert(entries)
    store.insert(entries[:2])  # a retried batch
    assert store.count() == 5
    page = store.page(parse_audit_query({"limit": ["3"]}))
    assert [e["request_id"] for e in page["entries"]] == ["r0", "r1", "r2"]
    rest = store.page(parse_audit_query({"limit": ["3"], "cursor": [page["next_cursor"]]}))
    assert [e["request_id"] for e in rest["entries"]] == ["r3", "r4"] and rest[
        "next_cursor"
    ] is None
    since = (NOW - timedelta(hours=1, minutes=30)).isoformat()
    assert len(store.page(parse_audit_query({"since": [since]}))["entries"]) == 2
    assert store.by_request_id("r3") is not None and store.by_request_id("zz") is None


async def test_retention_removes_old_entries(
    store: SQLAuditStore, autojump_clock: trio.testing.MockClock
) -> None:
    """At start, and every hour after, entries older than LOGGING_RETENTION_DAYS go."""
    store.insert([_entry(40, "old"), _entry(29, "recent")])
    clock = [NOW]
    writer = AuditWriter(
        store, REDACTOR, 1024, retention_days=30, now=lambda: clock[0], offload=_inline
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        await trio.sleep(1)
        assert store.by_request_id("old") is None and store.by_request_id("recent") is not None
        clock[0] = NOW + timedelta(days=2)  # "recent" is now 31 days old
        await trio.sleep(3600)
        assert store.count() == 0
        nursery.cancel_scope.cancel()


async def test_batches_written_with_redaction(
    store: SQLAuditStore, autojump_clock: trio.testing.MockClock
) -> None:
    writer = AuditWriter(store, REDACTOR, 1024, flush_interval=5.0, offload=_inline)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        for n in range(150):
            writer.record(record(request_id=f"r{n}", request_body=b'{"k": "sk-provider-secret-1"}'))
        await trio.sleep(0.1)  # a full batch of 100 goes at once
        assert writer.statistics().written >= 100
        await trio.sleep(5)
        assert writer.statistics().written == 150 and store.count() == 150
        nursery.cancel_scope.cancel()
    entry = store.by_request_id("r7")
    assert entry is not None and entry.data["request_body"] == {"k": "[REDACTED]"}


class _FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.entries: list[AuditEntry] = []

    def migrate(self) -> None:
        return None

    def insert(self, entries: list[AuditEntry]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database down")
        self.entries += entries

    def delete_older_than(self, cutoff: datetime) -> int:
        return 0


async def test_full_buffer_drops_are_counted_and_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Overload: past LOGGING_BUFFER_SIZE entries are dropped, each one counted, with a warning
    at the first and a count per batch after."""
    store = _FlakyStore(failures=0)
    writer = AuditWriter(store, REDACTOR, 1024, buffer_size=3, offload=_inline)  # type: ignore[arg-type]
    for n in range(10):
        writer.record(record(request_id=f"r{n}"))
    assert writer.statistics().dropped == 7
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        await trio.sleep(6)
        nursery.cancel_scope.cancel()
    assert [e.request_id for e in store.entries] == ["r0", "r1", "r2"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("audit entries dropped: the buffer is full" in w for w in warnings)
    assert "6 audit entries dropped (7 in all)" in warnings


async def test_storage_down_keeps_entries_then_writes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    store = _FlakyStore(failures=3)
    writer = AuditWriter(store, REDACTOR, 1024, flush_interval=1.0, offload=_inline)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.serve)
        writer.record(record(request_id="kept"))
        await trio.sleep(2)
        assert writer.statistics().pending == 1 and writer.statistics().failed_writes >= 1
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    stats = writer.statistics()
    assert (stats.written, stats.dropped, stats.pending) == (1, 0, 0)
    assert [e.request_id for e in store.entries] == ["kept"]
