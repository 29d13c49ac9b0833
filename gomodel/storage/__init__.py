"""Persistent storage: usage rows in SQLite (default) or PostgreSQL, and the admin queries.

``make_store(settings)`` picks the backend; every store implements
:class:`~gomodel.storage.base.UsageStore` with blocking methods that the I/O shell calls through
``trio.to_thread.run_sync``. psycopg is imported only when PostgreSQL is chosen.

The usage recorder (:mod:`gomodel.storage.recorder`), the task that feeds a store, lives here
too: it is I/O (trio, the spill file), so ``gomodel.usage`` stays pure and never imports storage.
"""

from __future__ import annotations

from pathlib import Path

from gomodel.errors import ConfigError
from gomodel.storage.base import UsageStore
from gomodel.storage.queries import UsageQuery
from gomodel.storage.sqlite import SQLiteStore

__all__ = [
    "STORAGE_TYPES",
    "SQLiteStore",
    "UsageQuery",
    "UsageStore",
    "make_store",
]

STORAGE_TYPES = ("sqlite", "postgresql")


def make_store(
    storage_type: str, *, sqlite_path: str | Path = "data/gomodel.db", postgres_url: str = ""
) -> UsageStore:
    """The store ``STORAGE_TYPE`` names, not yet connected: it connects lazily, at its first
    call (in a worker thread), so this opens nothing and owns nothing to close yet. (Not
    ``open_store``: by the house naming, ``open_*`` is an async context manager.)

    Raises :class:`ConfigError` for an unknown type or a missing ``POSTGRES_URL``.
    """
    if storage_type == "sqlite":
        return SQLiteStore(sqlite_path)
    if storage_type in ("postgresql", "postgres"):
        if not postgres_url:
            raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE=postgresql")
        from gomodel.storage.postgres import PostgresStore

        return PostgresStore(postgres_url)
    expected = ", ".join(STORAGE_TYPES)
    raise ConfigError("STORAGE_TYPE", f"{storage_type!r} is not supported; expected {expected}")
