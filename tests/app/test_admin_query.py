"""The admin usage API's query parameters (SPEC §7.4): the query string read into a UsageQuery."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gomodel.app.admin_query import local_today, normalize_user_path, parse_usage_query
from gomodel.errors import InvalidRequest
from gomodel.storage.queries import UsageQuery

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
