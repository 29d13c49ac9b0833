"""Where settings come from: value parsers, ``${VAR}`` expansion and the YAML file model.

:mod:`gomodel.config` layers the sources. This module only reads them:

* :func:`parse_size`, :func:`parse_duration`, :func:`parse_bool` turn environment strings into
  values (re-exported by :mod:`gomodel.config`);
* :func:`expand_env` applies ``${VAR}`` / ``${VAR:-default}`` to the YAML text, as the Go gateway
  does: an unset or empty variable takes the default, and without one the reference stays literal;
* :func:`read_file` parses the YAML and structures it with a strict cattrs converter into the
  frozen ``*Section`` classes below. Unknown keys, duplicate keys and wrong scalar types are a
  :class:`ConfigError` naming the dotted path (``server.port``, ``providers.eu.bse_url``).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any, NewType, TypeVar

import attrs
import cattrs
import yaml
from cattrs.gen import make_dict_structure_fn, make_mapping_structure_fn

from gomodel.errors import ConfigError

__all__ = [
    "DurationValue",
    "FileDocument",
    "ProviderEntry",
    "SizeValue",
    "WrongType",
    "dotted",
    "expand_env",
    "parse_bool",
    "parse_duration",
    "parse_size",
    "read_file",
    "show_value",
    "unresolved_refs",
]

T = TypeVar("T")

# --- Value parsers --------------------------------------------------------------------------

_SIZE = re.compile(r"(\d+)([KMG])?B?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}
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


# --- ${VAR} expansion -----------------------------------------------------------------------

_REF = re.compile(r"\$\{([^}]*)\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unresolved ``${VAR}`` stays as written."""

    def replace(match: re.Match[str]) -> str:
        name, has_default, default = match.group(1).partition(":-")
        value = environ.get(name, "")
        if value:
            return value
        return default if has_default else match.group(0)

    return _REF.sub(replace, text)


def unresolved_refs(value: str) -> list[str]:
    """Names of the ``${VAR}`` references still present in ``value``."""
    return [m.group(1).partition(":-")[0] for m in _REF.finditer(value)]


# --- The file model -------------------------------------------------------------------------

# Sizes are an int (bytes) or a string in parse_size syntax; durations are a number of seconds
# or a string in parse_duration syntax. gomodel.config interprets them with the dotted path.
SizeValue = NewType("SizeValue", object)
DurationValue = NewType("DurationValue", object)


@attrs.frozen
class ServerSection:
    host: str | None = None
    port: int | None = None
    master_key: str | None = attrs.field(default=None, repr=False)
    body_size_limit: SizeValue | None = None
    body_read_timeout: DurationValue | None = None
    shutdown_grace_period: DurationValue | None = None
    keep_alive_timeout: DurationValue | None = None
    trusted_proxy_hops: int | None = None


@attrs.frozen
class HttpSection:
    timeout: DurationValue | None = None
    response_header_timeout: DurationValue | None = None
    stream_idle_timeout: DurationValue | None = None
    connect_timeout: DurationValue | None = None
    pool_timeout: DurationValue | None = None
    max_connections: int | None = None
    stream_stall_timeout: DurationValue | None = None
    stream_max_event_size: SizeValue | None = None


@attrs.frozen
class ModelCacheSection:
    refresh_interval: DurationValue | None = None


@attrs.frozen
class CacheSection:
    model: ModelCacheSection | None = None


@attrs.frozen
class UsageSection:
    enabled: bool | None = None
    enforce_returning_usage_data: bool | None = None
    buffer_size: int | None = None
    flush_interval: DurationValue | None = None
    retention_days: int | None = None
    spill_dir: str | None = None


@attrs.frozen
class PassthroughSection:
    enabled: bool | None = None
    providers: list[str] | None = None
    allow_v1_alias: bool | None = None


@attrs.frozen
class SQLiteSection:
    path: str | None = None


@attrs.frozen
class PostgreSQLSection:
    url: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class StorageSection:
    type: str | None = None
    sqlite: SQLiteSection | None = None
    postgresql: PostgreSQLSection | None = None


@attrs.frozen
class LoggingSection:
    level: str | None = None
    format: str | None = None


@attrs.frozen
class OpenRouterSection:
    site_url: str | None = None
    app_name: str | None = None


@attrs.frozen
class ProviderEntry:
    type: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    base_url: str | None = None
    api_version: str | None = None
    models: tuple[str, ...] | None = None


@attrs.frozen
class FileDocument:
    server: ServerSection | None = None
    http: HttpSection | None = None
    cache: CacheSection | None = None
    usage: UsageSection | None = None
    logging: LoggingSection | None = None
    openrouter: OpenRouterSection | None = None
    storage: StorageSection | None = None
    passthrough: PassthroughSection | None = None
    # Price overrides: provider type -> model -> rate name -> USD per million tokens.
    prices: dict[str, dict[str, dict[str, Any]]] | None = None  # checked by PriceTable
    # A null entry (``ollama:`` with nothing under it) is a provider with every field unset.
    providers: dict[str, ProviderEntry | None] | None = None


# --- Strict structuring ---------------------------------------------------------------------


class WrongType(ValueError):
    """A YAML value of the wrong type; the dotted path is added by :func:`read_file`."""

    def __init__(self, expected: str, value: object) -> None:
        super().__init__(f"expected {expected}")
        self.expected = expected
        self.value = value


def show_value(value: object) -> str:
    """A value as YAML would spell it, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _strict(expected: str, ok: Callable[[object], bool]) -> Callable[[object, Any], Any]:
    def hook(value: object, _: Any) -> Any:
        if not ok(value):
            raise WrongType(expected, value)
        return value

    return hook


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _string_list(value: object, _: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise WrongType("a list of strings", value)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise WrongType(f"a string at index {index}", item)
    return tuple(value)


def _mapping_first(hook: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    def checked(value: Any, cl: Any) -> T:
        if not isinstance(value, dict):
            raise WrongType("a mapping", value)
        return hook(value, cl)

    return checked


def _make_converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # cattrs coerces primitives by default ("8080" -> 8080, "no" -> True): STYLE.md §2.4.
    c.register_structure_hook(str, _strict("a string", lambda v: isinstance(v, str)))
    c.register_structure_hook(int, _strict("an integer", _is_int))
    c.register_structure_hook(bool, _strict("true or false", lambda v: isinstance(v, bool)))
    c.register_structure_hook(
        SizeValue,
        _strict(
            "a size (bytes, or a string such as '10M')", lambda v: _is_int(v) or isinstance(v, str)
        ),
    )
    c.register_structure_hook(
        DurationValue,
        _strict(
            "a duration (seconds, or a string such as '30s')",
            lambda v: _is_number(v) or isinstance(v, str),
        ),
    )
    c.register_structure_hook_func(lambda t: t == tuple[str, ...], _string_list)
    c.register_structure_hook_factory(
        attrs.has, lambda cl: _mapping_first(make_dict_structure_fn(cl, c))
    )
    providers = dict[str, ProviderEntry | None]
    c.register_structure_hook_func(
        lambda t: t == providers, _mapping_first(make_mapping_structure_fn(providers, c))
    )
    return c


_CONVERTER = _make_converter()


_WORD = re.compile(r"\w+")


def _split_path(path: str) -> list[str | int]:
    """``$.providers['openai-eu'].models[1]`` -> ``['providers', 'openai-eu', 'models', 1]``."""
    parts: list[str | int] = []
    pos = 1  # skip "$"
    while pos < len(path):
        if path[pos] == ".":
            match = _WORD.match(path, pos + 1)
            if match is None:
                break
            parts.append(match.group(0))
            pos = match.end()
        elif path[pos] == "[":
            end = path.find("]", pos)
            while end != -1:
                try:
                    key = ast.literal_eval(path[pos + 1 : end])
                except (ValueError, SyntaxError):
                    end = path.find("]", end + 1)
                    continue
                parts.append(key if isinstance(key, int | str) else str(key))
                break
            if end == -1:
                break
            pos = end + 1
        else:
            break
    return parts


def dotted(parts: list[str | int]) -> str:
    """``['providers', 'openai-eu', 'base_url']`` -> ``providers.openai-eu.base_url``."""
    return ".".join(str(part) for part in parts)


_SECRET_KEYS = frozenset({"api_key", "master_key"})


def _problems(exc: Exception) -> list[tuple[str, str]]:
    """(setting, problem) pairs from a cattrs validation error, in document order."""
    raised: list[BaseException] = []

    def remember(e: BaseException, _: type | None) -> str:
        raised.append(e)
        return str(len(raised) - 1)

    out: list[tuple[str, str]] = []
    for line in cattrs.transform_error(exc, format_exception=remember):
        index, _, path = line.partition(" @ ")
        error, parts = raised[int(index)], _split_path(path)
        if isinstance(error, cattrs.ForbiddenExtraKeysError):
            out.extend((dotted([*parts, key]), "unknown key") for key in sorted(error.extra_fields))
        elif isinstance(error, WrongType):
            problem = f"expected {error.expected}"
            if parts and parts[-1] in _SECRET_KEYS:
                problem += " (put the value in quotes)"  # never echo a secret
            else:
                problem += f", got {show_value(error.value)}"
                if isinstance(error.value, str) and unresolved_refs(error.value):
                    names = ", ".join(unresolved_refs(error.value))
                    problem += f" ({names} is not set; give a default with ${{VAR:-value}})"
                elif isinstance(error.value, int | float) and error.expected == "a string":
                    problem += " (put the value in quotes)"
            out.append((dotted(parts), problem))
        else:  # not raised by our hooks; keep the message short and generic
            out.append((dotted(parts), f"invalid value ({type(error).__name__})"))
    return out


# --- YAML -----------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only position and problem: the offending line may hold an expanded secret.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return f"invalid YAML: {type(exc).__name__}"


def read_file(path: str, environ: Mapping[str, str]) -> FileDocument:
    """Read, expand, parse and structure one YAML config file. Raises :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(path, f"cannot read the file: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(path, "the file is not valid UTF-8")
    try:
        document = yaml.load(expand_env(text, environ), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, _yaml_problem(exc))
    if document is None:
        return FileDocument()
    if not isinstance(document, dict):
        raise ConfigError(path, f"expected a mapping at the top level, got {show_value(document)}")
    try:
        return _CONVERTER.structure(document, FileDocument)
    except cattrs.BaseValidationError as exc:
        problems = _problems(exc)
        (setting, problem), rest = problems[0], problems[1:]
        if rest:
            problem += "; also " + "; ".join(f"{s}: {p}" for s, p in rest)
        raise ConfigError(setting, problem)
