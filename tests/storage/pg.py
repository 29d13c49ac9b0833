"""A real PostgreSQL for tests: the local server's ``test`` database
(``GOMODEL_TEST_POSTGRES_URL``), each test in a schema of its own so runs never collide."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

PG_URL = os.environ.get("GOMODEL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def terminate(admin: psycopg.Connection[Any], application_name: str) -> list[tuple[Any, ...]]:
    """Ends the server side of every connection that gave this name."""
    sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s"
    return admin.execute(sql, [application_name]).fetchall()


@contextmanager
def pg_schema() -> Iterator[str]:
    """A URL whose connections use a fresh schema (dropped afterwards) and name themselves."""
    name = f"gm_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {name}")
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{name}&application_name={name}"
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            terminate(admin, name)
            admin.execute(f"DROP SCHEMA {name} CASCADE")
