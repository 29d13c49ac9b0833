"""Managed API keys in the usage database: the ``auth_keys`` table (SPEC §9).

:class:`SQLAuthKeyStore` keeps its table in the same SQLite file or PostgreSQL database as the
usage rows, through a backend of its own (:class:`~gomodel.storage.sqlite.SQLiteStore` or
:class:`~gomodel.storage.postgres.PostgresStore`: their connection handling, dialect and
migrations, as component ``auth_keys``). Its own connection, so key lookups never queue behind
a usage batch. Plain blocking methods, like the usage store: the I/O shell calls them through
``trio.to_thread.run_sync``.

Only the SHA-256 of a secret and its redacted form are stored, never the secret.

Every write also bumps the single row of ``auth_keys_revision`` in the same transaction, so a
replica learns whether anything changed from one tiny read (``revision()``) and reloads the key
set (``snapshot()``) only then. ``snapshot()`` reads the revision *before* the rows: the rows are
at least as new as the revision they come with, so a change is never missed.

A database failure is raised as :class:`~gomodel.errors.UpstreamUnavailable` (503,
``code=auth_keys_unavailable``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs
import orjson

from gomodel.errors import ConfigError, UpstreamUnavailable
from gomodel.keys.record import AuthKey
from gomodel.storage.base import SQLUsageStore
from gomodel.storage.sql import Migration, Session

__all__ = [
    "COMPONENT",
    "MIGRATIONS",
    "AuthKeyStore",
    "KeySet",
    "SQLAuthKeyStore",
    "open_auth_key_store",
]

T = TypeVar("T")

COMPONENT = "auth_keys"

MIGRATIONS = (
    Migration(
        1,
        "auth keys table",
        (
            """CREATE TABLE auth_keys (
                id {uuid} PRIMARY KEY,
                name TEXT NOT NULL,
                description TEXT NOT NULL DEFAULT '',
                user_path TEXT,
                redacted_value TEXT NOT NULL,
                secret_hash TEXT NOT NULL UNIQUE,
                enabled {bool} NOT NULL,
                expires_at {ts},
                deactivated_at {ts},
                created_at {ts} NOT NULL,
                updated_at {ts} NOT NULL,
                allowed_models TEXT
            )""",
            "CREATE TABLE auth_keys_revision (id INTEGER PRIMARY KEY, revision {int} NOT NULL)",
            "INSERT INTO auth_keys_revision (id, revision) VALUES (1, 0)",
        ),
    ),
)

_COLUMNS = (
    "id, name, description, user_path, redacted_value, secret_hash, enabled, expires_at, "
    "deactivated_at, created_at, updated_at, allowed_models"
)
_BUMP = "UPDATE auth_keys_revision SET revision = revision + 1 WHERE id = 1"


@attrs.frozen
class KeySet:
    """Every stored key, and the revision they are at least as new as."""

    revision: int
    keys: tuple[AuthKey, ...]


class AuthKeyStore(Protocol):
    """Where managed keys live. Blocking; safe to call from several threads."""

    def migrate(self) -> None:
        """Create or update the tables; idempotent, safe from several processes at once."""

    def create(self, key: AuthKey) -> None: ...

    def list(self) -> list[AuthKey]:
        """Every key, newest first (then by name and id), as GOModel lists them."""

    def get(self, key_id: str) -> AuthKey | None: ...

    def find_by_hash(self, secret_hash: str) -> AuthKey | None: ...

    def deactivate(self, key_id: str, now: datetime) -> AuthKey | None:
        """Deactivate (once: a second call changes nothing); ``None`` for an unknown id."""

    def set_allowed_models(
        self, key_id: str, allowed_models: tuple[str, ...] | None, now: datetime
    ) -> AuthKey | None:
        """Replace the allow-list (``None``: every model); ``None`` for an unknown id."""

    def revision(self) -> int:
        """A number that changes with every write: the cheap change marker."""

    def snapshot(self) -> KeySet:
        """Every key with the revision it reflects, in one transaction."""

    def close(self) -> None: ...


class SQLAuthKeyStore:
    """:class:`AuthKeyStore` on a SQL backend (which it owns and closes)."""

    def __init__(self, backend: SQLUsageStore) -> None:
        self._backend = backend

    def __repr__(self) -> str:
        return f"SQLAuthKeyStore({self._backend!r})"

    def _run(self, work: Callable[[Session], T], *, write: bool) -> T:
        try:
            return self._backend.transaction(work, write=write)
        except self._backend.database_errors as exc:
            raise UpstreamUnavailable(
                f"managed key storage is unavailable: {type(exc).__name__}: {exc}",
                code="auth_keys_unavailable",
            )

    def migrate(self) -> None:
        try:
            self._backend.migrate_component(COMPONENT, MIGRATIONS)
        except self._backend.database_errors as exc:
            raise UpstreamUnavailable(
                f"managed key storage is unavailable: {type(exc).__name__}: {exc}",
                code="auth_keys_unavailable",
            )

    def create(self, key: AuthKey) -> None:
        b = self._backend
        params = [
            b.dump_id(key.id),
            key.name,
            key.description,
            key.user_path,
            key.redacted_value,
            key.secret_hash,
            key.enabled,
            _opt_ts(b, key.expires_at),
            _opt_ts(b, key.deactivated_at),
            b.dump_ts(key.created_at),
            b.dump_ts(key.updated_at),
            _dump_models(key.allowed_models),
        ]
        sql = f"INSERT INTO auth_keys ({_COLUMNS}) VALUES ({', '.join('?' * 12)})"

        def work(s: Session) -> None:
            s.execute(sql, params)
            s.execute(_BUMP)

        self._run(work, write=True)

    def list(self) -> list[AuthKey]:
        return _newest_first(self.snapshot().keys)

    def get(self, key_id: str) -> AuthKey | None:
        return self._one("id = ?", self._backend.dump_id(key_id))

    def find_by_hash(self, secret_hash: str) -> AuthKey | None:
        return self._one("secret_hash = ?", secret_hash)

    def _one(self, where: str, value: Any) -> AuthKey | None:
        sql = f"SELECT {_COLUMNS} FROM auth_keys WHERE {where}"
        rows = self._run(lambda s: s.fetch(sql, [value]), write=False)
        return _load(rows[0]) if rows else None

    def deactivate(self, key_id: str, now: datetime) -> AuthKey | None:
        b = self._backend
        stamp = b.dump_ts(now)
        update = (
            "UPDATE auth_keys SET enabled = ?, deactivated_at = ?, updated_at = ? "
            "WHERE id = ? AND deactivated_at IS NULL"
        )
        return self._update(key_id, update, [False, stamp, stamp, b.dump_id(key_id)])

    def set_allowed_models(
        self, key_id: str, allowed_models: tuple[str, ...] | None, now: datetime
    ) -> AuthKey | None:
        b = self._backend
        update = "UPDATE auth_keys SET allowed_models = ?, updated_at = ? WHERE id = ?"
        params = [_dump_models(allowed_models), b.dump_ts(now), b.dump_id(key_id)]
        return self._update(key_id, update, params)

    def _update(self, key_id: str, update: str, params: Sequence[Any]) -> AuthKey | None:
        select = f"SELECT {_COLUMNS} FROM auth_keys WHERE id = ?"
        key_param = self._backend.dump_id(key_id)

        def work(s: Session) -> AuthKey | None:
            if s.execute(update, params):
                s.execute(_BUMP)
            rows = s.fetch(select, [key_param])
            return _load(rows[0]) if rows else None

        return self._run(work, write=True)

    def revision(self) -> int:
        rows = self._run(
            lambda s: s.fetch("SELECT revision FROM auth_keys_revision WHERE id = 1"), write=False
        )
        return int(rows[0][0])

    def snapshot(self) -> KeySet:
        def work(s: Session) -> KeySet:
            ((revision,),) = s.fetch("SELECT revision FROM auth_keys_revision WHERE id = 1")
            rows = s.fetch(f"SELECT {_COLUMNS} FROM auth_keys")
            return KeySet(int(revision), tuple(_load(row) for row in rows))

        return self._run(work, write=False)

    def close(self) -> None:
        self._backend.close()


def open_auth_key_store(
    storage_type: str, *, sqlite_path: str | Path = "data/gomodel.db", postgres_url: str = ""
) -> SQLAuthKeyStore:
    """The key store in the database ``STORAGE_TYPE`` names (the usage rows' database), on a
    connection of its own, opened at the first call. :class:`ConfigError` as ``make_store``."""
    if storage_type == "sqlite":
        from gomodel.storage.sqlite import SQLiteStore

        return SQLAuthKeyStore(SQLiteStore(sqlite_path))
    if storage_type in ("postgresql", "postgres"):
        if not postgres_url:
            raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE=postgresql")
        from gomodel.storage.postgres import PostgresStore

        return SQLAuthKeyStore(PostgresStore(postgres_url))
    raise ConfigError(
        "STORAGE_TYPE", f"{storage_type!r} is not supported; expected sqlite, postgresql"
    )


# -- rows ------------------------------------------------------------------------------------


def _opt_ts(backend: SQLUsageStore, instant: datetime | None) -> Any:
    return None if instant is None else backend.dump_ts(instant)


def _dump_models(models: tuple[str, ...] | None) -> str | None:
    return None if models is None else orjson.dumps(list(models)).decode()


def _ts(value: Any) -> datetime:
    stamp = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return stamp.astimezone(UTC)


def _opt(value: Any) -> datetime | None:
    return None if value is None else _ts(value)


def _load(row: Sequence[Any]) -> AuthKey:
    (key_id, name, description, user_path, redacted, secret_hash, enabled, expires_at,
     deactivated_at, created_at, updated_at, models) = row  # fmt: skip
    return AuthKey(
        id=str(key_id),
        name=name,
        description=description,
        user_path=user_path,
        redacted_value=redacted,
        secret_hash=secret_hash,
        enabled=bool(enabled),
        expires_at=_opt(expires_at),
        deactivated_at=_opt(deactivated_at),
        created_at=_ts(created_at),
        updated_at=_ts(updated_at),
        allowed_models=None if models is None else tuple(orjson.loads(models)),
    )


def _newest_first(keys: Sequence[AuthKey]) -> list[AuthKey]:
    by_name = sorted(keys, key=lambda k: (k.name, k.id))
    return sorted(by_name, key=lambda k: k.created_at, reverse=True)
