"""Calendar windows in UTC: minute, hour, day, ISO week (Monday), month; exact milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from gomodel.limits import Period
from gomodel.limits.windows import from_ms, to_ms, window


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


WINDOWS = [
    (
        Period.MINUTE,
        at(2025, 3, 10, 12, 0, 59, 999999),
        at(2025, 3, 10, 12, 0),
        at(2025, 3, 10, 12, 1),
    ),
    (Period.MINUTE, at(2025, 3, 10, 12, 1), at(2025, 3, 10, 12, 1), at(2025, 3, 10, 12, 2)),
    (Period.HOUR, at(2025, 12, 31, 23, 30), at(2025, 12, 31, 23), at(2026, 1, 1)),
    (Period.DAY, at(2024, 2, 28, 23, 59), at(2024, 2, 28), at(2024, 2, 29)),
    # ISO weeks start on Monday: 2025-01-01 is a Wednesday, its week began in 2024.
    (Period.WEEK, at(2025, 1, 1, 8), at(2024, 12, 30), at(2025, 1, 6)),
    (Period.WEEK, at(2025, 3, 16, 23, 59), at(2025, 3, 10), at(2025, 3, 17)),
    (Period.WEEK, at(2025, 3, 17), at(2025, 3, 17), at(2025, 3, 24)),
    (Period.MONTH, at(2024, 2, 29, 12), at(2024, 2, 1), at(2024, 3, 1)),
    (Period.MONTH, at(2025, 12, 31, 23, 59, 59), at(2025, 12, 1), at(2026, 1, 1)),
]


@pytest.mark.parametrize(("period", "now", "start", "end"), WINDOWS)
def test_window(period: Period, now: datetime, start: datetime, end: datetime) -> None:
    """Each moment falls in the calendar window that a person would name."""
    assert window(period, now) == (start, end)


def test_other_zones_are_converted_and_naive_refused() -> None:
    """An aware time in another zone counts in UTC; a naive one is refused, not guessed."""
    tokyo = timezone(timedelta(hours=9))
    # Monday 08:00 in Tokyo is still Sunday in UTC: the previous week.
    assert window(Period.WEEK, datetime(2025, 3, 17, 8, tzinfo=tokyo))[0] == at(2025, 3, 10)
    with pytest.raises(ValueError, match="aware"):
        window(Period.DAY, datetime(2025, 3, 17))


def test_milliseconds_are_exact() -> None:
    """Milliseconds since the epoch floor the microseconds and round-trip without float error."""
    moment = at(2025, 3, 10, 12, 0, 0, 999999)
    assert to_ms(moment) == 1741608000999
    assert from_ms(to_ms(moment)) == at(2025, 3, 10, 12, 0, 0, 999000)
    assert to_ms(at(1970, 1, 1)) == 0
