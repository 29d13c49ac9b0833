"""Value kinds: how one setting reads from env text and from a YAML or CLI value, and shows.

A :class:`Kind` bundles, for one type of setting:

* ``from_text``: the environment string to a value (``"10M"`` -> ``10485760``);
* ``check``: the YAML type the value must have (an integer, a string, ...). The file is checked
  as a whole first, so every wrongly typed value is reported at once;
* ``refine``: a value of the right type to the setting's value (ranges, choices, units);
* ``show``: the value as ``check-config`` prints it (masked, for a secret kind).

The environment syntax of sizes, durations and booleans is in :mod:`gomodel.config.parsers`.
Every failure is a :class:`ConfigError` naming the setting as the user wrote it: ``PORT``,
``server.port`` or ``--port``.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import attrs

from gomodel.config.parsers import KiB, MiB, parse_bool, parse_duration, parse_size
from gomodel.config.sources import show_value, unresolved_refs
from gomodel.errors import ConfigError
from gomodel.providers.spec import SPECS

__all__ = [
    "BOOL",
    "DURATION",
    "PROVIDER_TYPES",
    "STATUSES",
    "Check",
    "Kind",
    "WrongType",
    "check_header_text",
    "check_host",
    "check_metrics_path",
    "check_path",
    "check_postgres_url",
    "check_redis_url",
    "check_secret",
    "choice",
    "integer",
    "is_string",
    "number",
    "problem",
    "size",
    "string_list",
    "text",
]

T = TypeVar("T")

# --- YAML types -----------------------------------------------------------------------------


@attrs.frozen
class WrongType:
    """A YAML value of the wrong type: what was expected, and the value (or item) at fault."""

    expected: str
    value: object


Check = Callable[[object], WrongType | None]


def _type_check(expected: str, ok: Callable[[object], bool]) -> Check:
    return lambda value: None if ok(value) else WrongType(expected, value)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


is_string = _type_check("a string", lambda v: isinstance(v, str))


def string_list(value: object) -> WrongType | None:
    """The YAML type of a list of strings (``models: [a, b]``)."""
    if not isinstance(value, list):
        return WrongType("a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            return WrongType(f"a string at index {index}", item)
    return None


def problem(wrong: WrongType, *, secret: bool) -> str:
    """The problem text for a wrongly typed YAML value; a secret's value is never echoed."""
    message = f"expected {wrong.expected}"
    if secret:
        return message + " (put the value in quotes)"
    message += f", got {show_value(wrong.value)}"
    if isinstance(wrong.value, str) and (refs := unresolved_refs(wrong.value)):
        message += f" ({', '.join(refs)} is not set; give a default with ${{VAR:-value}})"
    elif isinstance(wrong.value, int | float) and wrong.expected == "a string":
        message += " (put the value in quotes)"
    return message


# --- Kinds ----------------------------------------------------------------------------------


@attrs.frozen
class Kind(Generic[T]):
    """How one type of setting is read, checked and shown (see the module docstring)."""

    from_text: Callable[[str, str], T]  # (env text, setting name) -> value
    check: Check  # the YAML (or CLI) value's type
    refine: Callable[[object, str], T]  # (a value that passed check, setting name) -> value
    show: Callable[[T], str] = str
    secret: bool = False  # repr=False on Config; wrong values are never echoed

    def from_value(self, value: object, setting: str) -> T:
        """A typed value (from YAML or a CLI flag) to the setting's value."""
        if (wrong := self.check(value)) is not None:
            raise ConfigError(setting, problem(wrong, secret=self.secret))
        return self.refine(value, setting)


def integer(low: int, high: int | None = None) -> Kind[int]:
    """An integer from ``low`` to ``high`` (inclusive; no upper bound when ``None``)."""
    expected = (
        f"an integer between {low} and {high}" if high is not None else f"an integer >= {low}"
    )

    def in_range(n: int, setting: str, given: object) -> int:
        if n < low or (high is not None and n > high):
            raise ConfigError(setting, f"expected {expected}, got {show_value(given)}")
        return n

    def from_text(text: str, setting: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"[0-9]{1,18}", digits):
            raise ConfigError(setting, f"expected {expected}, got {text!r}")
        return in_range(int(digits), setting, text)

    def refine(value: object, setting: str) -> int:
        assert isinstance(value, int)
        return in_range(value, setting, value)

    return Kind(from_text, _type_check("an integer", _is_int), refine)


def number(low: float, high: float) -> Kind[float]:
    """A number from ``low`` to ``high`` (inclusive): ``2``, ``1.5``, ``.1``."""
    expected = f"a number between {low:g} and {high:g}"

    def in_range(n: float, setting: str, given: object) -> float:
        if not low <= n <= high:  # also rejects NaN
            raise ConfigError(setting, f"expected {expected}, got {show_value(given)}")
        return n

    def from_text(text: str, setting: str) -> float:
        digits = text.strip()
        if not re.fullmatch(r"[0-9]*\.?[0-9]+|[0-9]+\.", digits):
            raise ConfigError(setting, f"expected {expected}, got {text!r}")
        return in_range(float(digits), setting, text)

    def refine(value: object, setting: str) -> float:
        assert isinstance(value, int | float)
        return in_range(float(value), setting, value)

    ok = _type_check("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool))
    return Kind(from_text, ok, refine, lambda n: f"{n:g}")


def _show_size(n: int) -> str:
    for unit, factor in (("G", MiB * KiB), ("M", MiB), ("K", KiB)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def size(low: int, high: int) -> Kind[int]:
    """A size in bytes from ``low`` to ``high``: ``10M`` in env and YAML, or a YAML integer."""

    def from_text(text: str, setting: str) -> int:
        return in_range(parse_size(text, setting=setting), setting, text)

    def in_range(n: int, setting: str, given: object) -> int:
        if not low <= n <= high:
            raise ConfigError(
                setting,
                f"expected a size between {_show_size(low)} and {_show_size(high)}, "
                f"got {show_value(given)}",
            )
        return n

    def refine(value: object, setting: str) -> int:
        if isinstance(value, str):
            return from_text(value, setting)
        assert isinstance(value, int)
        return in_range(value, setting, value)

    ok = _type_check(
        "a size (bytes, or a string such as '10M')", lambda v: _is_int(v) or isinstance(v, str)
    )
    return Kind(from_text, ok, refine, _show_size)


def _duration_value(value: object, setting: str) -> float:
    if isinstance(value, str):
        return parse_duration(value, setting=setting)
    assert isinstance(value, int | float)
    if not 0 < value < float("inf"):  # also rejects NaN
        raise ConfigError(
            setting, f"expected a finite duration greater than 0, got {show_value(value)}"
        )
    return float(value)


def _show_seconds(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds!r}s"


def _bool_value(value: object, setting: str) -> bool:
    assert isinstance(value, bool)
    return value


DURATION = Kind(
    lambda t, s: parse_duration(t, setting=s),
    _type_check(
        "a duration (seconds, or a string such as '30s')",
        lambda v: isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool)),
    ),
    _duration_value,
    _show_seconds,
)
BOOL = Kind(
    lambda t, s: parse_bool(t, setting=s),
    _type_check("true or false", lambda v: isinstance(v, bool)),
    _bool_value,
    lambda b: str(b).lower(),
)


def text(
    check: Callable[[str, str], T], show: Callable[[T], str] = str, *, secret: bool = False
) -> Kind[T]:
    """A string setting; ``check(stripped text, setting)`` validates and normalises it."""

    def refine(value: object, setting: str) -> T:
        assert isinstance(value, str)
        return check(value.strip(), setting)

    return Kind(lambda t, s: check(t.strip(), s), is_string, refine, show, secret)


def choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Kind[str]:
    """One of ``choices``, case-insensitive; ``aliases`` maps other words to a choice."""

    def check(word: str, setting: str) -> str:
        lowered = word.lower()
        lowered = (aliases or {}).get(lowered, lowered)
        if lowered not in choices:
            raise ConfigError(setting, f"expected one of {', '.join(choices)}, got {word!r}")
        return lowered

    return text(check)


# --- Checks of one setting's text -----------------------------------------------------------


def check_host(value: str, setting: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:_%\[\]-]+", value):
        raise ConfigError(setting, f"expected a host name or IP address, got {value!r}")
    return value


def check_secret(value: str, setting: str) -> str:
    if refs := unresolved_refs(value):
        # Never fall back to "no key" (that would turn authentication off): refuse to start.
        raise ConfigError(setting, f"refers to {', '.join(refs)}, which is not set")
    return value


def check_header_text(value: str, setting: str) -> str:
    if not all(" " <= ch <= "~" for ch in value):
        raise ConfigError(setting, "must be printable ASCII (it is sent as an HTTP header)")
    return value


def check_path(value: str, setting: str) -> str:
    if "\x00" in value:
        raise ConfigError(setting, "a path cannot contain NUL")
    return value


# Paths the gateway serves itself: the metrics path may not hide one of them.
_SERVED = ("/v1/", "/p/", "/admin/", "/health", "/ready")


def check_metrics_path(value: str, setting: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value) or "//" in value:
        raise ConfigError(setting, f"expected a path such as /metrics, got {value!r}")
    if value == "/" or any(value == p.rstrip("/") or value.startswith(p) for p in _SERVED):
        raise ConfigError(setting, f"{value!r} is a path the gateway already serves")
    return value


def check_postgres_url(value: str, setting: str) -> str:
    if urlsplit(value).scheme not in ("postgresql", "postgres"):
        raise ConfigError(setting, "expected a postgresql:// URL")
    return value


def check_redis_url(value: str, setting: str) -> str:
    from gomodel.redis.settings import RedisSettings

    RedisSettings.from_url(value, setting=setting)  # a bad URL is a ConfigError naming it
    return value


def _provider_types(items: list[str], setting: str) -> tuple[str, ...]:
    types = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    unknown = [t for t in types if t not in SPECS]
    if unknown:
        raise ConfigError(
            setting, f"unknown provider type {unknown[0]!r}; known: {', '.join(sorted(SPECS))}"
        )
    return types


def _provider_types_value(value: object, setting: str) -> tuple[str, ...]:
    assert isinstance(value, list)
    return _provider_types(value, setting)


PROVIDER_TYPES = Kind(
    lambda t, s: _provider_types(t.split(","), s),
    string_list,
    _provider_types_value,
    lambda types: ", ".join(types) or "(none)",
)


def _statuses(items: list[object], setting: str) -> frozenset[int]:
    """HTTP statuses from codes (``429``) and classes (``5xx``)."""
    codes: set[int] = set()
    for item in items:
        word = str(item).strip().lower()
        if not word:
            continue
        if re.fullmatch(r"[1-5]xx", word):
            first = int(word[0]) * 100
            codes.update(range(first, first + 100))
        elif re.fullmatch(r"[1-5][0-9][0-9]", word):
            codes.add(int(word))
        else:
            raise ConfigError(
                setting, f"expected HTTP status codes or classes such as 429,5xx, got {item!r}"
            )
    return frozenset(codes)


def _show_statuses(codes: frozenset[int]) -> str:
    words: list[str] = []
    for first in range(100, 600, 100):
        block = set(range(first, first + 100))
        if block <= codes:
            words.append(f"{first // 100}xx")
    covered = {c for w in words for c in range(int(w[0]) * 100, int(w[0]) * 100 + 100)}
    words += [str(c) for c in sorted(codes - covered)]
    return ",".join(sorted(words, key=lambda w: w.replace("xx", "00"))) or "(none)"


def _statuses_value(value: object, setting: str) -> frozenset[int]:
    assert isinstance(value, list)
    return _statuses(value, setting)


def _status_list(value: object) -> WrongType | None:
    if not isinstance(value, list):
        return WrongType("a list of HTTP statuses", value)
    for index, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, int | str):
            return WrongType(f"a status code or class at index {index}", item)
    return None


STATUSES = Kind(
    lambda t, s: _statuses(list(t.split(",")), s),
    _status_list,
    _statuses_value,
    _show_statuses,
)
