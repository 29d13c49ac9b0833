"""The admin usage API's query parameters (SPEC §7.4)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from gomodel.errors import InvalidRequest
from gomodel.storage.queries import (
    Totals,
    UsageQuery,
    escape_like,
    local_today,
    normalize_user_path,
    parse_usage_query,
    period_label,
    usd,
)

TODAY = date(2025, 3, 31)


def parse(tz: str | None = None, **params: str) -> UsageQuery:
    return parse_usage_query({k: [v] for k, v in params.items()}, today=TODAY, tz=tz)


def test_defaults() -> None:
    """No parameters: the last 30 days in UTC, daily, everything, first page of 50."""
    assert parse() == UsageQuery(start_date=date(2025, 3, 2), end_date=TODAY)
    q = parse()
    assert (q.timezone, q.interval, q.user_path, q.cache_mode) == ("UTC", "daily", "/", "uncached")
    assert (q.limit, q.offset, q.model, q.provider, q.search) == (50, 0, None, None, None)
    assert q.start == datetime(2025, 3, 2, tzinfo=UTC)
    assert q.end == datetime(2025, 4, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({"days": "7"}, date(2025, 3, 25), TODAY),
        ({"days": "1"}, TODAY, TODAY),
        ({"start_date": "2025-01-01"}, date(2025, 1, 1), TODAY),
        ({"end_date": "2025-02-10"}, date(2025, 1, 12), date(2025, 2, 10)),
        (
            {"start_date": "2024-12-30", "end_date": "2025-01-02"},
            date(2024, 12, 30),
            date(2025, 1, 2),
        ),
        ({"start_date": "2025-03-01", "days": "3"}, date(2025, 3, 1), TODAY),  # dates win
        ({"start_date": "2025-05-01"}, date(2025, 5, 1), date(2025, 5, 1)),
    ],
)
def test_date_range(params: dict[str, str], start: date, end: date) -> None:
    """start_date/end_date/days give the inclusive range of local days."""
    q = parse(**params)
    assert (q.start_date, q.end_date) == (start, end)


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        (
            {"start_date": "2025-1-01"},
            "start_date",
            "invalid start_date format, expected YYYY-MM-DD",
        ),
        (
            {"start_date": "20250101"},
            "start_date",
            "invalid start_date format, expected YYYY-MM-DD",
        ),
        ({"end_date": "2025-02-30"}, "end_date", "invalid end_date format, expected YYYY-MM-DD"),
        (
            {"end_date": "1969-12-31"},
            "end_date",
            "invalid end_date, expected a date from 1970-01-01 on",
        ),
        (
            {"start_date": "2025-03-02", "end_date": "2025-03-01"},
            "start_date",
            "start_date must not be after end_date",
        ),
        ({"days": "0"}, "days", "invalid days, expected a positive integer"),
        ({"days": "-3"}, "days", "invalid days, expected a positive integer"),
        ({"days": "7.5"}, "days", "invalid days, expected a positive integer"),
        ({"days": "99999"}, "days", "invalid days, expected at most 36600"),
        (
            {"interval": "hourly"},
            "interval",
            "invalid interval, expected daily, weekly, monthly or yearly",
        ),
        (
            {"cache_mode": "some"},
            "cache_mode",
            "invalid cache_mode, expected uncached, cached or all",
        ),
        ({"user_path": "/a/../b"}, "user_path", "invalid user_path"),
        ({"user_path": "/a:b"}, "user_path", "invalid user_path"),
        ({"limit": "0"}, "limit", "invalid limit, expected a positive integer"),
        ({"limit": "ten"}, "limit", "invalid limit, expected a positive integer"),
        ({"offset": "-1"}, "offset", "invalid offset, expected a non-negative integer"),
        ({"offset": "1" * 13}, "offset", "invalid offset, expected a non-negative integer"),
    ],
)
def test_bad_values_are_400_naming_the_param(
    params: dict[str, str], param: str, message: str
) -> None:
    """Each bad value is an InvalidRequest with the parameter and SPEC's message."""
    with pytest.raises(InvalidRequest) as caught:
        parse(**params)
    assert (caught.value.param, caught.value.message, caught.value.status) == (param, message, 400)


def test_time_zone_moves_the_range() -> None:
    """Local midnights of X-GoModel-Timezone bound the range; an invalid zone means UTC."""
    q = parse("America/New_York", start_date="2025-03-08", end_date="2025-03-09")
    assert q.timezone == "America/New_York"
    assert q.start == datetime(2025, 3, 8, 5, tzinfo=UTC)
    assert q.end == datetime(2025, 3, 10, 4, tzinfo=UTC)  # DST began on the 9th
    kathmandu = parse("Asia/Kathmandu", start_date="2025-01-01", end_date="2025-01-01")
    assert kathmandu.start == datetime(2024, 12, 31, 18, 15, tzinfo=UTC)
    for bad in ("Mars/Olympus", "../../etc/passwd", "", "America", None):
        assert parse(bad).timezone == "UTC"


def test_local_today_uses_the_zone() -> None:
    """Late evening UTC is already tomorrow in Auckland."""
    now = datetime(2025, 3, 31, 22, 0, tzinfo=UTC)
    assert local_today(now, "Pacific/Auckland") == date(2025, 4, 1)
    assert local_today(now, "nonsense") == date(2025, 3, 31)


def test_filters_and_pages() -> None:
    """user_path is normalised; limit is capped at 200; empty values count as absent."""
    q = parse(user_path=" team//a/ ", model="gpt-4o", provider="openai", search="50%", limit="500")
    assert (q.user_path, q.model, q.provider, q.search, q.limit) == (
        "/team/a",
        "gpt-4o",
        "openai",
        "50%",
        200,
    )
    assert parse(model="", limit="", offset="20").model is None
    assert parse(offset="20").offset == 20
    assert parse_usage_query({"model": ["a", "b"]}, today=TODAY, tz=None).model == "a"


@pytest.mark.parametrize(
    ("raw", "path"), [("", "/"), ("/", "/"), ("a", "/a"), (" /a//b/ ", "/a/b"), ("//", "/")]
)
def test_normalize_user_path(raw: str, path: str) -> None:
    """SPEC §4.1: trimmed, leading slash, no empty segments."""
    assert normalize_user_path(raw) == path


def test_escape_like() -> None:
    """LIKE wildcards and the escape character itself are escaped."""
    assert escape_like(r"a%b_c\d") == r"a\%b\_c\\d"


@pytest.mark.parametrize(
    ("day", "interval", "label"),
    [
        (date(2025, 1, 31), "daily", "2025-01-31"),
        (date(2024, 12, 30), "weekly", "2025-W01"),  # ISO week of the next year
        (date(2021, 1, 3), "weekly", "2020-W53"),
        (date(2025, 1, 31), "monthly", "2025-01"),
        (date(2025, 1, 31), "yearly", "2025"),
    ],
)
def test_period_label(day: date, interval: str, label: str) -> None:
    """Period labels are YYYY-MM-DD, YYYY-Www (ISO), YYYY-MM, YYYY."""
    assert period_label(day, interval) == label


def test_totals_sum_nullable_costs_like_sql() -> None:
    """Costs sum the known values; they stay null only when every value is null."""
    totals = Totals()
    totals.add((1, 10, 5, 15, None, None, None))
    assert totals.answer()["total_cost"] is None
    totals.add((2, 1, 1, 2, Decimal(1500), None, 7))
    assert totals.answer() == {
        "requests": 3,
        "input_tokens": 11,
        "output_tokens": 6,
        "total_tokens": 17,
        "input_cost": 1.5e-6,
        "output_cost": None,
        "total_cost": 7e-9,
    }
    assert usd(10**9 + 1) == 1.000000001
