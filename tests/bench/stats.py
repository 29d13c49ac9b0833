"""Percentiles and ratios that tolerate missing figures, and how the report writes them."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["DASH", "median", "number", "percentile", "ratio", "times"]

DASH = "-"  # a figure that was not measured


def percentile(values: Sequence[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def number(value: float | None, fmt: str = ",.0f") -> str:
    return DASH if value is None else format(value, fmt)


def times(value: float | None) -> str:
    """A ratio as the report writes it (three significant digits)."""
    return DASH if value is None else f"{value:.3g}"
