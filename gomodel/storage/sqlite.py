"""Usage rows in SQLite (the default, ``STORAGE_TYPE=sqlite``, ``SQLITE_PATH``).

The standard library's ``sqlite3``, one connection in WAL mode (readers never wait for the
writer), shared by the worker threads that call it under a lock. Transactions are explicit:
``BEGIN IMMEDIATE`` for writes takes the database's write lock at once, which also serialises
migrations between processes sharing the file; other processes wait up to ``busy_timeout``.

Timestamps are fixed-width UTC text (``2025-01-31T23:59:59.123456Z``: text order is time
order), booleans 0/1, UUIDs canonical text, ``raw_usage`` JSON text.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from gomodel.storage.base import SQLUsageStore
from gomodel.storage.sql import Session

__all__ = ["SQLiteStore"]

T = TypeVar("T")


class _SQLiteSession:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount


class SQLiteStore(SQLUsageStore):
    """Usage rows in the SQLite file at ``path`` (its directory is created if missing)."""

    types: Mapping[str, str] = {
        "uuid": "TEXT",
        "ts": "TEXT",
        "bool": "INTEGER",
        "int": "INTEGER",
        "float": "REAL",
        "json": "TEXT",
    }
    # Whole seconds only: SQLite's date functions round fractions to milliseconds, which would
    # move 23:59:59.9999995 into the next day.
    bucket_sql = "CAST(strftime('%s', substr(timestamp, 1, 19)) AS INTEGER) / 900"
    database_errors = (sqlite3.Error,)

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # worker threads take turns under self._lock
            uri=self.path.startswith("file:"),
        )
        try:
            self._use_wal(conn)
            # Commits survive a crash of the process; a power cut may lose the last few.
            conn.execute("PRAGMA synchronous=NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the file to WAL (persistent). The switch needs the file to itself and SQLite
        does not wait for that, so processes starting together retry it."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _run(self, work: Callable[[Session], T], *, write: bool) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = work(_SQLiteSession(conn))
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def _dump_id(self, row_id: str) -> Any:
        return row_id

    def _dump_ts(self, instant: datetime) -> Any:
        return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _dump_json(self, value: Mapping[str, Any]) -> Any:
        return orjson.dumps(value).decode()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None
