"""The environment syntax of sizes, durations and booleans (docs/configuration.md "Value syntax").

:func:`parse_size`, :func:`parse_duration` and :func:`parse_bool` are public (re-exported by
:mod:`gomodel.config`); each raises a :class:`ConfigError` naming the ``setting`` it is given.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import math
import re

from gomodel.errors import ConfigError

__all__ = ["KiB", "MiB", "parse_bool", "parse_duration", "parse_size"]

KiB = 1024
MiB = 1024 * KiB

_SIZE = re.compile(r"(\d+)([KMG])?B?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": KiB, "M": MiB, "G": MiB * KiB}
_SECONDS = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # micro sign
    "μs": 1e-6,  # Greek mu; Go accepts both
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_size(text: str, *, setting: str) -> int:
    """Bytes from ``512``, ``64K``, ``10M``, ``1GB`` (case-insensitive; K/M/G are 1024-based)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise ConfigError(setting, f"expected a size such as 65536, 512K, 10M or 1G, got {text!r}")
    digits, unit = match.group(1), (match.group(2) or "").upper()
    if len(digits) > 18:  # int() refuses > 4300 digits; nothing this large is a sane limit
        raise ConfigError(setting, f"size {text!r} is too large")
    return int(digits) * _SIZE_UNITS[unit]


def parse_duration(text: str, *, setting: str) -> float:
    """Seconds from ``30``, ``1.5`` or a Go duration (``500ms``, ``5m``, ``1h30m``); must be > 0."""
    stripped = text.strip()
    seconds: float | None = None
    if _SECONDS.fullmatch(stripped):
        seconds = float(stripped)
    elif stripped:
        total, pos = 0.0, 0
        while pos < len(stripped):
            part = _GO_DURATION_PART.match(stripped, pos)
            if part is None:
                break
            total += float(part.group(1)) * _GO_DURATION_UNITS[part.group(2)]
            pos = part.end()
        else:
            seconds = total
    if seconds is None:
        raise ConfigError(
            setting,
            f"expected a duration in seconds (30, 1.5) or Go syntax (500ms, 30s, 5m, 1h30m), "
            f"got {text!r}",
        )
    if not math.isfinite(seconds):
        raise ConfigError(setting, f"duration {text!r} is too large")
    if seconds <= 0:
        raise ConfigError(setting, f"expected a duration greater than 0, got {text!r}")
    return seconds


def parse_bool(text: str, *, setting: str) -> bool:
    """``true``/``false``, ``1``/``0``, ``yes``/``no`` (case-insensitive); anything else raises."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(setting, f"expected true/false, 1/0 or yes/no, got {text!r}")
