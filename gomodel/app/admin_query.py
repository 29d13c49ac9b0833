"""The admin usage API's query string (SPEC §7.4) read into a :class:`UsageQuery`.

:func:`parse_usage_query` reads ``start_date``/``end_date``/``days``, ``interval``, ``user_path``,
``cache_mode``, and the log's ``model``, ``provider``, ``search``, ``limit`` and ``offset``, plus
the time zone from the ``X-GoModel-Timezone`` header. A bad value is an :class:`InvalidRequest`
naming the parameter. HTTP input handling, so it lives beside the admin handlers; the value it
builds and the SQL helpers stay in :mod:`gomodel.storage.queries`, where the stores need them.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from gomodel.errors import InvalidRequest
from gomodel.storage.queries import (
    CACHE_MODES,
    DEFAULT_LIMIT,
    INTERVALS,
    UsageQuery,
    resolve_timezone,
)

__all__ = [
    "DEFAULT_DAYS",
    "MAX_LIMIT",
    "local_today",
    "normalize_user_path",
    "parse_usage_query",
]

DEFAULT_DAYS = 30
MAX_DAYS = 36_600  # a century: keeps date arithmetic in range
MAX_LIMIT = 200
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(9998, 12, 31)

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DIGITS = re.compile(r"[0-9]{1,12}")  # at most 10**12: fits every database's integer


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
