"""The managed key store, for real: SQLite in a temporary directory and PostgreSQL in a schema of
its own, beside the usage rows in the same database."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from gomodel.errors import ConfigError, UpstreamUnavailable
from gomodel.keys.record import AuthKey
from gomodel.keys.secret import IssuedSecret
from gomodel.storage.keys import MIGRATIONS, SQLAuthKeyStore, open_auth_key_store
from gomodel.storage.postgres import PostgresStore
from gomodel.storage.sqlite import SQLiteStore
from tests.storage.pg import PG_URL, pg_schema, terminate

BACKENDS = ["sqlite", "postgresql"]
T0 = datetime(2026, 4, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "data" / "gomodel.db")
    else:
        with pg_schema() as url:
            yield "postgresql", url


def open_keys(backend: str, place: str) -> SQLAuthKeyStore:
    if backend == "sqlite":
        return open_auth_key_store("sqlite", sqlite_path=place)
    return open_auth_key_store("postgresql", postgres_url=place)


@pytest.fixture
def store(where: tuple[str, str]) -> Iterator[SQLAuthKeyStore]:
    s = open_keys(*where)
    s.migrate()
    yield s
    s.close()


def fetch(backend: str, place: str, sql: str) -> list[tuple[Any, ...]]:
    if backend == "sqlite":
        with closing(sqlite3.connect(place)) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(place, autocommit=True) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


def make_key(name: str = "ci", created: datetime = T0, **changes: Any) -> AuthKey:
    secret = IssuedSecret.generate()
    key = AuthKey(
        id=str(uuid.uuid4()),
        name=name,
        secret_hash=secret.secret_hash,
        redacted_value=secret.redacted,
        created_at=created,
        updated_at=created,
    )
    return attrs.evolve(key, **changes)


def test_keys_come_back_exactly(store: SQLAuthKeyStore) -> None:
    """Every field round-trips: unset and set, times to the microsecond, allow-lists in order."""
    plain = make_key("plain")
    full = make_key(
        "full",
        description="nightly\nCI",
        user_path="/team/a",
        expires_at=T0 + timedelta(days=30, microseconds=7),
        allowed_models=("openai/*", "gpt-4o", "vllm/meta-llama/Llama-3"),
    )
    for key in (plain, full):
        store.create(key)
        assert store.get(key.id) == key
        assert store.find_by_hash(key.secret_hash) == key
    assert store.get(str(uuid.uuid4())) is None
    assert store.find_by_hash("0" * 64) is None


def test_list_is_newest_first(store: SQLAuthKeyStore) -> None:
    """Newest first; keys created in the same instant by name, then id (as GOModel)."""
    keys = [
        make_key("b", T0),
        make_key("a", T0),
        make_key("old", T0 - timedelta(days=1)),
        make_key("new", T0 + timedelta(microseconds=1)),
    ]
    for key in keys:
        store.create(key)
    assert [k.name for k in store.list()] == ["new", "a", "b", "old"]


def test_deactivate_once(store: SQLAuthKeyStore) -> None:
    """Deactivation sets deactivated_at and enabled=false once; again changes nothing."""
    key = make_key()
    store.create(key)
    revision = store.revision()
    later = T0 + timedelta(hours=1)
    done = store.deactivate(key.id, later)
    assert done == attrs.evolve(key, enabled=False, deactivated_at=later, updated_at=later)
    assert store.revision() == revision + 1
    again = store.deactivate(key.id, later + timedelta(hours=1))
    assert again == done
    assert store.revision() == revision + 1
    assert store.deactivate(str(uuid.uuid4()), later) is None


def test_set_allowed_models(store: SQLAuthKeyStore) -> None:
    """The allow-list is replaced (or cleared with None); an unknown id is None."""
    key = make_key()
    store.create(key)
    later = T0 + timedelta(minutes=5)
    updated = store.set_allowed_models(key.id, ("openai/*",), later)
    assert updated == attrs.evolve(key, allowed_models=("openai/*",), updated_at=later)
    cleared = store.set_allowed_models(key.id, None, later)
    assert cleared is not None and cleared.allowed_models is None
    assert store.get(key.id) == cleared
    assert store.set_allowed_models(str(uuid.uuid4()), None, later) is None


def test_every_write_moves_the_revision(store: SQLAuthKeyStore) -> None:
    """The change marker moves with every write and the snapshot carries it."""
    seen = [store.revision()]
    key = make_key()
    store.create(key)
    seen.append(store.revision())
    store.set_allowed_models(key.id, ("x",), T0)
    seen.append(store.revision())
    store.deactivate(key.id, T0)
    seen.append(store.revision())
    assert seen == sorted(set(seen))
    snapshot = store.snapshot()
    assert snapshot.revision == seen[-1]
    assert snapshot.keys == (store.get(key.id),)


def test_tables_live_beside_the_usage_rows(where: tuple[str, str]) -> None:
    """Same database as the usage store, each with its own migrations (component
    ``auth_keys``); migrating twice, or from both, is idempotent."""
    backend, place = where
    usage = SQLiteStore(place) if backend == "sqlite" else PostgresStore(place)
    keys = open_keys(*where)
    try:
        usage.migrate()
        keys.migrate()
        keys.create(make_key())
        keys.migrate()
        usage.migrate()
        assert len(keys.list()) == 1
        assert usage.count() == 0
    finally:
        keys.close()
        usage.close()
    sql = "SELECT component, version FROM gomodel_migrations ORDER BY component, version"
    versions = fetch(backend, place, sql)
    assert [v for v in versions if v[0] == "auth_keys"] == [
        ("auth_keys", m.version) for m in MIGRATIONS
    ]
    assert any(v[0] == "usage" for v in versions)


def test_concurrent_migrate(where: tuple[str, str]) -> None:
    """Two replicas migrating at once both succeed, and the tables are created once."""
    stores = [open_keys(*where) for _ in range(2)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def migrate(s: SQLAuthKeyStore) -> None:
        try:
            barrier.wait()
            s.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        key = make_key()
        stores[0].create(key)
        assert stores[1].get(key.id) == key
    finally:
        for s in stores:
            s.close()


def test_postgres_outage_is_a_503_then_heals() -> None:
    """An unreachable database is UpstreamUnavailable (auth_keys_unavailable); the next call
    after it is back works on a new connection."""
    with pg_schema() as url:
        backend = PostgresStore(url)
        store = SQLAuthKeyStore(backend)
        try:
            store.migrate()
            backend.url = url.replace("127.0.0.1:5432", "127.0.0.1:1", 1)
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                terminate(admin, url.rsplit("application_name=", 1)[1])
            with pytest.raises(UpstreamUnavailable) as caught:
                store.revision()
            assert (caught.value.status, caught.value.code) == (503, "auth_keys_unavailable")
            with pytest.raises(UpstreamUnavailable):
                store.migrate()
            backend.url = url
            assert store.list() == []
        finally:
            store.close()


def test_sqlite_unreadable_is_a_503(tmp_path: Path) -> None:
    """A file that is not a database is UpstreamUnavailable, not a crash."""
    path = tmp_path / "not-a-db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = open_auth_key_store("sqlite", sqlite_path=path)
    try:
        with pytest.raises(UpstreamUnavailable):
            store.migrate()
    finally:
        store.close()


def test_open_picks_the_backend(tmp_path: Path) -> None:
    """STORAGE_TYPE names the database; PostgreSQL needs its URL."""
    assert "SQLiteStore" in repr(open_auth_key_store("sqlite", sqlite_path=tmp_path / "x.db"))
    assert "PostgresStore" in repr(open_auth_key_store("postgres", postgres_url=PG_URL))
    with pytest.raises(ConfigError, match="POSTGRES_URL"):
        open_auth_key_store("postgresql")
    with pytest.raises(ConfigError, match="STORAGE_TYPE"):
        open_auth_key_store("mongodb")
