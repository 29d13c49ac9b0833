"""What every SQL store shares: one transaction's statements, versioned migrations, and
multi-row inserts. Backends (:mod:`gomodel.storage.sqlite`, :mod:`gomodel.storage.postgres`)
fill the ``{uuid}``-style type slots of the statements with their own types.

No trio, httpx or hypercorn: plain blocking code.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

__all__ = ["ROWS_PER_STATEMENT", "Migration", "Session", "multi_row_inserts"]

# Rows per INSERT statement: 200 rows of about 30 values stays far below SQLite's (32766) and
# PostgreSQL's (65535) limits on bound parameters.
ROWS_PER_STATEMENT = 200


class Session(Protocol):
    """One transaction's worth of statements; ``?`` placeholders."""

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...


@attrs.frozen
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]  # with {uuid} {ts} {bool} {int} {float} {json} type slots


def multi_row_inserts(
    table: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]
) -> list[tuple[str, list[Any]]]:
    """The statements that insert ``rows`` (values in ``columns`` order), skipping ids already
    stored. Multi-row INSERTs, not executemany: that steps the statement once per row,
    releasing the GIL and taking it back each time, and while the event loop is busy every
    retake waits out the interpreter's switch interval (5 ms): writes fell behind at a few
    hundred rows a second. One statement per chunk retakes the GIL once."""
    statements = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        params = [value for row in chunk for value in row]
        statements.append((_insert_sql(table, columns, len(chunk)), params))
    return statements


@functools.lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = f"({', '.join('?' * len(columns))})"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * rows)} "
        "ON CONFLICT (id) DO NOTHING"
    )
