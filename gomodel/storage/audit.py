"""The audit log in the usage database: the ``audit_log`` table (component ``audit_log`` in
``gomodel_migrations``), SQLite or PostgreSQL like the usage rows, on a connection of its own
(so an audit batch never waits behind a usage batch, nor a key lookup behind either).

Plain blocking methods; the I/O shell calls them through ``trio.to_thread.run_sync``. Inserts
skip ids already stored, so a retried batch duplicates nothing. Pages are newest first by
``(timestamp, id)``, which sort the same in both backends (fixed-width UTC text / timestamptz;
canonical UUID text / uuid), so the cursor means the same in both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson

from gomodel.audit.entry import COLUMNS, AuditEntry
from gomodel.audit.query import AuditQuery, Cursor, encode_cursor
from gomodel.errors import ConfigError
from gomodel.storage.base import SQLUsageStore
from gomodel.storage.sql import Migration, Session, multi_row_inserts

__all__ = ["COMPONENT", "MIGRATIONS", "SQLAuditStore", "open_audit_store"]

COMPONENT = "audit_log"

MIGRATIONS = (
    Migration(
        1,
        "audit log table",
        (
            """CREATE TABLE audit_log (
                id {uuid} PRIMARY KEY,
                timestamp {ts} NOT NULL,
                request_id TEXT NOT NULL,
                key_id TEXT,
                auth_method TEXT NOT NULL,
                user_path TEXT NOT NULL DEFAULT '/',
                client TEXT,
                method TEXT NOT NULL,
                path TEXT NOT NULL,
                route TEXT NOT NULL,
                provider TEXT NOT NULL,
                provider_type TEXT NOT NULL,
                requested_model TEXT NOT NULL,
                model TEXT NOT NULL,
                route_kind TEXT NOT NULL,
                stream {bool} NOT NULL,
                status INTEGER NOT NULL,
                termination TEXT NOT NULL,
                error_type TEXT,
                error_code TEXT,
                error_message TEXT,
                duration_ms {float} NOT NULL,
                ttfb_ms {float},
                overhead_ms {float} NOT NULL,
                attempts INTEGER NOT NULL,
                input_tokens {int} NOT NULL DEFAULT 0,
                output_tokens {int} NOT NULL DEFAULT 0,
                data {json} NOT NULL
            )""",
            "CREATE INDEX audit_log_timestamp_idx ON audit_log (timestamp)",
            "CREATE INDEX audit_log_request_id_idx ON audit_log (request_id)",
            "CREATE INDEX audit_log_key_id_idx ON audit_log (key_id)",
        ),
    ),
)


class SQLAuditStore:
    """The audit log on a SQL backend (which it owns and closes)."""

    def __init__(self, backend: SQLUsageStore) -> None:
        self._backend = backend

    def __repr__(self) -> str:
        return f"SQLAuditStore({self._backend!r})"

    def migrate(self) -> None:
        self._backend.migrate_component(COMPONENT, MIGRATIONS)

    def _values(self, entry: AuditEntry) -> list[Any]:
        b = self._backend
        v = attrs.asdict(entry, recurse=False)
        v["id"] = b.dump_id(entry.id)
        v["timestamp"] = b.dump_ts(entry.timestamp)
        v["data"] = b.dump_json(entry.data)
        return [v[column] for column in COLUMNS]

    def insert(self, entries: Sequence[AuditEntry]) -> None:
        values = [self._values(entry) for entry in entries]
        statements = multi_row_inserts("audit_log", COLUMNS, values)

        def work(session: Session) -> None:
            for sql, params in statements:
                session.execute(sql, params)

        if statements:
            self._backend.transaction(work, write=True)

    def delete_older_than(self, cutoff: datetime) -> int:
        sql = "DELETE FROM audit_log WHERE timestamp < ?"
        stamp = self._backend.dump_ts(cutoff)
        return self._backend.transaction(lambda s: s.execute(sql, [stamp]), write=True)

    def page(self, q: AuditQuery) -> dict[str, Any]:
        """``{"entries": [...], "next_cursor": str | None, "limit": n}``, newest first."""
        b = self._backend
        clauses: list[str] = []
        params: list[Any] = []
        if q.since is not None:
            clauses.append("timestamp >= ?")
            params.append(b.dump_ts(q.since))
        if q.until is not None:
            clauses.append("timestamp < ?")
            params.append(b.dump_ts(q.until))
        for column in ("key_id", "provider", "request_id", "status"):
            value = getattr(q, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if q.model is not None:
            clauses.append("(model = ? OR requested_model = ?)")
            params += [q.model, q.model]
        if q.user_path is not None and q.user_path != "/":
            prefix = q.user_path + "/"
            clauses.append("(user_path = ? OR substr(user_path, 1, CAST(? AS INTEGER)) = ?)")
            params += [q.user_path, len(prefix), prefix]
        if q.after is not None:
            stamp = b.dump_ts(q.after.timestamp)
            clauses.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
            params += [stamp, stamp, b.dump_id(q.after.id)]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM audit_log {where} "
            "ORDER BY timestamp DESC, id DESC LIMIT ?"
        )
        rows = b.transaction(lambda s: s.fetch(sql, [*params, q.limit + 1]), write=False)
        entries = [_load(row) for row in rows[: q.limit]]
        more = len(rows) > q.limit
        last = entries[-1] if entries and more else None
        return {
            "entries": [entry.view() for entry in entries],
            "next_cursor": None if last is None else encode_cursor(Cursor(last.timestamp, last.id)),
            "limit": q.limit,
        }

    def by_request_id(self, request_id: str) -> AuditEntry | None:
        """The newest entry of a request id (a client may reuse its ``X-Request-ID``)."""
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM audit_log WHERE request_id = ? "
            "ORDER BY timestamp DESC, id DESC LIMIT 1"
        )
        rows = self._backend.transaction(lambda s: s.fetch(sql, [request_id]), write=False)
        return _load(rows[0]) if rows else None

    def count(self) -> int:
        rows = self._backend.transaction(
            lambda s: s.fetch("SELECT count(*) FROM audit_log"), write=False
        )
        return int(rows[0][0])

    def close(self) -> None:
        self._backend.close()


def _load(row: Sequence[Any]) -> AuditEntry:
    v = dict(zip(COLUMNS, row, strict=True))
    stamp = v["timestamp"]
    stamp = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    data = v["data"]
    v.update(
        id=str(v["id"]),
        timestamp=stamp.astimezone(UTC),
        stream=bool(v["stream"]),
        data=data if isinstance(data, dict) else orjson.loads(data),
    )
    return AuditEntry(**v)


def open_audit_store(
    storage_type: str, *, sqlite_path: str | Path = "data/gomodel.db", postgres_url: str = ""
) -> SQLAuditStore:
    """The audit store in the database ``STORAGE_TYPE`` names, connected at its first call."""
    if storage_type == "sqlite":
        from gomodel.storage.sqlite import SQLiteStore

        return SQLAuditStore(SQLiteStore(sqlite_path))
    if storage_type in ("postgresql", "postgres"):
        if not postgres_url:
            raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE=postgresql")
        from gomodel.storage.postgres import PostgresStore

        return SQLAuditStore(PostgresStore(postgres_url))
    raise ConfigError(
        "STORAGE_TYPE", f"{storage_type!r} is not supported; expected sqlite, postgresql"
    )
