"""Budgets and rate limits in the usage database: the ``limit_rules`` table.

One row per rule ``(scope, metric, period) -> amount`` (period ``-`` for concurrency), set
through the admin API or seeded from the environment (``SET_BUDGET_*``, ...). Replicas share
the rules through this table; every write bumps ``limit_rules_revision`` in the same
transaction, so a replica polls one tiny read and reloads the rules only when they changed
(as the managed keys do, :mod:`gomodel.storage.keys`). Plain blocking methods, called through
``trio.to_thread.run_sync``. A database failure is a 503 (``code=limits_unavailable``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

import attrs

from gomodel.errors import ConfigError, UpstreamUnavailable
from gomodel.limits.model import Limit, Metric, Period
from gomodel.storage.base import SQLUsageStore
from gomodel.storage.sql import Migration, Session

__all__ = ["RuleSnapshot", "RuleStore", "SQLRuleStore", "open_rule_store"]

T = TypeVar("T")

COMPONENT = "limit_rules"
MIGRATIONS = (
    Migration(
        1,
        "limit rules table",
        (
            """CREATE TABLE limit_rules (
                scope TEXT NOT NULL,
                metric TEXT NOT NULL,
                period TEXT NOT NULL,
                amount {int} NOT NULL,
                updated_at {ts} NOT NULL,
                PRIMARY KEY (scope, metric, period)
            )""",
            "CREATE TABLE limit_rules_revision (id INTEGER PRIMARY KEY, revision {int} NOT NULL)",
            "INSERT INTO limit_rules_revision (id, revision) VALUES (1, 0)",
        ),
    ),
)
_BUMP = "UPDATE limit_rules_revision SET revision = revision + 1 WHERE id = 1"
_REVISION = "SELECT revision FROM limit_rules_revision WHERE id = 1"
_NO_PERIOD = "-"


@attrs.frozen
class RuleSnapshot:
    revision: int
    rules: tuple[Limit, ...]


class RuleStore(Protocol):
    def migrate(self) -> None: ...

    def replace(self, scope: str, metrics: Sequence[Metric], rules: Sequence[Limit],
                now: datetime) -> None:  # fmt: skip
        """Drop ``scope``'s rules of ``metrics`` and store ``rules`` instead, atomically."""

    def put(self, rule: Limit, now: datetime) -> None:
        """Store ``rule``, replacing the one of its scope, metric and period."""

    def delete(self, scope: str, metric: Metric | None, period: Period | None) -> int:
        """Drop one rule (``metric`` None: every rate limit of the scope); how many went."""

    def seed(self, rules: Sequence[Limit], now: datetime) -> int:
        """Store the rules that are not stored yet (same scope, metric and period)."""

    def revision(self) -> int: ...

    def snapshot(self) -> RuleSnapshot: ...

    def close(self) -> None: ...


class SQLRuleStore:
    """:class:`RuleStore` on a SQL backend (which it owns and closes)."""

    def __init__(self, backend: SQLUsageStore) -> None:
        self._backend = backend

    def _run(self, work: Callable[[Session], T], *, write: bool) -> T:
        try:
            return self._backend.transaction(work, write=write)
        except self._backend.database_errors as exc:
            raise _unavailable(exc)

    def migrate(self) -> None:
        try:
            self._backend.migrate_component(COMPONENT, MIGRATIONS)
        except self._backend.database_errors as exc:
            raise _unavailable(exc)

    def replace(
        self, scope: str, metrics: Sequence[Metric], rules: Sequence[Limit], now: datetime
    ) -> None:
        stamp = self._backend.dump_ts(now)

        def work(s: Session) -> None:
            for metric in metrics:
                s.execute("DELETE FROM limit_rules WHERE scope = ? AND metric = ?",
                          [scope, metric.value])  # fmt: skip
            for rule in rules:
                s.execute(
                    "INSERT INTO limit_rules (scope, metric, period, amount, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [rule.scope, rule.metric.value, _period(rule.period), rule.limit, stamp],
                )
            s.execute(_BUMP)

        self._run(work, write=True)

    def put(self, rule: Limit, now: datetime) -> None:
        stamp = self._backend.dump_ts(now)
        key = [rule.scope, rule.metric.value, _period(rule.period)]

        def work(s: Session) -> None:
            s.execute("DELETE FROM limit_rules WHERE scope = ? AND metric = ? AND period = ?", key)
            s.execute(
                "INSERT INTO limit_rules (scope, metric, period, amount, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [*key, rule.limit, stamp],
            )
            s.execute(_BUMP)

        self._run(work, write=True)

    def delete(self, scope: str, metric: Metric | None, period: Period | None) -> int:
        if metric is None:
            sql = "DELETE FROM limit_rules WHERE scope = ? AND metric != ?"
            params: list[object] = [scope, Metric.COST.value]
        else:
            sql = "DELETE FROM limit_rules WHERE scope = ? AND metric = ? AND period = ?"
            params = [scope, metric.value, _period(period)]

        def work(s: Session) -> int:
            gone = s.execute(sql, params)
            if gone:
                s.execute(_BUMP)
            return gone

        return self._run(work, write=True)

    def seed(self, rules: Sequence[Limit], now: datetime) -> int:
        stamp = self._backend.dump_ts(now)

        def work(s: Session) -> int:
            added = 0
            for rule in rules:
                key = [rule.scope, rule.metric.value, _period(rule.period)]
                found = s.fetch(
                    "SELECT 1 FROM limit_rules WHERE scope = ? AND metric = ? AND period = ?", key
                )
                if not found:
                    s.execute(
                        "INSERT INTO limit_rules (scope, metric, period, amount, updated_at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [*key, rule.limit, stamp],
                    )
                    added += 1
            if added:
                s.execute(_BUMP)
            return added

        return self._run(work, write=True)

    def revision(self) -> int:
        return int(self._run(lambda s: s.fetch(_REVISION), write=False)[0][0])

    def snapshot(self) -> RuleSnapshot:
        def work(s: Session) -> RuleSnapshot:
            ((revision,),) = s.fetch(_REVISION)
            rows = s.fetch("SELECT scope, metric, period, amount FROM limit_rules")
            rules = tuple(
                Limit(scope, Metric(metric), int(amount), None if p == _NO_PERIOD else Period(p))
                for scope, metric, p, amount in rows
            )
            return RuleSnapshot(int(revision), tuple(sorted(rules, key=lambda r: r.name)))

        return self._run(work, write=False)

    def close(self) -> None:
        self._backend.close()


def open_rule_store(
    storage_type: str, *, sqlite_path: str | Path = "data/gomodel.db", postgres_url: str = ""
) -> SQLRuleStore:
    """The rule store in the database ``STORAGE_TYPE`` names, on a connection of its own."""
    if storage_type == "sqlite":
        from gomodel.storage.sqlite import SQLiteStore

        return SQLRuleStore(SQLiteStore(sqlite_path))
    if storage_type in ("postgresql", "postgres"):
        if not postgres_url:
            raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE=postgresql")
        from gomodel.storage.postgres import PostgresStore

        return SQLRuleStore(PostgresStore(postgres_url))
    raise ConfigError("STORAGE_TYPE", f"{storage_type!r} is not supported")


def _period(period: Period | None) -> str:
    return _NO_PERIOD if period is None else period.value


def _unavailable(exc: Exception) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"limit storage is unavailable: {type(exc).__name__}: {exc}", code="limits_unavailable"
    )
