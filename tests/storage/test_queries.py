"""The shapes the stores share: LIKE escaping, report periods, nullable cost sums (SPEC §7.4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gomodel.storage.queries import Totals, escape_like, period_label, usd


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
