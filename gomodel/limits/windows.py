"""Calendar windows in UTC and the integer milliseconds the backends count in.

Every period is a fixed window aligned to the calendar: a minute starts at second 0, a day at
00:00 UTC, a week on Monday 00:00 UTC (ISO 8601), a month on the 1st. All counters of one
period roll over at the same instant for everybody.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gomodel.limits.model import Period

__all__ = ["from_ms", "to_ms", "utc", "window"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def utc(now: datetime) -> datetime:
    """``now`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("the limit engine needs an aware datetime, got a naive one")
    return now.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (floored), exactly, without float rounding."""
    if moment.tzinfo is not UTC:  # the engine's own datetimes are UTC already
        moment = utc(moment)
    return (moment - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def window(period: Period, now: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the calendar window of ``period`` that holds ``now``."""
    now = utc(now)
    if period is Period.MINUTE:
        start = now.replace(second=0, microsecond=0)
        return start, start + timedelta(minutes=1)
    if period is Period.HOUR:
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period is Period.DAY:
        return day, day + timedelta(days=1)
    if period is Period.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(weeks=1)
    start = day.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end
