"""Both usage stores, for real: SQLite in a temporary directory and PostgreSQL in a schema of
its own (``GOMODEL_TEST_POSTGRES_URL``, default the local server's ``test`` database).

Every admin answer is checked three ways: SQLite, PostgreSQL and a plain-Python reference
computed from the rows must agree exactly.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gomodel.app.admin_query import parse_usage_query
from gomodel.errors import ConfigError
from gomodel.storage import SQLiteStore, make_store
from gomodel.storage.base import SQLUsageStore
from gomodel.storage.postgres import PostgresStore
from gomodel.storage.queries import UsageQuery, log_entry
from gomodel.storage.usage_schema import MIGRATIONS
from gomodel.usage.row import UsageRow
from tests.storage.pg import PG_URL, pg_schema, terminate

BACKENDS = ["sqlite", "postgresql"]
ZONES = ["UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham"]
TODAY = date(2025, 4, 10)


# -- where the stores live --------------------------------------------------------------------


@contextmanager
def location(backend: str, directory: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield str(directory / "data" / "usage.db")  # "data" does not exist yet
    else:
        with pg_schema() as url:
            yield url


def open_backend(backend: str, where: str) -> SQLUsageStore:
    return SQLiteStore(where) if backend == "sqlite" else PostgresStore(where)


def fetch(backend: str, where: str, sql: str) -> list[tuple[Any, ...]]:
    """Statements outside the store, on a connection of their own."""
    if backend == "sqlite":
        with closing(sqlite3.connect(where)) as conn:
            return conn.execute(sql).fetchall()
    with psycopg.connect(where, autocommit=True) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    with location(request.param, tmp_path) as place:
        yield request.param, place


@pytest.fixture
def store(where: tuple[str, str]) -> Iterator[SQLUsageStore]:
    s = open_backend(*where)
    s.migrate()
    yield s
    s.close()


# -- rows -------------------------------------------------------------------------------------


def make_row(rng: random.Random, timestamp: datetime, **changes: Any) -> UsageRow:
    def cost() -> Decimal | None:
        if rng.random() < 0.2:
            return None
        return Decimal(rng.randrange(0, 5_000_000_000)).scaleb(-9)

    input_cost, output_cost = cost(), cost()
    total = None if input_cost is None or output_cost is None else input_cost + output_cost
    values: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": timestamp,
        "request_id": rng.choice(["req-", "REQ_", "r%", "x_y"]) + str(rng.randrange(1000)),
        "provider": rng.choice(["main", "backup", ""]),
        "provider_type": rng.choice(["openai", "anthropic", "gemini"]),
        "requested_model": "m",
        "model": rng.choice(["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "Gemini_2.5%"]),
        "endpoint": "/v1/chat/completions",
        "route": rng.choice(["passthrough", "rewrite", "translate"]),
        "stream": rng.random() < 0.5,
        "user_path": rng.choice(["/", "/team", "/team/a", "/team/ab", "/teams", "/other/x"]),
        "status": rng.choice([200, 200, 499, 502]),
        "termination": rng.choice(["completed", "client_disconnect"]),
        "complete": rng.random() < 0.8,
        "input_tokens": rng.randrange(10**6),
        "output_tokens": rng.randrange(10**5),
        "cached_tokens": rng.randrange(100),
        "cache_write_tokens": rng.randrange(100),
        "reasoning_tokens": rng.randrange(100),
        "input_cost": input_cost,
        "output_cost": output_cost,
        "total_cost": total,
        "cost_caveat": rng.choice(["", "unknown price"]),
        "latency_ms": rng.choice([None, rng.random() * 1000]),
        "ttfb_ms": rng.choice([None, rng.random() * 100]),
        "overhead_ms": rng.choice([None, rng.random()]),
        "provider_id": rng.choice([None, f"chatcmpl-{rng.randrange(100)}"]),
        "raw_usage": {"prompt_tokens": rng.randrange(100), "nested": {"a": [1, 2.5, None]}},
    }
    values["total_tokens"] = values["input_tokens"] + values["output_tokens"]
    values.update(changes)
    return UsageRow(**values)


def dataset() -> list[UsageRow]:
    """Rows over four months, with extra rows a microsecond either side of local midnights."""
    rng = random.Random(6)
    start = datetime(2024, 12, 20, tzinfo=UTC)
    span = int((datetime(2025, 4, 11, tzinfo=UTC) - start).total_seconds())
    rows = [make_row(rng, start + timedelta(seconds=rng.randrange(span))) for _ in range(400)]
    for zone in ZONES:
        for day in (date(2024, 12, 30), date(2025, 1, 1), date(2025, 3, 10), date(2025, 4, 7)):
            midnight = datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
            for delta in (-1, 0, 1):
                rows.append(make_row(rng, midnight + timedelta(microseconds=delta)))
    same = datetime(2025, 2, 1, 12, tzinfo=UTC)  # equal timestamps: the log orders them by id
    rows += [make_row(rng, same) for _ in range(5)]
    return rows


ROWS = dataset()


# -- a plain-Python reference for the admin answers ----------------------------------------


def kept(q: UsageQuery, row: UsageRow, *, log: bool = False) -> bool:
    if not q.start <= row.timestamp < q.end or q.cache_mode == "cached":
        return False
    if q.user_path != "/" and not (
        row.user_path == q.user_path or row.user_path.startswith(q.user_path + "/")
    ):
        return False
    if not log:
        return True
    fields = [row.model, row.requested_model, row.provider, row.provider_type, row.request_id]
    fields += [row.provider_id or ""]
    return (
        (q.model is None or row.model == q.model)
        and (q.provider is None or q.provider in (row.provider, row.provider_type))
        and (q.search is None or any(q.search.lower() in f.lower() for f in fields))
    )


def money(values: list[Decimal | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(sum(known, Decimal(0))) if known else None


def totals(rows: list[UsageRow]) -> dict[str, Any]:
    return {
        "requests": len(rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "total_tokens": sum(r.total_tokens for r in rows),
        "input_cost": money([r.input_cost for r in rows]),
        "output_cost": money([r.output_cost for r in rows]),
        "total_cost": money([r.total_cost for r in rows]),
    }


def group(rows: list[UsageRow], key: Callable[[UsageRow], Any]) -> dict[Any, list[UsageRow]]:
    groups: dict[Any, list[UsageRow]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


SIDES = ("input_tokens", "output_tokens", "input_cost", "output_cost", "total_cost")


def reference(q: UsageQuery, rows: list[UsageRow]) -> dict[str, Any]:
    chosen = [r for r in rows if kept(q, r)]
    whole = totals(chosen)
    zone = ZoneInfo(q.timezone)
    periods = group(chosen, lambda r: q.period_of(r.timestamp.astimezone(zone)))
    models = [
        {"model": model, "provider": ptype, "provider_name": name}
        | {k: v for k, v in totals(members).items() if k in SIDES}
        for (model, ptype, name), members in group(
            chosen, lambda r: (r.model, r.provider_type, r.provider or r.provider_type)
        ).items()
    ]
    models.sort(
        key=lambda a: (
            a["total_cost"] is None,
            -(a["total_cost"] or 0),
            a["model"],
            a["provider"],
            a["provider_name"],
        )
    )
    paths = group(chosen, lambda r: r.user_path or "/")
    logged = [r for r in rows if kept(q, r, log=True)]
    logged.sort(key=lambda r: (r.timestamp, r.id), reverse=True)
    return {
        "summary": {
            "total_requests": whole["requests"],
            "total_input_tokens": whole["input_tokens"],
            "total_output_tokens": whole["output_tokens"],
            "total_tokens": whole["total_tokens"],
            "total_input_cost": whole["input_cost"],
            "total_output_cost": whole["output_cost"],
            "total_cost": whole["total_cost"],
        },
        "daily": [{"date": p} | totals(periods[p]) for p in sorted(periods)],
        "models": models,
        "user_paths": [
            {"user_path": p} | {k: v for k, v in totals(paths[p]).items() if k != "requests"}
            for p in sorted(paths)
        ],
        "log": {
            "entries": [log_entry(r) for r in logged[q.offset : q.offset + q.limit]],
            "total": len(logged),
            "limit": q.limit,
            "offset": q.offset,
        },
    }


def answers(store: SQLUsageStore, q: UsageQuery) -> dict[str, Any]:
    return {
        "summary": store.summary(q),
        "daily": store.daily(q),
        "models": store.models(q),
        "user_paths": store.user_paths(q),
        "log": store.log(q),
    }


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SQLUsageStore]]:
    """Both backends, migrated and holding ROWS."""
    directory = tmp_path_factory.mktemp("both")
    with location("sqlite", directory) as lite, location("postgresql", directory) as pg:
        stores = {
            "sqlite": open_backend("sqlite", lite),
            "postgresql": open_backend("postgresql", pg),
        }
        try:
            for s in stores.values():
                s.migrate()
                s.insert(ROWS[:200])
                s.insert(ROWS[150:])  # overlapping batches: the overlap is skipped
            yield stores
        finally:
            for s in stores.values():
                s.close()


QUERIES = [
    {"start_date": "2024-12-01", "end_date": "2025-04-30"},
    {"start_date": "2024-12-01", "end_date": "2025-04-30", "interval": "weekly"},
    {"start_date": "2024-12-01", "end_date": "2025-04-30", "interval": "monthly"},
    {"start_date": "2024-12-01", "end_date": "2025-04-30", "interval": "yearly"},
    {"days": "30"},
    {"end_date": "2025-01-01"},
    {"start_date": "2025-01-01", "end_date": "2025-01-01"},
    {"start_date": "2025-03-10", "end_date": "2025-03-10", "user_path": "/team"},
    {"days": "200", "user_path": "team/a"},
    {"days": "200", "cache_mode": "cached"},
    {"days": "200", "cache_mode": "all", "limit": "7", "offset": "3"},
    {"days": "200", "search": "%", "limit": "200"},
    {"days": "200", "search": "_y", "limit": "200"},
    {"days": "200", "search": "gemini_2.5", "limit": "200"},
    {"days": "200", "search": "CHATCMPL-1"},
    {"days": "200", "model": "gpt-4o", "provider": "backup", "offset": "5"},
    {"days": "200", "provider": "anthropic", "limit": "3", "offset": "1000"},
    {"start_date": "2030-01-01"},
]


@pytest.mark.parametrize("tz", [*ZONES, "Not/AZone"])
@pytest.mark.parametrize(
    "params", QUERIES, ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_backends_and_reference_agree(
    both: dict[str, SQLUsageStore], params: dict[str, str], tz: str
) -> None:
    """SQLite, PostgreSQL and the reference give the same answer to every admin query."""
    q = parse_usage_query({k: [v] for k, v in params.items()}, today=TODAY, tz=tz)
    expected = reference(q, ROWS)
    assert answers(both["sqlite"], q) == expected
    assert answers(both["postgresql"], q) == expected


def test_dataset_reaches_every_branch(both: dict[str, SQLUsageStore]) -> None:
    """The fixed data set really exercises nulls, blanks, subtrees and search wildcards."""
    q = parse_usage_query({"days": ["200"], "limit": ["200"]}, today=TODAY, tz=None)
    answer = both["sqlite"].summary(q)
    assert answer["total_requests"] == len(ROWS) == both["postgresql"].count()
    assert any(r.total_cost is None for r in ROWS) and any(r.provider == "" for r in ROWS)
    searched = parse_usage_query({"days": ["200"], "search": ["%"]}, today=TODAY, tz=None)
    assert 0 < both["postgresql"].log(searched)["total"] < len(ROWS)
    team = parse_usage_query({"days": ["200"], "user_path": ["/team"]}, today=TODAY, tz=None)
    paths = {a["user_path"] for a in both["sqlite"].user_paths(team)}
    assert paths == {"/team", "/team/a", "/team/ab"}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.dates(min_value=date(2024, 12, 1), max_value=date(2025, 4, 20)),
    days=st.integers(0, 60),
    tz=st.sampled_from(ZONES),
    interval=st.sampled_from(["daily", "weekly", "monthly", "yearly"]),
    user_path=st.sampled_from(["/", "/team", "/team/a", "/other"]),
    search=st.none() | st.sampled_from(["r", "%", "_", "4o", "MAIN", "x_y"]),
    offset=st.integers(0, 30),
)
def test_backends_agree_on_any_query(
    both: dict[str, SQLUsageStore],
    start: date,
    days: int,
    tz: str,
    interval: str,
    user_path: str,
    search: str | None,
    offset: int,
) -> None:
    """For generated ranges, zones, intervals and filters, both backends match the reference."""
    params = {
        "start_date": [start.isoformat()],
        "end_date": [(start + timedelta(days=days)).isoformat()],
        "interval": [interval],
        "user_path": [user_path],
        "offset": [str(offset)],
        "limit": ["20"],
    }
    if search is not None:
        params["search"] = [search]
    q = parse_usage_query(params, today=TODAY, tz=tz)
    expected = reference(q, ROWS)
    assert answers(both["sqlite"], q) == expected
    assert answers(both["postgresql"], q) == expected


# -- one backend at a time ------------------------------------------------------------------


def test_migrate_twice_is_idempotent(where: tuple[str, str]) -> None:
    """A second migrate changes nothing and keeps the rows; one migration row per version."""
    s = open_backend(*where)
    try:
        s.migrate()
        s.insert(ROWS[:3])
        s.migrate()
        assert s.count() == 3
    finally:
        s.close()
    versions = fetch(*where, "SELECT component, version FROM gomodel_migrations ORDER BY version")
    assert versions == [("usage", m.version) for m in MIGRATIONS]


def test_concurrent_migrate(where: tuple[str, str]) -> None:
    """Two processes' stores migrating the same database at once both succeed, once."""
    stores = [open_backend(*where) for _ in range(2)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def migrate(s: SQLUsageStore) -> None:
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
        stores[0].insert(ROWS[:2])
        assert stores[1].count() == 2
    finally:
        for s in stores:
            s.close()
    assert fetch(*where, "SELECT count(*) FROM gomodel_migrations") == [(len(MIGRATIONS),)]


def test_insert_skips_ids_already_stored(store: SQLUsageStore) -> None:
    """A retried batch, or one that overlaps, never duplicates a row."""
    store.insert(ROWS[:10])
    store.insert(ROWS[:10])
    store.insert(ROWS[5:15])
    store.insert([])
    assert store.count() == 15


def test_rows_come_back_exactly(store: SQLUsageStore) -> None:
    """Every stored field is returned as inserted: costs, floats, JSON, times to the microsecond."""
    store.insert(ROWS)
    q = parse_usage_query({"days": ["200"], "limit": ["200"]}, today=TODAY, tz=None)
    by_id = {r.id: r for r in ROWS}
    seen = 0
    while seen < len(ROWS):
        page = store.log(q)["entries"]
        assert page
        for entry in page:
            assert entry == log_entry(by_id[entry["id"]])
        seen += len(page)
        q = parse_usage_query(
            {"days": ["200"], "limit": ["200"], "offset": [str(seen)]}, today=TODAY, tz=None
        )


def test_costs_sum_exactly(store: SQLUsageStore) -> None:
    """A million nano-dollar costs sum to exactly $0.001, with no float drift."""
    rng = random.Random(1)
    tiny = Decimal("1E-9")
    stamp = datetime(2025, 4, 1, tzinfo=UTC)
    rows = [
        make_row(
            rng, stamp, input_cost=tiny * 100_000, output_cost=tiny * 0, total_cost=tiny * 100_000
        )
        for _ in range(10)
    ]
    store.insert(rows)
    q = parse_usage_query({"days": ["30"]}, today=TODAY, tz=None)
    summary = store.summary(q)
    assert (summary["total_input_cost"], summary["total_output_cost"]) == (0.001, 0.0)
    assert summary["total_cost"] == 0.001


def test_retention_deletes_older_rows(store: SQLUsageStore) -> None:
    """delete_older_than removes rows strictly before the cutoff and says how many."""
    store.insert(ROWS)
    cutoff = datetime(2025, 2, 1, 12, tzinfo=UTC)
    older = sum(r.timestamp < cutoff for r in ROWS)
    assert 0 < older < len(ROWS)
    assert store.delete_older_than(cutoff) == older
    assert store.count() == len(ROWS) - older
    assert store.delete_older_than(cutoff) == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        store.delete_older_than(datetime(2025, 1, 1))


def test_threads_share_a_store(store: SQLUsageStore) -> None:
    """Worker threads calling one store at once lose nothing."""
    batches = [ROWS[i : i + 25] for i in range(0, 200, 25)]
    threads = [threading.Thread(target=store.insert, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 200


def test_closed_store_refuses_calls(where: tuple[str, str]) -> None:
    """After close() a call raises instead of quietly reconnecting; close is idempotent."""
    s = open_backend(*where)
    s.migrate()
    s.close()
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        s.count()


def test_postgres_reconnects_after_its_connection_is_killed() -> None:
    """A connection terminated by the server is replaced at the next call, which succeeds."""
    with pg_schema() as url:
        s = PostgresStore(url)
        try:
            s.migrate()
            s.insert(ROWS[:3])
            name = url.rsplit("application_name=", 1)[1]
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                assert terminate(admin, name) == [(True,)]
            s.insert(ROWS[3:6])
            assert s.count() == 6
        finally:
            s.close()


def test_postgres_down_raises_then_heals() -> None:
    """With the server unreachable a call raises; once it is back, the next call works."""
    with pg_schema() as url:
        s = PostgresStore(url)
        try:
            s.migrate()
            s.url = url.replace("127.0.0.1:5432", "127.0.0.1:1", 1)  # "the server is down"
            name = url.rsplit("application_name=", 1)[1]
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                terminate(admin, name)
            with pytest.raises(psycopg.OperationalError):
                s.insert(ROWS[:2])
            s.url = url  # "the server is back"
            s.insert(ROWS[:2])
            assert s.count() == 2
        finally:
            s.close()


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    """The database directory is created and the file uses write-ahead logging."""
    path = tmp_path / "new" / "dir" / "gomodel.db"
    s = SQLiteStore(path)
    try:
        s.migrate()
    finally:
        s.close()
    assert fetch("sqlite", str(path), "PRAGMA journal_mode") == [("wal",)]


def test_make_store_picks_the_backend(tmp_path: Path) -> None:
    """STORAGE_TYPE chooses the store; a missing URL or an unknown type is a ConfigError."""
    lite = make_store("sqlite", sqlite_path=tmp_path / "u.db")
    assert isinstance(lite, SQLiteStore)
    lite.close()
    pg = make_store("postgresql", postgres_url=PG_URL)
    assert isinstance(pg, PostgresStore) and "postgres@" not in repr(pg)
    pg.close()
    with pytest.raises(ConfigError) as missing:
        make_store("postgresql")
    assert missing.value.setting == "POSTGRES_URL"
    with pytest.raises(ConfigError) as unknown:
        make_store("mongodb")
    assert unknown.value.setting == "STORAGE_TYPE"
