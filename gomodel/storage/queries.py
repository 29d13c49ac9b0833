"""The admin usage API's query parameters (SPEC §7.4) as one frozen value.

:func:`parse_usage_query` reads ``start_date``/``end_date``/``days``, ``interval``, ``user_path``,
``cache_mode``, and the log's ``model``, ``provider``, ``search``, ``limit`` and ``offset``, plus
the time zone from the ``X-GoModel-Timezone`` header. A bad value is an :class:`InvalidRequest`
naming the parameter.

The second half shapes the answers (SPEC §7.4) from integer sums, the same for every backend.

Dates are days in the query's time zone: the range covers local midnight of ``start_date`` up to
local midnight after ``end_date``, and report periods (:func:`period_label`) are local days,
ISO weeks, months or years.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from gomodel.errors import InvalidRequest
from gomodel.usage.row import NANO, UsageRow

__all__ = [
    "CACHE_MODES",
    "DEFAULT_DAYS",
    "DEFAULT_LIMIT",
    "INTERVALS",
    "MAX_LIMIT",
    "Totals",
    "UsageQuery",
    "escape_like",
    "iso_utc",
    "local_today",
    "log_entry",
    "nano_dollars",
    "normalize_user_path",
    "parse_usage_query",
    "period_label",
    "resolve_timezone",
    "usd",
]

INTERVALS = ("daily", "weekly", "monthly", "yearly")
CACHE_MODES = ("uncached", "cached", "all")
DEFAULT_DAYS = 30
MAX_DAYS = 36_600  # a century: keeps date arithmetic in range
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(9998, 12, 31)

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,12}")  # at most 10**12: fits every database's integer


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


def local_today(now: datetime, tz: str | None) -> date:
    """The date ``now`` (aware) falls on in the time zone ``tz`` (as :func:`resolve_timezone`)."""
    return now.astimezone(resolve_timezone(tz)[1]).date()


def normalize_user_path(value: str) -> str:
    """The canonical form of a user path (SPEC §4.1): ``" a//b/ "`` → ``"/a/b"``, ``""`` → ``"/"``.

    Raises ``ValueError`` on a ``.`` or ``..`` segment or a ``:``.
    """
    segments = [s for s in value.strip().split("/") if s]
    if any(s in (".", "..") or ":" in s for s in segments):
        raise ValueError(f"invalid user path {value!r}")
    return "/" + "/".join(segments)


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


def _first(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    return values[0] if values[0] != "" else None


def _date(params: Mapping[str, Sequence[str]], name: str) -> date | None:
    raw = _first(params, name)
    if raw is None:
        return None
    message = f"invalid {name} format, expected YYYY-MM-DD"
    if not _DATE.fullmatch(raw):
        raise InvalidRequest(message, param=name)
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequest(message, param=name)
    if not FIRST_DATE <= value <= LAST_DATE:
        raise InvalidRequest(f"invalid {name}, expected a date from 1970-01-01 on", param=name)
    return value


def _count(params: Mapping[str, Sequence[str]], name: str, *, default: int, least: int) -> int:
    raw = _first(params, name)
    if raw is None:
        return default
    kind = "a positive integer" if least > 0 else "a non-negative integer"
    if not _DIGITS.fullmatch(raw) or int(raw) < least:
        raise InvalidRequest(f"invalid {name}, expected {kind}", param=name)
    return int(raw)


def _choice(params: Mapping[str, Sequence[str]], name: str, choices: Sequence[str]) -> str:
    raw = _first(params, name)
    if raw is None:
        return choices[0]
    if raw not in choices:
        expected = ", ".join(choices[:-1]) + " or " + choices[-1]
        raise InvalidRequest(f"invalid {name}, expected {expected}", param=name)
    return raw


def parse_usage_query(
    params: Mapping[str, Sequence[str]], *, today: date, tz: str | None
) -> UsageQuery:
    """The query the parameters describe; ``today`` is the date in ``tz`` (see :func:`local_today`).

    ``tz`` is the ``X-GoModel-Timezone`` header (IANA name; absent or invalid means UTC).
    """
    start = _date(params, "start_date")
    end = _date(params, "end_date")
    days = _count(params, "days", default=DEFAULT_DAYS, least=1)
    if days > MAX_DAYS:
        raise InvalidRequest(f"invalid days, expected at most {MAX_DAYS}", param="days")
    if start is None and end is None:
        end = today
        start = max(end - timedelta(days=days - 1), FIRST_DATE)
    elif start is None:
        assert end is not None
        start = max(end - timedelta(days=DEFAULT_DAYS - 1), FIRST_DATE)
    elif end is None:
        end = max(today, start)
    if start > end:
        raise InvalidRequest("start_date must not be after end_date", param="start_date")
    raw_path = _first(params, "user_path")
    try:
        user_path = normalize_user_path(raw_path or "/")
    except ValueError:
        raise InvalidRequest("invalid user_path", param="user_path")
    return UsageQuery(
        start_date=start,
        end_date=end,
        timezone=resolve_timezone(tz)[0],
        interval=_choice(params, "interval", INTERVALS),
        user_path=user_path,
        cache_mode=_choice(params, "cache_mode", CACHE_MODES),
        model=_first(params, "model"),
        provider=_first(params, "provider"),
        search=_first(params, "search"),
        limit=min(_count(params, "limit", default=DEFAULT_LIMIT, least=1), MAX_LIMIT),
        offset=_count(params, "offset", default=0, least=0),
    )


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
