"""What stores usage rows, and the SQL both backends share (SPEC §7.3, §7.4).

:class:`UsageStore` is the interface: plain blocking methods, called from the event loop through
``trio.to_thread.run_sync``. :class:`SQLUsageStore` implements it once for SQLite and PostgreSQL;
a backend only opens connections, runs a unit of work in a transaction and says how it spells
a UUID, a timestamp, a JSON value and a 15-minute bucket.

Both backends answer every admin query identically for the same rows:

* costs are stored as integer nano-dollars (``*_cost_nano``) and summed as integers in SQL;
  answers turn them into JSON numbers (the nearest double to the exact decimal) at the edge;
* rows are grouped in SQL by 15-minute UTC bucket only; Python maps each bucket to its period in
  the query's time zone (every current UTC offset is a multiple of 15 minutes, so a bucket never
  straddles a local midnight), so both backends and every time zone group the same way;
* answers are sorted in Python (database collations differ), the log by ``(timestamp, id)``,
  which sort the same in both (fixed-width UTC text / ``timestamptz``; canonical UUID text /
  ``uuid``);
* text matching avoids collations: the user-path subtree is ``substr`` equality, ``search`` is
  ``lower(column) LIKE`` with the wildcards escaped (case-insensitive for ASCII in both).

No trio, httpx or hypercorn: the stores are plain blocking code.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import attrs

from gomodel.storage.queries import (
    Totals,
    UsageQuery,
    escape_like,
    iso_utc,
    log_entry,
    nano_dollars,
)
from gomodel.storage.sql import Migration, Session, multi_row_inserts
from gomodel.storage.usage_schema import COLUMNS, COMPONENT, MIGRATIONS, load_row
from gomodel.usage.row import UsageRow

__all__ = ["SQLUsageStore", "UsageStore"]

T = TypeVar("T")

BUCKET_SECONDS = 900
# Search looks in these columns.
SEARCHED = ("model", "requested_model", "provider", "provider_type", "request_id", "provider_id")


class UsageStore(Protocol):
    """Where usage rows live. Blocking; safe to call from several threads."""

    def migrate(self) -> None:
        """Bring the schema up to date; idempotent, safe from several processes at once."""

    def insert(self, rows: Sequence[UsageRow]) -> None:
        """Store ``rows`` atomically; rows whose id is already stored are skipped."""

    def delete_older_than(self, cutoff: datetime) -> int:
        """Delete rows before ``cutoff`` (aware); returns how many."""

    def summary(self, q: UsageQuery) -> dict[str, Any]:
        """``GET usage/summary``."""

    def daily(self, q: UsageQuery) -> list[dict[str, Any]]:
        """``GET usage/daily``: one entry per period of ``q.interval`` that has rows."""

    def models(self, q: UsageQuery) -> list[dict[str, Any]]:
        """``GET usage/models``."""

    def user_paths(self, q: UsageQuery) -> list[dict[str, Any]]:
        """``GET usage/user-paths``."""

    def log(self, q: UsageQuery) -> dict[str, Any]:
        """``GET usage/log``: newest first, filtered and paginated."""

    def count(self) -> int:
        """How many rows are stored."""

    def spend(self, scope: str, start: datetime, end: datetime) -> int:
        """Nano-dollars a budget scope spent in ``[start, end)``."""

    def ping(self) -> None:
        """Raise unless storage answers (and its schema is there): the readiness probe."""

    def close(self) -> None:
        """Release the connection; idempotent."""


_AGGREGATES = (
    "count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), "
    "coalesce(sum(total_tokens), 0), sum(input_cost_nano), sum(output_cost_nano), "
    "sum(total_cost_nano)"
)


class SQLUsageStore(abc.ABC):
    """:class:`UsageStore` over a SQL backend; subclasses supply the connection and dialect."""

    #: Column types for :data:`MIGRATIONS`' slots.
    types: Mapping[str, str]
    #: SQL for a row's 15-minute UTC bucket: ``floor(epoch seconds / 900)``.
    bucket_sql: str
    #: A statement that serialises concurrent migrations, if the transaction does not already.
    migration_lock_sql: str | None = None

    @abc.abstractmethod
    def _run(self, work: Callable[[Session], T], *, write: bool) -> T:
        """``work`` in one transaction on this store's connection, one caller at a time."""

    @abc.abstractmethod
    def _dump_id(self, row_id: str) -> Any: ...

    @abc.abstractmethod
    def _dump_ts(self, instant: datetime) -> Any: ...

    @abc.abstractmethod
    def _dump_json(self, value: Mapping[str, Any]) -> Any: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection; idempotent."""

    # -- writing -------------------------------------------------------------------------------

    def migrate(self) -> None:
        self.migrate_component(COMPONENT, MIGRATIONS)

    # -- for other components in the same database ---------------------------------------------
    # A feature with tables of its own (managed keys: gomodel/storage/keys.py) keeps them in
    # this database and reuses the connection handling and dialect through these methods.

    #: What the driver raises when the database fails (a subclass names its driver's errors).
    database_errors: tuple[type[Exception], ...] = ()

    def migrate_component(self, component: str, migrations: Sequence[Migration]) -> None:
        """Apply ``component``'s migrations not yet recorded in ``gomodel_migrations``."""

        def work(s: Session) -> None:
            if self.migration_lock_sql:
                s.execute(self.migration_lock_sql)
            s.execute(
                "CREATE TABLE IF NOT EXISTS gomodel_migrations (component TEXT NOT NULL, "
                "version INTEGER NOT NULL, name TEXT NOT NULL, applied_at TEXT NOT NULL, "
                "PRIMARY KEY (component, version))"
            )
            sql = "SELECT version FROM gomodel_migrations WHERE component = ?"
            done = {int(v) for (v,) in s.fetch(sql, [component])}
            for migration in migrations:
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    s.execute(statement.format(**self.types))
                s.execute(
                    "INSERT INTO gomodel_migrations (component, version, name, applied_at) "
                    "VALUES (?, ?, ?, ?)",
                    [component, migration.version, migration.name, iso_utc(datetime.now(UTC))],
                )

        self._run(work, write=True)

    def transaction(self, work: Callable[[Session], T], *, write: bool) -> T:
        """``work`` in one transaction (``write``: one that takes the write lock at once)."""
        return self._run(work, write=write)

    def dump_id(self, row_id: str) -> Any:
        """A UUID as this backend binds it."""
        return self._dump_id(row_id)

    def dump_ts(self, instant: datetime) -> Any:
        """An aware instant as this backend binds it."""
        return self._dump_ts(instant)

    def dump_json(self, value: Mapping[str, Any]) -> Any:
        """A JSON object as this backend binds it."""
        return self._dump_json(value)

    def _values(self, row: UsageRow) -> tuple[Any, ...]:
        v = attrs.asdict(row, recurse=False)
        v["id"] = self._dump_id(row.id)
        v["timestamp"] = self._dump_ts(row.timestamp)
        v["raw_usage"] = self._dump_json(row.raw_usage)
        for side in ("input", "output", "total"):
            v[f"{side}_cost_nano"] = nano_dollars(v.pop(f"{side}_cost"))
        return tuple(v[column] for column in COLUMNS)

    def insert(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            return
        statements = multi_row_inserts("usage", COLUMNS, [self._values(row) for row in rows])

        def write(session: Session) -> None:
            for sql, params in statements:
                session.execute(sql, params)

        self._run(write, write=True)

    def delete_older_than(self, cutoff: datetime) -> int:
        if cutoff.utcoffset() is None:
            raise ValueError("cutoff must be a timezone-aware datetime")
        sql = "DELETE FROM usage WHERE timestamp < ?"
        return self._run(lambda s: s.execute(sql, [self._dump_ts(cutoff)]), write=True)

    # -- reading -------------------------------------------------------------------------------

    def spend(self, scope: str, start: datetime, end: datetime) -> int:
        """Nano-dollars spent in ``[start, end)`` by a budget scope: ``path:/a`` (the user path
        and its subtree) or ``key:<id>``. What a budget counter starts from when it is absent
        (first use in its window, or after the shared state lost it). Rows without a price
        count nothing."""
        clauses = ["timestamp >= ?", "timestamp < ?"]
        params: list[Any] = [self._dump_ts(start), self._dump_ts(end)]
        kind, _, name = scope.partition(":")
        if kind == "key":
            clauses.append("key_id = ?")
            params.append(name)
        elif kind == "path" and name != "/":
            prefix = name + "/"
            clauses.append("(user_path = ? OR substr(user_path, 1, CAST(? AS INTEGER)) = ?)")
            params += [name, len(prefix), prefix]
        elif kind != "path":
            raise ValueError(f"not a budget scope: {scope!r}")
        sql = f"SELECT coalesce(sum(total_cost_nano), 0) FROM usage WHERE {' AND '.join(clauses)}"
        rows = self._run(lambda s: s.fetch(sql, params), write=False)
        return int(rows[0][0])

    def _where(self, q: UsageQuery, *, log_filters: bool = False) -> tuple[str, list[Any]]:
        clauses = ["timestamp >= ?", "timestamp < ?"]
        params: list[Any] = [self._dump_ts(q.start), self._dump_ts(q.end)]
        if q.user_path != "/":
            prefix = q.user_path + "/"
            clauses.append("(user_path = ? OR substr(user_path, 1, CAST(? AS INTEGER)) = ?)")
            params += [q.user_path, len(prefix), prefix]
        if q.cache_mode == "cached":
            clauses.append("1 = 0")  # no response cache yet: no row was served from one
        if log_filters and q.model is not None:
            clauses.append("model = ?")
            params.append(q.model)
        if log_filters and q.provider is not None:
            clauses.append("(provider = ? OR provider_type = ?)")
            params += [q.provider, q.provider]
        if log_filters and q.search is not None:
            pattern = "%" + escape_like(q.search.lower()) + "%"
            clauses.append(
                "(" + " OR ".join(f"lower({c}) LIKE ? ESCAPE '\\'" for c in SEARCHED) + ")"
            )
            params += [pattern] * len(SEARCHED)
        return " AND ".join(clauses), params

    def _grouped(self, q: UsageQuery, keys: str) -> list[tuple[Any, ...]]:
        where, params = self._where(q)
        sql = f"SELECT {keys}, {_AGGREGATES} FROM usage WHERE {where} GROUP BY {keys}"
        return self._run(lambda s: s.fetch(sql, params), write=False)

    def summary(self, q: UsageQuery) -> dict[str, Any]:
        where, params = self._where(q)
        sql = f"SELECT {_AGGREGATES} FROM usage WHERE {where}"
        totals = Totals()
        for values in self._run(lambda s: s.fetch(sql, params), write=False):
            totals.add(values)
        answer = totals.answer()
        return {
            "total_requests": answer["requests"],
            "total_input_tokens": answer["input_tokens"],
            "total_output_tokens": answer["output_tokens"],
            "total_tokens": answer["total_tokens"],
            "total_input_cost": answer["input_cost"],
            "total_output_cost": answer["output_cost"],
            "total_cost": answer["total_cost"],
        }

    def daily(self, q: UsageQuery) -> list[dict[str, Any]]:
        periods: dict[str, Totals] = {}
        for bucket, *values in self._grouped(q, self.bucket_sql):
            instant = datetime.fromtimestamp(int(bucket) * BUCKET_SECONDS, UTC)
            periods.setdefault(q.period_of(instant), Totals()).add(values)
        return [{"date": label, **periods[label].answer()} for label in sorted(periods)]

    def models(self, q: UsageQuery) -> list[dict[str, Any]]:
        groups: dict[tuple[str, str, str], Totals] = {}
        for model, ptype, name, *values in self._grouped(q, "model, provider_type, provider"):
            groups.setdefault((model, ptype, name or ptype), Totals()).add(values)
        answers = []
        for (model, ptype, name), totals in groups.items():
            answer = totals.answer()
            answers.append(
                {
                    "model": model,
                    "provider": ptype,
                    "provider_name": name,
                    "input_tokens": answer["input_tokens"],
                    "output_tokens": answer["output_tokens"],
                    "input_cost": answer["input_cost"],
                    "output_cost": answer["output_cost"],
                    "total_cost": answer["total_cost"],
                }
            )
        answers.sort(
            key=lambda a: (
                a["total_cost"] is None,
                -(a["total_cost"] or 0),
                a["model"],
                a["provider"],
                a["provider_name"],
            )
        )
        return answers

    def user_paths(self, q: UsageQuery) -> list[dict[str, Any]]:
        groups: dict[str, Totals] = {}
        for path, *values in self._grouped(q, "user_path"):
            groups.setdefault(path or "/", Totals()).add(values)
        answers = []
        for path in sorted(groups):
            answer = groups[path].answer()
            del answer["requests"]
            answers.append({"user_path": path, **answer})
        return answers

    def log(self, q: UsageQuery) -> dict[str, Any]:
        where, params = self._where(q, log_filters=True)
        count_sql = f"SELECT count(*) FROM usage WHERE {where}"
        page_sql = (
            f"SELECT {', '.join(COLUMNS)} FROM usage WHERE {where} "
            "ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?"
        )

        def work(s: Session) -> tuple[int, list[tuple[Any, ...]]]:
            ((total,),) = s.fetch(count_sql, params)
            return int(total), s.fetch(page_sql, [*params, q.limit, q.offset])

        total, page = self._run(work, write=False)
        entries = [log_entry(load_row(values)) for values in page]
        return {"entries": entries, "total": total, "limit": q.limit, "offset": q.offset}

    def count(self) -> int:
        ((n,),) = self._run(lambda s: s.fetch("SELECT count(*) FROM usage"), write=False)
        return int(n)

    def ping(self) -> None:
        self._run(lambda s: s.fetch("SELECT 1 FROM usage LIMIT 1"), write=False)
