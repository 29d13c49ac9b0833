"""The ``usage`` table: its columns, its migrations, and a stored row read back.

No trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from gomodel.storage.sql import Migration
from gomodel.usage.row import NANO, UsageRow

__all__ = ["COLUMNS", "COMPONENT", "MIGRATIONS", "load_row"]

COMPONENT = "usage"  # this table's name in gomodel_migrations; other features add their own

COLUMNS = (
    "id",
    "timestamp",
    "request_id",
    "provider_id",
    "provider",
    "provider_type",
    "requested_model",
    "model",
    "endpoint",
    "route",
    "stream",
    "user_path",
    "status",
    "termination",
    "complete",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "input_cost_nano",
    "output_cost_nano",
    "total_cost_nano",
    "cost_caveat",
    "latency_ms",
    "ttfb_ms",
    "overhead_ms",
    "raw_usage",
    "client",
    "key_id",
)


MIGRATIONS = (
    Migration(
        1,
        "usage table",
        (
            """CREATE TABLE usage (
                id {uuid} PRIMARY KEY,
                timestamp {ts} NOT NULL,
                request_id TEXT NOT NULL,
                provider_id TEXT,
                provider TEXT NOT NULL,
                provider_type TEXT NOT NULL,
                requested_model TEXT NOT NULL,
                model TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                route TEXT NOT NULL,
                stream {bool} NOT NULL,
                user_path TEXT NOT NULL DEFAULT '/',
                status INTEGER NOT NULL,
                termination TEXT NOT NULL,
                complete {bool} NOT NULL,
                input_tokens {int} NOT NULL DEFAULT 0,
                output_tokens {int} NOT NULL DEFAULT 0,
                total_tokens {int} NOT NULL DEFAULT 0,
                cached_tokens {int} NOT NULL DEFAULT 0,
                cache_write_tokens {int} NOT NULL DEFAULT 0,
                reasoning_tokens {int} NOT NULL DEFAULT 0,
                input_cost_nano {int},
                output_cost_nano {int},
                total_cost_nano {int},
                cost_caveat TEXT NOT NULL DEFAULT '',
                latency_ms {float},
                ttfb_ms {float},
                overhead_ms {float},
                raw_usage {json} NOT NULL
            )""",
            "CREATE INDEX usage_timestamp_idx ON usage (timestamp)",
            "CREATE INDEX usage_model_idx ON usage (model)",
            "CREATE INDEX usage_provider_idx ON usage (provider)",
            "CREATE INDEX usage_provider_type_idx ON usage (provider_type)",
            "CREATE INDEX usage_user_path_idx ON usage (user_path)",
            "CREATE INDEX usage_request_id_idx ON usage (request_id)",
        ),
    ),
    Migration(2, "client address", ("ALTER TABLE usage ADD COLUMN client TEXT",)),
    Migration(
        3,
        "managed key",
        (
            "ALTER TABLE usage ADD COLUMN key_id TEXT",
            "CREATE INDEX usage_key_id_idx ON usage (key_id, timestamp)",
        ),
    ),
)


def load_row(values: Sequence[Any]) -> UsageRow:
    """A row as stored, whatever the backend's Python types."""
    v = dict(zip(COLUMNS, values, strict=True))
    for side in ("input", "output", "total"):
        nanos = v.pop(f"{side}_cost_nano")
        v[f"{side}_cost"] = None if nanos is None else Decimal(int(nanos)).scaleb(-9).quantize(NANO)
    stamp = v["timestamp"]
    stamp = stamp if isinstance(stamp, datetime) else datetime.fromisoformat(stamp)
    raw = v["raw_usage"]
    v.update(
        id=str(v["id"]),
        timestamp=stamp.astimezone(UTC),
        stream=bool(v["stream"]),
        complete=bool(v["complete"]),
        raw_usage=raw if isinstance(raw, dict) else orjson.loads(raw),
    )
    return UsageRow(**v)
