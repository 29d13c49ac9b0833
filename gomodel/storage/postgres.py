"""Usage rows in PostgreSQL (``STORAGE_TYPE=postgresql``, ``POSTGRES_URL``).

psycopg 3, synchronous, one connection per store used by one worker thread at a time: the
recorder and the admin API call the store through ``trio.to_thread.run_sync``, so the event loop
never waits on the database and no async driver has to be married to trio. Several gateway
processes can share one database: inserts skip ids already stored, and migrations take a
transaction-scoped advisory lock, so processes starting together apply each migration once.

An outage heals by itself: a call that finds its connection broken drops it and retries once on
a new connection (every operation is safe to repeat: inserts are idempotent on the id); if the
database is still down the error goes to the caller, and the next call connects again.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Json

from gomodel.storage.base import SQLUsageStore
from gomodel.storage.sql import Session

__all__ = ["PostgresStore"]

T = TypeVar("T")

# pg_advisory_xact_lock key for migrations: "gomodel" in ASCII.
MIGRATION_LOCK_KEY = 0x676F6D6F64656C
_DISCONNECTS = (psycopg.OperationalError, psycopg.InterfaceError)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _pg(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PostgresSession:
    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._cursor.execute(_pg(sql), params)
        return self._cursor.fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(_pg(sql), params)
        return self._cursor.rowcount


class PostgresStore(SQLUsageStore):
    """Usage rows in the PostgreSQL database at ``url`` (a libpq URL or conninfo string).

    The table lives in the connection's ``search_path`` schema (``?options=-csearch_path=x``).
    """

    types: Mapping[str, str] = {
        "uuid": "UUID",
        "ts": "TIMESTAMPTZ",
        "bool": "BOOLEAN",
        "int": "BIGINT",
        "float": "DOUBLE PRECISION",
        "json": "JSON",  # not JSONB: it takes any valid JSON text, \u0000 included
    }
    bucket_sql = "CAST(floor(extract(epoch FROM timestamp) / 900) AS BIGINT)"
    migration_lock_sql = f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
    database_errors = (psycopg.Error,)

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self.url = url
        self._connect_options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in conninfo_to_dict(url):
            self._connect_options["connect_timeout"] = connect_timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return "PostgresStore(...)"  # the URL may hold a password

    def _discard(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _attempt(self, conn: psycopg.Connection[Any], work: Callable[[Session], T]) -> T:
        with conn.transaction(), conn.cursor() as cursor:
            return work(_PostgresSession(cursor))

    def _run(self, work: Callable[[Session], T], *, write: bool) -> T:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._conn is not None and not self._conn.closed:
                try:
                    return self._attempt(self._conn, work)
                except _DISCONNECTS:
                    if not self._conn.closed and not self._conn.broken:
                        raise  # the server answered: an error, not an outage
                    self._discard()
            self._discard()
            self._conn = psycopg.connect(self.url, **self._connect_options)
            try:
                return self._attempt(self._conn, work)
            except _DISCONNECTS:
                if self._conn.closed or self._conn.broken:
                    self._discard()
                raise

    def _dump_id(self, row_id: str) -> Any:
        return uuid.UUID(row_id)

    def _dump_ts(self, instant: datetime) -> Any:
        return instant

    def _dump_json(self, value: Mapping[str, Any]) -> Any:
        return Json(value, dumps=_dumps)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._discard()
