"""The settings table: :class:`Config`, whose fields declare every scalar setting once.

Each scalar field of :class:`Config` is one :func:`setting` call giving the environment
variable, the YAML path, the :class:`~gomodel.config.kinds.Kind`, the default and a one-line
description; the field's name and type are the attribute's. Everything else is derived from it:

* :data:`SETTINGS` (in field order), which :func:`~gomodel.config.load_config` layers;
* the YAML structure (:data:`YAML_LEAVES`, :data:`YAML_SECTIONS`), which
  :mod:`gomodel.config.document` checks the file against;
* the ``check-config`` text (:mod:`gomodel.config.describe`).

The YAML sections ``providers:``, ``prices:`` and ``virtual_models:`` are not settings: they are
keyed by the user's names (see :mod:`gomodel.config.providers`, :mod:`gomodel.usage.pricing`
and :mod:`gomodel.config.virtual_models`).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar, overload

import attrs

from gomodel.config.kinds import (
    BOOL,
    DURATION,
    PROVIDER_TYPES,
    STATUSES,
    Kind,
    check_header_text,
    check_host,
    check_metrics_path,
    check_path,
    check_postgres_url,
    check_redis_url,
    check_secret,
    choice,
    integer,
    number,
    size,
    text,
)
from gomodel.config.masking import mask_secret, mask_url
from gomodel.config.parsers import KiB, MiB
from gomodel.config.providers import ProviderConfig
from gomodel.limits.model import Limit
from gomodel.routing.virtual import Group, VirtualModel
from gomodel.usage.pricing import PriceTable

__all__ = ["SETTINGS", "YAML_LEAVES", "YAML_SECTIONS", "Config", "Setting", "setting"]

T = TypeVar("T")

_METADATA_KEY = "gomodel.config.setting"


@attrs.frozen
class Setting:
    """One scalar setting, as :func:`setting` declared it on a :class:`Config` field."""

    field: str  # of Config
    env: str
    path: tuple[str, ...]  # in the YAML file
    kind: Kind[Any]
    default: object
    doc: str

    @property
    def dotted(self) -> str:
        """The YAML path as errors name it: ``server.port``."""
        return ".".join(self.path)


@overload
def setting(env: str, path: str, kind: Kind[T], default: T, doc: str) -> T: ...
@overload
def setting(env: str, path: str, kind: Kind[T], default: None, doc: str) -> T | None: ...
def setting(env: str, path: str, kind: Kind[Any], default: object, doc: str) -> Any:
    """Declare a :class:`Config` field as a setting; ``default=None`` means "not set"."""
    declared = Setting("", env, tuple(path.split(".")), kind, default, doc)
    return attrs.field(default=default, repr=not kind.secret, metadata={_METADATA_KEY: declared})


_HOST = text(check_host)
_SECRET = text(check_secret, mask_secret, secret=True)
_PATH = text(check_path)
_HEADER = text(check_header_text)
_METRICS_PATH = text(check_metrics_path)
_LOG_LEVEL = choice("debug", "info", "warning", "error", aliases={"warn": "warning"})


@functools.cache
def _shipped_prices() -> PriceTable:
    return PriceTable.from_package()


@attrs.frozen
class Config:
    """The effective configuration. Times are seconds, sizes are bytes.

    docs/configuration.md describes each setting; "Adding a setting" there says how to add one.
    """

    # fmt: off
    host: str = setting(
        "GOMODEL_HOST", "server.host", _HOST, "127.0.0.1",
        "address to listen on; 0.0.0.0 (or ::) serves other machines",
    )
    port: int = setting("PORT", "server.port", integer(1, 65535), 8080, "TCP port to listen on")
    master_key: str | None = setting(
        "GOMODEL_MASTER_KEY", "server.master_key", _SECRET, None,
        "clients must send it as a bearer token; no authentication when not set",
    )
    allow_unauthenticated: bool = setting(
        "GOMODEL_ALLOW_UNAUTHENTICATED", "server.allow_unauthenticated", BOOL, False,
        "with no master key, serve clients on other machines too (else loopback only)",
    )
    max_concurrent_requests: int = setting(
        "MAX_CONCURRENT_REQUESTS", "server.max_concurrent_requests", integer(1), 1000,
        "requests in progress at once, probes aside (503 past it)",
    )
    header_read_timeout: float = setting(
        "HEADER_READ_TIMEOUT", "server.header_read_timeout", DURATION, 10.0,
        "a request head must arrive within this (the connection is closed past it)",
    )
    client_send_timeout: float = setting(
        "CLIENT_SEND_TIMEOUT", "server.client_send_timeout", DURATION, 90.0,
        "one write to a client that reads nothing may wait this long (then it is cut off)",
    )
    body_size_limit: int = setting(
        "BODY_SIZE_LIMIT", "server.body_size_limit", size(KiB, 100 * MiB), 10 * MiB,
        "largest request body accepted (413 past it)",
    )
    body_read_timeout: float = setting(
        "BODY_READ_TIMEOUT", "server.body_read_timeout", DURATION, 30.0,
        "the whole request body must arrive within this (408 past it)",
    )
    shutdown_grace_period: float = setting(
        "SHUTDOWN_GRACE_PERIOD", "server.shutdown_grace_period", DURATION, 30.0,
        "in-flight requests may finish this long after SIGTERM",
    )
    keep_alive_timeout: float = setting(
        "KEEP_ALIVE_TIMEOUT", "server.keep_alive_timeout", DURATION, 75.0,
        "idle client connections are kept this long; above nginx's upstream 60 s",
    )
    trusted_proxy_hops: int = setting(
        "TRUSTED_PROXY_HOPS", "server.trusted_proxy_hops", integer(0, 10), 0,
        "X-Forwarded-For entries appended by proxies we trust",
    )
    http_timeout: float = setting(
        "HTTP_TIMEOUT", "http.timeout", DURATION, 600.0,
        "total deadline of one upstream exchange, streaming included",
    )
    http_response_header_timeout: float = setting(
        "HTTP_RESPONSE_HEADER_TIMEOUT", "http.response_header_timeout", DURATION, 600.0,
        "longest wait for the upstream's response headers",
    )
    http_stream_idle_timeout: float = setting(
        "HTTP_STREAM_IDLE_TIMEOUT", "http.stream_idle_timeout", DURATION, 300.0,
        "longest gap between two pieces of an upstream stream",
    )
    http_connect_timeout: float = setting(
        "HTTP_CONNECT_TIMEOUT", "http.connect_timeout", DURATION, 30.0,
        "deadline for opening an upstream connection (TCP + TLS)",
    )
    http_pool_timeout: float = setting(
        "HTTP_POOL_TIMEOUT", "http.pool_timeout", DURATION, 10.0,
        "longest wait for a free upstream connection (503 past it)",
    )
    http_max_connections: int = setting(
        "HTTP_MAX_CONNECTIONS", "http.max_connections", integer(1), 1000,
        "upstream connection pool size, per provider",
    )
    stream_stall_timeout: float = setting(
        "STREAM_STALL_TIMEOUT", "http.stream_stall_timeout", DURATION, 60.0,
        "a streaming client reading nothing this long gets its upstream closed",
    )
    stream_max_event_bytes: int = setting(
        "STREAM_MAX_EVENT_SIZE", "http.stream_max_event_size", size(KiB, 64 * MiB), 1 * MiB,
        "largest server-sent event accepted from a provider",
    )
    upstream_max_body_size: int = setting(
        "UPSTREAM_MAX_BODY_SIZE", "http.upstream_max_body_size", size(64 * KiB, 1024 * MiB),
        16 * MiB, "largest non-streamed upstream answer held in memory (502 past it)",
    )
    cache_refresh_interval: float = setting(
        "CACHE_REFRESH_INTERVAL", "cache.model.refresh_interval", DURATION, 3600.0,
        "how often each provider's model list is fetched again",
    )
    usage_enabled: bool = setting(
        "USAGE_ENABLED", "usage.enabled", BOOL, True, "record token usage"
    )
    enforce_returning_usage_data: bool = setting(
        "ENFORCE_RETURNING_USAGE_DATA", "usage.enforce_returning_usage_data", BOOL, True,
        "ask streaming providers for usage (stream_options.include_usage)",
    )
    usage_buffer_size: int = setting(
        "USAGE_BUFFER_SIZE", "usage.buffer_size", integer(1), 1000,
        "usage rows waiting in memory before they spill to disk",
    )
    usage_flush_interval: float = setting(
        "USAGE_FLUSH_INTERVAL", "usage.flush_interval", DURATION, 5.0,
        "how often the recorder writes a batch of usage rows",
    )
    usage_retention_days: int = setting(
        "USAGE_RETENTION_DAYS", "usage.retention_days", integer(0), 90,
        "usage rows older than this are deleted; 0 keeps them forever",
    )
    usage_spill_dir: str = setting(
        "USAGE_SPILL_DIR", "usage.spill_dir", _PATH, "data",
        "where usage rows go while storage is down",
    )
    enable_passthrough_routes: bool = setting(
        "ENABLE_PASSTHROUGH_ROUTES", "passthrough.enabled", BOOL, True,
        "serve /p/{provider}/{endpoint...}",
    )
    enabled_passthrough_providers: tuple[str, ...] = setting(
        "ENABLED_PASSTHROUGH_PROVIDERS", "passthrough.providers", PROVIDER_TYPES,
        ("openai", "anthropic", "openrouter", "zai"), "provider types reachable through /p/",
    )
    allow_passthrough_v1_alias: bool = setting(
        "ALLOW_PASSTHROUGH_V1_ALIAS", "passthrough.allow_v1_alias", BOOL, True,
        "/p/openai/v1/... means /p/openai/...",
    )
    budgets_enabled: bool = setting(
        "BUDGETS_ENABLED", "budgets.enabled", BOOL, True,
        "enforce USD budgets (set with SET_BUDGET_<PATH> or the admin API)",
    )
    budget_default_max_output_tokens: int = setting(
        "BUDGET_DEFAULT_MAX_OUTPUT_TOKENS", "budgets.default_max_output_tokens",
        integer(1, 10_000_000), 4096,
        "output cap set on a budgeted request that has none",
    )
    budget_min_output_tokens: int = setting(
        "BUDGET_MIN_OUTPUT_TOKENS", "budgets.min_output_tokens", integer(1, 10_000_000), 256,
        "lowest output cap a request is lowered to before a budget refuses it",
    )
    rate_limits_enabled: bool = setting(
        "RATE_LIMITS_ENABLED", "rate_limits.enabled", BOOL, True,
        "enforce rate limits (set with SET_RATE_LIMIT_<PATH>, SET_PROVIDER_RATE_LIMIT_<NAME> "
        "or the admin API)",
    )
    rate_limits_fail_open: bool = setting(
        "RATE_LIMITS_FAIL_OPEN", "rate_limits.fail_open", BOOL, True,
        "admit requests without rate limits while Redis does not answer (budgets never do)",
    )
    redis_url: str | None = setting(
        "REDIS_URL", "redis.url", text(check_redis_url, mask_url, secret=True), None,
        "Redis for limits and budgets shared by replicas (redis://...); memory when unset",
    )
    redis_timeout: float = setting(
        "REDIS_TIMEOUT", "redis.timeout", DURATION, 0.5,
        "longest wait for one Redis call before it counts as unavailable",
    )
    redis_key_limits: str = setting(
        "REDIS_KEY_LIMITS", "redis.key_limits", _HEADER, "gomodel:limits:",
        "prefix of the limit counters' Redis keys",
    )
    auth_keys_enabled: bool = setting(
        "AUTH_KEYS_ENABLED", "auth_keys.enabled", BOOL, True,
        "managed API keys, kept in the usage database (STORAGE_TYPE)",
    )
    storage_type: str = setting(
        "STORAGE_TYPE", "storage.type",
        choice("sqlite", "postgresql", aliases={"postgres": "postgresql"}), "sqlite",
        "where usage rows are stored: sqlite or postgresql",
    )
    sqlite_path: str = setting(
        "SQLITE_PATH", "storage.sqlite.path", _PATH, "data/gomodel.db", "the SQLite file"
    )
    postgres_url: str | None = setting(
        "POSTGRES_URL", "storage.postgresql.url",
        text(check_postgres_url, mask_url, secret=True), None,
        "the PostgreSQL database (postgresql://...); required with STORAGE_TYPE=postgresql",
    )
    anthropic_default_max_tokens: int = setting(
        "ANTHROPIC_DEFAULT_MAX_TOKENS", "anthropic.default_max_tokens", integer(0, 2**31 - 1),
        4096, "max_tokens for /v1/messages requests without one; 0: such requests get a 400",
    )
    openrouter_site_url: str | None = setting(
        "OPENROUTER_SITE_URL", "openrouter.site_url", _HEADER, None,
        "HTTP-Referer sent to OpenRouter; none when not set",
    )
    openrouter_app_name: str = setting(
        "OPENROUTER_APP_NAME", "openrouter.app_name", _HEADER, "gomodel",
        "X-OpenRouter-Title sent to OpenRouter",
    )
    log_level: str = setting(
        "LOG_LEVEL", "logging.level", _LOG_LEVEL, "info", "debug, info, warning or error"
    )
    log_format: str = setting(
        "LOG_FORMAT", "logging.format", choice("text", "json"), "text", "text or json"
    )
    metrics_enabled: bool = setting(
        "METRICS_ENABLED", "metrics.enabled", BOOL, False,
        "serve Prometheus metrics at METRICS_ENDPOINT",
    )
    metrics_endpoint: str = setting(
        "METRICS_ENDPOINT", "metrics.endpoint", _METRICS_PATH, "/metrics",
        "the path of the Prometheus metrics",
    )
    metrics_token: str | None = setting(
        "METRICS_TOKEN", "metrics.token", _SECRET, None,
        "a bearer token that may read the metrics (besides the master key)",
    )
    logging_enabled: bool = setting(
        "LOGGING_ENABLED", "logging.enabled", BOOL, False,
        "keep an audit log entry for every model request",
    )
    logging_log_bodies: bool = setting(
        "LOGGING_LOG_BODIES", "logging.log_bodies", BOOL, False,
        "audit entries keep request and response bodies (redacted, capped)",
    )
    logging_log_headers: bool = setting(
        "LOGGING_LOG_HEADERS", "logging.log_headers", BOOL, False,
        "audit entries keep request and response headers (redacted)",
    )
    logging_max_body_bytes: int = setting(
        "LOGGING_MAX_BODY_SIZE", "logging.max_body_size", size(KiB, 64 * MiB), 1 * MiB,
        "an audited body is cut at this size",
    )
    logging_buffer_size: int = setting(
        "LOGGING_BUFFER_SIZE", "logging.buffer_size", integer(1), 1000,
        "audit entries waiting in memory; past it new entries are dropped (counted)",
    )
    logging_flush_interval: float = setting(
        "LOGGING_FLUSH_INTERVAL", "logging.flush_interval", DURATION, 5.0,
        "how often the audit writer writes a batch",
    )
    logging_retention_days: int = setting(
        "LOGGING_RETENTION_DAYS", "logging.retention_days", integer(0), 30,
        "audit entries older than this are deleted; 0 keeps them forever",
    )
    otel_enabled: bool = setting(
        "OTEL_ENABLED", "otel.enabled", BOOL, False,
        "export one trace per request over OTLP (OTEL_EXPORTER_OTLP_*)",
    )
    keep_only_aliases_at_models_endpoint: bool = setting(
        "KEEP_ONLY_ALIASES_AT_MODELS_ENDPOINT", "models.keep_only_aliases_at_models_endpoint",
        BOOL, False, "/v1/models lists only the virtual models",
    )
    retry_max_retries: int = setting(
        "RETRY_MAX_RETRIES", "resilience.retry.max_retries", integer(0, 100), 3,
        "attempts after every target was tried once, each after a backoff",
    )
    retry_initial_backoff: float = setting(
        "RETRY_INITIAL_BACKOFF", "resilience.retry.initial_backoff", DURATION, 1.0,
        "the wait before the first retry",
    )
    retry_max_backoff: float = setting(
        "RETRY_MAX_BACKOFF", "resilience.retry.max_backoff", DURATION, 30.0,
        "the longest wait between two retries",
    )
    retry_backoff_factor: float = setting(
        "RETRY_BACKOFF_FACTOR", "resilience.retry.backoff_factor", number(1.0, 100.0), 2.0,
        "each wait is this many times the one before",
    )
    retry_jitter_factor: float = setting(
        "RETRY_JITTER_FACTOR", "resilience.retry.jitter_factor", number(0.0, 1.0), 0.1,
        "each wait varies randomly by up to this fraction",
    )
    retry_total_timeout: float = setting(
        "RETRY_TOTAL_TIMEOUT", "resilience.retry.total_timeout", DURATION, 60.0,
        "no retry or failover attempt starts later than this after the request arrived",
    )
    circuit_breaker_enabled: bool = setting(
        "CIRCUIT_BREAKER_ENABLED", "resilience.circuit_breaker.enabled", BOOL, True,
        "every deployment has a circuit breaker",
    )
    circuit_breaker_failure_threshold: int = setting(
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD", "resilience.circuit_breaker.failure_threshold",
        integer(1, 1000), 5, "consecutive failures (or slow calls) that open a breaker",
    )
    circuit_breaker_success_threshold: int = setting(
        "CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "resilience.circuit_breaker.success_threshold",
        integer(1, 1000), 2, "successful half-open probes that close a breaker",
    )
    circuit_breaker_timeout: float = setting(
        "CIRCUIT_BREAKER_TIMEOUT", "resilience.circuit_breaker.timeout", DURATION, 30.0,
        "an open breaker refuses requests this long before it lets a probe through",
    )
    circuit_breaker_slow_call_threshold: float | None = setting(
        "CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD", "resilience.circuit_breaker.slow_call_threshold",
        DURATION, None, "an answer slower than this (to its first byte) counts as a failure",
    )
    failover_enabled: bool = setting(
        "FAILOVER_ENABLED", "failover.enabled", BOOL, True,
        "a failed attempt moves on to the next target of a virtual model or provider",
    )
    failover_max_attempts: int = setting(
        "FAILOVER_MAX_ATTEMPTS", "failover.max_attempts", integer(1, 100), 3,
        "most targets tried for one request, the first included",
    )
    failover_retry_on_statuses: frozenset[int] = setting(
        "FAILOVER_RETRY_ON_STATUSES", "failover.retry_on_statuses", STATUSES,
        frozenset({429, 500, 502, 503, 504}), "upstream statuses that are retried or failed over",
    )
    failover_hold_prelude: bool = setting(
        "FAILOVER_HOLD_PRELUDE", "failover.hold_prelude", BOOL, True,
        "hold a stream's role chunk until its first content while a retry is possible",
    )
    # fmt: on
    # --- not settings: built by load_config from the other sections ---
    # prices: as written in the file: provider type -> model -> rate -> USD per million tokens
    prices: Mapping[str, Mapping[str, Mapping[str, float | int | str]]] = attrs.field(
        factory=dict, repr=False
    )
    price_table: PriceTable = attrs.field(factory=_shipped_prices, repr=False)  # + prices:
    providers: tuple[ProviderConfig, ...] = ()  # sorted by name; deployments one by one
    groups: tuple[Group, ...] = ()  # the providers with deployments
    virtual_models: tuple[VirtualModel, ...] = ()  # virtual_models: + VIRTUAL_MODELS
    config_file: str | None = None  # the YAML file that was read
    # SET_BUDGET_* / SET_RATE_LIMIT_* / SET_PROVIDER_RATE_LIMIT_*: seeded into the rule store
    limit_rules: tuple[Limit, ...] = ()
    warnings: tuple[str, ...] = ()


SETTINGS: tuple[Setting, ...] = tuple(
    attrs.evolve(a.metadata[_METADATA_KEY], field=a.name)
    for a in attrs.fields(Config)
    if _METADATA_KEY in a.metadata
)
# The YAML structure: the path of every setting, and every section (mapping) above one.
YAML_LEAVES: Mapping[tuple[str, ...], Setting] = {s.path: s for s in SETTINGS}
YAML_SECTIONS: frozenset[tuple[str, ...]] = frozenset(
    s.path[:depth] for s in SETTINGS for depth in range(1, len(s.path))
)
