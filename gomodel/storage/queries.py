"""The admin usage API's query (SPEC §7.4) as one frozen value, and the shapes of its answers.

:class:`UsageQuery` is what the stores are asked; reading it from an HTTP query string is the
admin handlers' business (:mod:`gomodel.app.admin_query`). The second half shapes the answers
(SPEC §7.4) from integer sums, the same for every backend.

Dates are days in the query's time zone: the range covers local midnight of ``start_date`` up to
local midnight after ``end_date``, and report periods (:func:`period_label`) are local days,
ISO weeks, months or years.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from gomodel.usage.row import NANO, UsageRow

__all__ = [
    "CACHE_MODES",
    "DEFAULT_LIMIT",
    "INTERVALS",
    "Totals",
    "UsageQuery",
    "escape_like",
    "iso_utc",
    "log_entry",
    "nano_dollars",
    "period_label",
    "resolve_timezone",
    "usd",
]

INTERVALS = ("daily", "weekly", "monthly", "yearly")
CACHE_MODES = ("uncached", "cached", "all")
DEFAULT_LIMIT = 50


@functools.lru_cache(maxsize=64)
def resolve_timezone(name: str | None) -> tuple[str, tzinfo]:
    """``(IANA name, tzinfo)`` for a ``X-GoModel-Timezone`` value; UTC if absent or invalid."""
    if name:
        key = name.strip()
        try:
            return key, ZoneInfo(key)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        return "UTC", ZoneInfo("UTC")
    except ZoneInfoNotFoundError:  # no tz database at all
        return "UTC", UTC


def escape_like(text: str) -> str:
    """``text`` with the LIKE wildcards escaped for ``ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def period_label(day: date, interval: str) -> str:
    """The report period of a local day: ``2025-01-31``, ``2025-W05``, ``2025-01`` or ``2025``."""
    if interval == "daily":
        return day.isoformat()
    if interval == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if interval == "monthly":
        return f"{day.year:04d}-{day.month:02d}"
    if interval == "yearly":
        return f"{day.year:04d}"
    raise ValueError(f"unknown interval {interval!r}")


@attrs.frozen(kw_only=True)
class UsageQuery:
    start_date: date  # first local day, inclusive
    end_date: date  # last local day, inclusive
    timezone: str = "UTC"  # IANA name
    interval: str = "daily"
    user_path: str = "/"  # subtree: the path itself and every path below it
    cache_mode: str = "uncached"  # gomodel has no response cache yet: "cached" matches nothing
    model: str | None = None  # log only: exact model
    provider: str | None = None  # log only: provider name or provider type
    search: str | None = None  # log only: substring of model, provider, request id, ...
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @property
    def tzinfo(self) -> tzinfo:
        return resolve_timezone(self.timezone)[1]

    @property
    def start(self) -> datetime:
        """The first instant of the range, UTC."""
        return datetime.combine(self.start_date, time(), self.tzinfo).astimezone(UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range, UTC."""
        after = self.end_date + timedelta(days=1)
        return datetime.combine(after, time(), self.tzinfo).astimezone(UTC)

    def period_of(self, instant: datetime) -> str:
        """The report period an (aware) instant falls in, in the query's time zone."""
        return period_label(instant.astimezone(self.tzinfo).date(), self.interval)


# -- answer shapes (shared by every backend) ----------------------------------------------------


def nano_dollars(cost: Decimal | None) -> int | None:
    """USD as integer nano-dollars (half-even), the unit costs are stored and summed in."""
    if cost is None:
        return None
    return int(cost.quantize(NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def usd(nanos: int | None) -> float | None:
    """Nano-dollars as a JSON number: the double nearest the exact decimal."""
    return None if nanos is None else float(Decimal(nanos).scaleb(-9))


def iso_utc(instant: datetime) -> str:
    """Fixed-width UTC text, ``2025-01-31T23:59:59.123456Z``: text order is time order."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log_entry(row: UsageRow) -> dict[str, Any]:
    """A ``usage/log`` entry: SPEC's names (``provider`` is the type) plus gomodel's fields."""
    return {
        "id": row.id,
        "request_id": row.request_id,
        "provider_id": row.provider_id,
        "timestamp": iso_utc(row.timestamp),
        "model": row.model,
        "requested_model": row.requested_model,
        "provider": row.provider_type,
        "provider_name": row.provider,
        "endpoint": row.endpoint,
        "route": row.route,
        "stream": row.stream,
        "user_path": row.user_path,
        "status": row.status,
        "termination": row.termination,
        "complete": row.complete,
        "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens,
        "total_tokens": row.total_tokens,
        "cached_tokens": row.cached_tokens,
        "cache_write_tokens": row.cache_write_tokens,
        "reasoning_tokens": row.reasoning_tokens,
        "input_cost": usd(nano_dollars(row.input_cost)),
        "output_cost": usd(nano_dollars(row.output_cost)),
        "total_cost": usd(nano_dollars(row.total_cost)),
        "costs_calculation_caveat": row.cost_caveat,
        "latency_ms": row.latency_ms,
        "ttfb_ms": row.ttfb_ms,
        "overhead_ms": row.overhead_ms,
        "raw_data": dict(row.raw_usage),
        "client": row.client,
        "key_id": row.key_id,
    }


def _nullable_add(total: int | None, value: Any) -> int | None:
    """A SQL-style nullable sum: ``None`` only while every value is ``None``."""
    if value is None:
        return total
    return int(value) if total is None else total + int(value)


@attrs.define
class Totals:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_cost: int | None = None  # nano-dollars
    output_cost: int | None = None
    total_cost: int | None = None

    def add(self, values: Sequence[Any]) -> None:
        """Adds one aggregate: ``(requests, input, output, total tokens, 3 nano-dollar costs)``."""
        requests, inp, out, total, in_cost, out_cost, total_cost = values
        self.requests += int(requests)
        self.input_tokens += int(inp)
        self.output_tokens += int(out)
        self.total_tokens += int(total)
        self.input_cost = _nullable_add(self.input_cost, in_cost)
        self.output_cost = _nullable_add(self.output_cost, out_cost)
        self.total_cost = _nullable_add(self.total_cost, total_cost)

    def answer(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "input_cost": usd(self.input_cost),
            "output_cost": usd(self.output_cost),
            "total_cost": usd(self.total_cost),
        }
