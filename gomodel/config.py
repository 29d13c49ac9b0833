"""Gateway configuration: one frozen :class:`Config`, built once at startup by :func:`load_config`.

Sources, each overriding the one before: code defaults -> YAML file (``--config``, else
``config/config.yaml`` or ``config.yaml`` in the working directory) -> environment variables ->
CLI overrides. Where the Go gateway has a setting we keep its env var name (SPEC §2.1, §10.8);
the rest are ours. An empty env value means "not set", as in Go.

Every bad value is a :class:`~gomodel.errors.ConfigError` naming the setting (``PORT``,
``server.port``, ``--port``); ``gomodel`` prints it and exits with status 2. A provider that cannot
work (no key, no base URL) is not an error: it is dropped and :attr:`Config.warnings` says why.

Pure: no trio, httpx or hypercorn. docs/configuration.md is the user-facing reference.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from gomodel._config_sources import (
    FileDocument,
    ProviderEntry,
    parse_bool,
    parse_duration,
    parse_size,
    read_file,
    show_value,
    unresolved_refs,
)
from gomodel.errors import ConfigError
from gomodel.providers.spec import SPECS
from gomodel.usage.pricing import PriceTable

__all__ = [
    "Config",
    "ProviderConfig",
    "describe_config",
    "load_config",
    "parse_bool",
    "parse_duration",
    "parse_size",
]

KiB = 1024
MiB = 1024 * KiB


@attrs.frozen
class ProviderConfig:
    """One upstream: a named instance of a provider type from :data:`SPECS`."""

    name: str
    type: str
    base_url: str  # absolute http(s) URL without a trailing slash
    api_key: str | None = attrs.field(default=None, repr=False)
    api_version: str | None = None  # azure only (?api-version=)
    models: tuple[str, ...] = ()  # configured model IDs (<TYPE>_MODELS / YAML models)


@attrs.frozen
class Config:
    """The effective configuration. Times are seconds, sizes are bytes."""

    host: str = "0.0.0.0"
    port: int = 8080
    master_key: str | None = attrs.field(default=None, repr=False)
    body_size_limit: int = 10 * MiB
    body_read_timeout: float = 30.0  # whole request body must arrive within this
    shutdown_grace_period: float = 30.0  # in-flight requests may finish this long after SIGTERM
    keep_alive_timeout: float = 75.0  # idle client connections; above nginx's upstream 60 s
    trusted_proxy_hops: int = 0  # X-Forwarded-For entries set by proxies we trust
    http_timeout: float = 600.0  # total deadline of one upstream exchange
    http_response_header_timeout: float = 600.0
    http_stream_idle_timeout: float = 300.0  # max gap between upstream stream bytes
    http_connect_timeout: float = 30.0
    http_pool_timeout: float = 10.0  # waiting for a free upstream connection -> 503
    http_max_connections: int = 1000  # per provider
    stream_stall_timeout: float = 60.0  # client not reading for this long -> upstream closed
    stream_max_event_bytes: int = 1 * MiB
    cache_refresh_interval: float = 3600.0  # model list refresh
    usage_enabled: bool = True
    enforce_returning_usage_data: bool = True
    usage_buffer_size: int = 1000  # rows waiting in memory before they spill to disk
    usage_flush_interval: float = 5.0
    usage_retention_days: int = 90  # 0: keep usage rows forever
    usage_spill_dir: str = "data"  # where rows go while storage is down
    enable_passthrough_routes: bool = True  # /p/{provider}/{endpoint...}
    enabled_passthrough_providers: tuple[str, ...] = ("openai", "anthropic", "openrouter", "zai")
    allow_passthrough_v1_alias: bool = True  # /p/openai/v1/... means /p/openai/...
    storage_type: str = "sqlite"  # sqlite | postgresql
    sqlite_path: str = "data/gomodel.db"
    postgres_url: str | None = attrs.field(default=None, repr=False)
    # provider type -> model -> rate -> USD per million tokens, over the shipped table
    prices: Mapping[str, Mapping[str, Mapping[str, float | int | str]]] = attrs.field(
        factory=dict, repr=False
    )
    openrouter_site_url: str | None = None  # HTTP-Referer; omitted when unset
    openrouter_app_name: str = "gomodel"  # X-OpenRouter-Title
    log_level: str = "info"  # debug | info | warning | error
    log_format: str = "text"  # text | json
    providers: tuple[ProviderConfig, ...] = ()  # sorted by name
    config_file: str | None = None  # the YAML file that was read
    warnings: tuple[str, ...] = ()


# --- Scalar settings ------------------------------------------------------------------------


@attrs.frozen
class _Kind:
    """How a setting is read from an env string and from a typed (YAML or CLI) value."""

    from_text: Callable[[str, str], object]
    from_value: Callable[[object, str], object]
    show: Callable[[Any], str] = str


def _wrong(setting: str, expected: str, value: object) -> ConfigError:
    return ConfigError(setting, f"expected {expected}, got {show_value(value)}")


def _int_kind(low: int, high: int | None) -> _Kind:
    expected = f"an integer between {low} and {high}" if high else f"an integer >= {low}"

    def check(n: int, setting: str, given: object) -> int:
        if n < low or (high is not None and n > high):
            raise _wrong(setting, expected, given)
        return n

    def from_text(text: str, setting: str) -> int:
        digits = text.strip()
        if not re.fullmatch(r"[0-9]{1,18}", digits):
            raise _wrong(setting, expected, text)
        return check(int(digits), setting, text)

    def from_value(value: object, setting: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(setting, expected, value)
        return check(value, setting, value)

    return _Kind(from_text, from_value)


def _show_size(n: int) -> str:
    for unit, factor in (("G", MiB * KiB), ("M", MiB), ("K", KiB)):
        if n % factor == 0:
            return f"{n // factor}{unit}"
    return str(n)


def _size_kind(low: int, high: int) -> _Kind:
    def check(n: int, setting: str, given: object) -> int:
        if not low <= n <= high:
            raise ConfigError(
                setting,
                f"expected a size between {_show_size(low)} and {_show_size(high)}, "
                f"got {show_value(given)}",
            )
        return n

    def from_text(text: str, setting: str) -> int:
        return check(parse_size(text, setting=setting), setting, text)

    def from_value(value: object, setting: str) -> int:
        if isinstance(value, str):
            return from_text(value, setting)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(setting, "a size (bytes, or a string such as '10M')", value)
        return check(value, setting, value)

    return _Kind(from_text, from_value, _show_size)


def _duration_value(value: object, setting: str) -> float:
    if isinstance(value, str):
        return parse_duration(value, setting=setting)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(setting, "a duration (seconds, or a string such as '30s')", value)
    if not 0 < value < float("inf"):  # also rejects NaN
        raise _wrong(setting, "a finite duration greater than 0", value)
    return float(value)


def _show_seconds(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds!r}s"


def _bool_value(value: object, setting: str) -> bool:
    if not isinstance(value, bool):
        raise _wrong(setting, "true or false", value)
    return value


def _text_kind(check: Callable[[str, str], str], show: Callable[[Any], str] = str) -> _Kind:
    def from_value(value: object, setting: str) -> str:
        if not isinstance(value, str):
            raise _wrong(setting, "a string", value)
        return check(value.strip(), setting)

    return _Kind(lambda text, setting: check(text.strip(), setting), from_value, show)


def _host(text: str, setting: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.:_%\[\]-]+", text):
        raise ConfigError(setting, f"expected a host name or IP address, got {text!r}")
    return text


def _secret(text: str, setting: str) -> str:
    if refs := unresolved_refs(text):
        # Never fall back to "no key" (that would turn authentication off): refuse to start.
        raise ConfigError(setting, f"refers to {', '.join(refs)}, which is not set")
    return text


def _header_text(text: str, setting: str) -> str:
    if not all(" " <= ch <= "~" for ch in text):
        raise ConfigError(setting, "must be printable ASCII (it is sent as an HTTP header)")
    return text


def _choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Callable[[str, str], str]:
    def check(text: str, setting: str) -> str:
        word = text.lower()
        word = (aliases or {}).get(word, word)
        if word not in choices:
            raise ConfigError(setting, f"expected one of {', '.join(choices)}, got {text!r}")
        return word

    return check


def _path(text: str, setting: str) -> str:
    if "\x00" in text:
        raise ConfigError(setting, "a path cannot contain NUL")
    return text.strip()


def _postgres_url(text: str, setting: str) -> str:
    url = text.strip()
    if urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(setting, "expected a postgresql:// URL")
    return url


def _mask_optional_url(url: str | None) -> str:
    return "(not set)" if url is None else _mask_url(url)


def _type_list_from_text(text: str, setting: str) -> tuple[str, ...]:
    return _type_list(text.split(","), setting)


def _type_list_from_value(value: object, setting: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _wrong(setting, "a list of provider types", value)
    return _type_list(value, setting)


def _type_list(items: list[str], setting: str) -> tuple[str, ...]:
    types = tuple(dict.fromkeys(i.strip().lower() for i in items if i.strip()))
    unknown = [t for t in types if t not in SPECS]
    if unknown:
        raise ConfigError(
            setting, f"unknown provider type {unknown[0]!r}; known: {', '.join(sorted(SPECS))}"
        )
    return types


_TYPE_LIST = _Kind(_type_list_from_text, _type_list_from_value, lambda v: ", ".join(v) or "(none)")


def _mask(secret: str | None) -> str:
    if secret is None:
        return "(not set)"
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 12 else "****"


def _optional(value: str | None) -> str:
    return "(not set)" if value is None else value


_DURATION = _Kind(lambda t, s: parse_duration(t, setting=s), _duration_value, _show_seconds)
_BOOL = _Kind(lambda t, s: parse_bool(t, setting=s), _bool_value, lambda b: str(b).lower())
_LOG_LEVEL = _choice("debug", "info", "warning", "error", aliases={"warn": "warning"})


@attrs.frozen
class _Setting:
    field: str  # of Config
    env: str
    path: tuple[str, ...]  # in the YAML file
    kind: _Kind


_SETTINGS = tuple(
    _Setting(field, env, tuple(path.split(".")), kind)
    for field, env, path, kind in [
        ("host", "GOMODEL_HOST", "server.host", _text_kind(_host)),
        ("port", "PORT", "server.port", _int_kind(1, 65535)),
        ("master_key", "GOMODEL_MASTER_KEY", "server.master_key", _text_kind(_secret, _mask)),
        ("body_size_limit", "BODY_SIZE_LIMIT", "server.body_size_limit",
         _size_kind(KiB, 100 * MiB)),
        ("body_read_timeout", "BODY_READ_TIMEOUT", "server.body_read_timeout", _DURATION),
        ("shutdown_grace_period", "SHUTDOWN_GRACE_PERIOD", "server.shutdown_grace_period",
         _DURATION),
        ("keep_alive_timeout", "KEEP_ALIVE_TIMEOUT", "server.keep_alive_timeout", _DURATION),
        ("trusted_proxy_hops", "TRUSTED_PROXY_HOPS", "server.trusted_proxy_hops",
         _int_kind(0, 10)),
        ("http_timeout", "HTTP_TIMEOUT", "http.timeout", _DURATION),
        ("http_response_header_timeout", "HTTP_RESPONSE_HEADER_TIMEOUT",
         "http.response_header_timeout", _DURATION),
        ("http_stream_idle_timeout", "HTTP_STREAM_IDLE_TIMEOUT", "http.stream_idle_timeout",
         _DURATION),
        ("http_connect_timeout", "HTTP_CONNECT_TIMEOUT", "http.connect_timeout", _DURATION),
        ("http_pool_timeout", "HTTP_POOL_TIMEOUT", "http.pool_timeout", _DURATION),
        ("http_max_connections", "HTTP_MAX_CONNECTIONS", "http.max_connections",
         _int_kind(1, None)),
        ("stream_stall_timeout", "STREAM_STALL_TIMEOUT", "http.stream_stall_timeout", _DURATION),
        ("stream_max_event_bytes", "STREAM_MAX_EVENT_SIZE", "http.stream_max_event_size",
         _size_kind(KiB, 64 * MiB)),
        ("cache_refresh_interval", "CACHE_REFRESH_INTERVAL", "cache.model.refresh_interval",
         _DURATION),
        ("usage_enabled", "USAGE_ENABLED", "usage.enabled", _BOOL),
        ("enforce_returning_usage_data", "ENFORCE_RETURNING_USAGE_DATA",
         "usage.enforce_returning_usage_data", _BOOL),
        ("usage_buffer_size", "USAGE_BUFFER_SIZE", "usage.buffer_size", _int_kind(1, None)),
        ("usage_flush_interval", "USAGE_FLUSH_INTERVAL", "usage.flush_interval", _DURATION),
        ("usage_retention_days", "USAGE_RETENTION_DAYS", "usage.retention_days",
         _int_kind(0, None)),
        ("usage_spill_dir", "USAGE_SPILL_DIR", "usage.spill_dir", _text_kind(_path)),
        ("enable_passthrough_routes", "ENABLE_PASSTHROUGH_ROUTES", "passthrough.enabled", _BOOL),
        ("enabled_passthrough_providers", "ENABLED_PASSTHROUGH_PROVIDERS",
         "passthrough.providers", _TYPE_LIST),
        ("allow_passthrough_v1_alias", "ALLOW_PASSTHROUGH_V1_ALIAS", "passthrough.allow_v1_alias",
         _BOOL),
        ("storage_type", "STORAGE_TYPE", "storage.type",
         _text_kind(_choice("sqlite", "postgresql", aliases={"postgres": "postgresql"}))),
        ("sqlite_path", "SQLITE_PATH", "storage.sqlite.path", _text_kind(_path)),
        ("postgres_url", "POSTGRES_URL", "storage.postgresql.url",
         _text_kind(_postgres_url, _mask_optional_url)),
        ("openrouter_site_url", "OPENROUTER_SITE_URL", "openrouter.site_url",
         _text_kind(_header_text, _optional)),
        ("openrouter_app_name", "OPENROUTER_APP_NAME", "openrouter.app_name",
         _text_kind(_header_text)),
        ("log_level", "LOG_LEVEL", "logging.level", _text_kind(_LOG_LEVEL)),
        ("log_format", "LOG_FORMAT", "logging.format", _text_kind(_choice("text", "json"))),
    ]
)  # fmt: skip
_BY_FIELD = {s.field: s for s in _SETTINGS}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _from_file(document: FileDocument, path: tuple[str, ...]) -> object:
    node: object = document
    for name in path:
        node = getattr(node, name)
        if node is None:
            return None
    return node


def load_config(
    environ: Mapping[str, str],
    *,
    config_path: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the effective :class:`Config`; raises :class:`ConfigError` on any bad value.

    ``overrides`` are typed values from CLI flags, keyed by :class:`Config` field name (``None``
    means the flag was not given); they win over everything and are reported as ``--flag-name``.
    """
    path = _find_file(config_path, cwd)
    document = read_file(path, environ) if path is not None else FileDocument()
    values: dict[str, Any] = {}
    for setting in _SETTINGS:
        value = _from_file(document, setting.path)
        if not _blank(value):
            values[setting.field] = setting.kind.from_value(value, ".".join(setting.path))
        text = environ.get(setting.env, "")
        if text.strip():
            values[setting.field] = setting.kind.from_text(text, setting.env)
    for name, value in (overrides or {}).items():
        if name not in _BY_FIELD:
            raise ValueError(f"not an overridable setting: {name!r}")
        if not _blank(value):
            flag = "--" + name.replace("_", "-")
            values[name] = _BY_FIELD[name].kind.from_value(value, flag)
    warnings: list[str] = []
    providers = _build_providers(document.providers or {}, environ, warnings)
    if document.prices:
        PriceTable.from_package(document.prices)  # a bad override fails here, naming it
        values["prices"] = document.prices
    config = attrs.evolve(Config(), **values)
    if config.storage_type == "postgresql" and config.usage_enabled and not config.postgres_url:
        raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE is postgresql")
    if config.http_response_header_timeout > config.http_timeout:
        warnings.append(
            "HTTP_RESPONSE_HEADER_TIMEOUT is longer than HTTP_TIMEOUT; "
            "the total deadline (HTTP_TIMEOUT) applies first"
        )
    return attrs.evolve(config, providers=providers, config_file=path, warnings=tuple(warnings))


def _find_file(config_path: str | None, cwd: str | os.PathLike[str] | None) -> str | None:
    base = os.fspath(cwd) if cwd is not None else os.getcwd()
    if config_path is not None:
        path = os.path.join(base, config_path)  # an absolute config_path ignores base
        if not os.path.exists(path):
            raise ConfigError("--config", f"{config_path}: file not found")
        if not os.path.isfile(path):
            raise ConfigError("--config", f"{config_path}: not a regular file")
        return path
    for relative in ("config/config.yaml", "config.yaml"):
        candidate = os.path.join(base, relative)
        if os.path.isfile(candidate):
            return candidate
    return None


# --- Providers ------------------------------------------------------------------------------

_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_API_VERSION = re.compile(r"[A-Za-z0-9._-]+")


@attrs.define
class _Draft:
    """A provider while the sources are layered; mutable on purpose."""

    name: str
    type: str
    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    models: tuple[str, ...] = ()
    in_file: bool = True
    env: bool = False  # the <TYPE>_* variables overlay this provider
    unresolved: dict[str, list[str]] = attrs.Factory(dict)  # field -> unset ${VAR} names


def _clean(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def _models(items: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def _check_url(value: str, setting: str) -> str:
    wrong = ConfigError(setting, f"expected an absolute http(s) URL, got {value!r}")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise wrong
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise wrong
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise wrong
    if "?" in value or "#" in value:
        raise ConfigError(setting, "must not contain a query string or fragment")
    return value.rstrip("/")


def _check_api_version(value: str, setting: str) -> str:
    if not _API_VERSION.fullmatch(value):
        raise ConfigError(setting, f"expected an API version such as 2024-10-21, got {value!r}")
    return value


def _draft_from_file(name: str, entry: ProviderEntry) -> _Draft:
    where = f"providers.{name}"
    if not _PROVIDER_NAME.fullmatch(name):
        raise ConfigError(
            "providers",
            f"invalid provider name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    type_ = _clean(entry.type) or (name if name in SPECS else None)
    if type_ not in SPECS:
        problem = f"unknown provider type {type_!r}" if type_ else "missing"
        raise ConfigError(f"{where}.type", f"{problem}; expected one of: {', '.join(SPECS)}")
    draft = _Draft(name, type_, api_key=_clean(entry.api_key), models=_models(entry.models or ()))
    for field in ("base_url", "api_version"):
        value = _clean(getattr(entry, field))
        if value is None:
            continue
        if field == "api_version" and not SPECS[type_].api_version_query:
            raise ConfigError(f"{where}.api_version", f"not used by {type_} providers")
        if refs := unresolved_refs(value):
            draft.unresolved[field] = refs
            continue
        check = _check_url if field == "base_url" else _check_api_version
        setattr(draft, field, check(value, f"{where}.{field}"))
    return draft


def _env_target(
    type_: str, drafts: dict[str, _Draft], names: list[str], creatable: bool, warnings: list[str]
) -> _Draft | None:
    """The provider the <TYPE>_* variables apply to, created if needed (SPEC §2.1)."""
    named = drafts.get(type_)
    if named is not None and named.type == type_:
        return named
    same_type = [d.name for d in drafts.values() if d.type == type_]
    if len(same_type) == 1:
        return drafts[same_type[0]]
    ignored = f"{', '.join(names)} ignored"
    if same_type:
        warnings.append(
            f"{ignored}: {len(same_type)} providers have type '{type_}' "
            f"({', '.join(sorted(same_type))}) and none is named '{type_}'"
        )
    elif named is not None:
        warnings.append(f"{ignored}: the provider named '{type_}' has type '{named.type}'")
    elif not creatable:
        spec, prefix = SPECS[type_], type_.upper()
        needed = [f"{prefix}_API_KEY"] if spec.key_required else []
        if spec.base_url_required or not spec.key_required:
            needed.append(f"{prefix}_BASE_URL")
        warnings.append(
            f"{ignored}: no {type_} provider is configured (set {' and '.join(needed)})"
        )
    else:
        drafts[type_] = _Draft(type_, type_, in_file=False)
        return drafts[type_]
    return None


def _overlay_env(
    drafts: dict[str, _Draft], environ: Mapping[str, str], warnings: list[str]
) -> None:
    for type_, spec in SPECS.items():
        prefix = type_.upper()
        fields = {"api_key": "API_KEY", "base_url": "BASE_URL", "models": "MODELS"}
        if spec.api_version_query:
            fields["api_version"] = "API_VERSION"
        given = {f: environ.get(f"{prefix}_{suffix}", "").strip() for f, suffix in fields.items()}
        given = {f: v for f, v in given.items() if v}
        if not given:
            continue
        if "base_url" in given:
            given["base_url"] = _check_url(given["base_url"], f"{prefix}_BASE_URL")
        if "api_version" in given:
            given["api_version"] = _check_api_version(given["api_version"], f"{prefix}_API_VERSION")
        creatable = "base_url" in given or (spec.key_required and "api_key" in given)
        names = [f"{prefix}_{fields[f]}" for f in given]
        target = _env_target(type_, drafts, names, creatable, warnings)
        if target is None:
            continue
        target.env = True
        for field, value in given.items():
            target.unresolved.pop(field, None)
            setattr(target, field, _models(value.split(",")) if field == "models" else value)


def _missing(draft: _Draft, field: str, env_name: str) -> str:
    where = f"providers.{draft.name}.{field}"
    if refs := draft.unresolved.get(field):
        return f"{where} refers to {', '.join(refs)}, which is not set"
    if draft.in_file and draft.env:
        return f"neither {where} nor {env_name} is set"
    return f"{where} is not set" if draft.in_file else f"{env_name} is not set"


def _finish(draft: _Draft, warnings: list[str]) -> ProviderConfig | None:
    spec = SPECS[draft.type]
    prefix = draft.type.upper()
    key = draft.api_key
    if key is not None and (refs := unresolved_refs(key)):
        draft.unresolved["api_key"] = refs
        key = None
    reasons = []
    if spec.key_required and key is None:
        reasons.append(_missing(draft, "api_key", f"{prefix}_API_KEY"))
    base_url = draft.base_url
    if base_url is None and spec.base_url_required:
        reasons.append(_missing(draft, "base_url", f"{prefix}_BASE_URL"))
    if reasons:
        warnings.append(f"provider '{draft.name}' skipped: {'; '.join(reasons)}")
        return None
    if base_url is None:  # a key is present, or the type needs none (ollama, vllm)
        assert spec.default_base_url is not None
        base_url = spec.default_base_url
    api_version = None
    if spec.api_version_query:
        api_version = draft.api_version or spec.default_api_version
    return ProviderConfig(draft.name, draft.type, base_url, key, api_version, draft.models)


def _build_providers(
    entries: Mapping[str, ProviderEntry | None], environ: Mapping[str, str], warnings: list[str]
) -> tuple[ProviderConfig, ...]:
    drafts = {
        name: _draft_from_file(name, entry or ProviderEntry()) for name, entry in entries.items()
    }
    _overlay_env(drafts, environ, warnings)
    finished = (_finish(drafts[name], warnings) for name in sorted(drafts))
    return tuple(p for p in finished if p is not None)


# --- check-config ---------------------------------------------------------------------------


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:****@{host}").geturl()


def describe_config(config: Config) -> str:
    """The effective configuration as YAML-like text, secrets masked, for ``check-config``."""
    lines = [f"# config file: {config.config_file or '(none)'}"]
    open_path: tuple[str, ...] = ()
    for setting in _SETTINGS:
        *parents, key = setting.path
        for depth, name in enumerate(parents):
            if open_path[: depth + 1] != tuple(parents[: depth + 1]):
                lines.append(f"{'  ' * depth}{name}:")
        open_path = tuple(parents)
        entry = f"{'  ' * len(parents)}{key}: {setting.kind.show(getattr(config, setting.field))}"
        lines.append(f"{entry:<46} # {setting.env}")
    lines.append("providers:" if config.providers else "providers: {}  # none")
    for p in config.providers:
        lines += [
            f"  {p.name}:",
            f"    type: {p.type}",
            f"    base_url: {_mask_url(p.base_url)}",
            f"    api_key: {_mask(p.api_key)}",
            f"    api_version: {_optional(p.api_version)}",
            f"    models: {', '.join(p.models) if p.models else '(not set)'}",
        ]
    lines.append("warnings:" if config.warnings else "warnings: []  # none")
    lines += [f"  - {warning}" for warning in config.warnings]
    return "\n".join(lines)
