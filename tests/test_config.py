"""Configuration: env parsing, the YAML file, layering, provider discovery and check-config."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gomodel.config import (
    Config,
    ProviderConfig,
    describe_config,
    load_config,
    parse_bool,
    parse_duration,
    parse_size,
)
from gomodel.config.settings import SETTINGS
from gomodel.errors import ConfigError
from gomodel.usage.pricing import Price

KiB = 1024
MiB = 1024 * KiB


def load(
    tmp_path: Path, env: dict[str, str] | None = None, yaml: str | None = None, **kw: object
) -> Config:
    """load_config isolated in tmp_path: never reads a config.yaml from the real cwd."""
    if yaml is not None:
        path = tmp_path / "gomodel.yaml"
        path.write_text(yaml, encoding="utf-8")
        kw["config_path"] = str(path)
    return load_config(env or {}, cwd=tmp_path, **kw)  # type: ignore[arg-type]


def by_name(config: Config) -> dict[str, ProviderConfig]:
    return {p.name: p for p in config.providers}


# --- Every scalar env var, good and bad --------------------------------------------------------

ENV_GOOD = [
    # (env var, text, Config field, expected value)
    ("GOMODEL_HOST", "127.0.0.1", "host", "127.0.0.1"),
    ("GOMODEL_HOST", " :: ", "host", "::"),
    ("PORT", "9000", "port", 9000),
    ("PORT", " 1 ", "port", 1),
    ("PORT", "65535", "port", 65535),
    ("GOMODEL_MASTER_KEY", "sk-master-0123456789", "master_key", "sk-master-0123456789"),
    ("BODY_SIZE_LIMIT", "10M", "body_size_limit", 10 * MiB),
    ("BODY_SIZE_LIMIT", "512k", "body_size_limit", 512 * KiB),
    ("BODY_SIZE_LIMIT", "1KB", "body_size_limit", KiB),
    ("BODY_SIZE_LIMIT", "100mb", "body_size_limit", 100 * MiB),
    ("BODY_SIZE_LIMIT", "2048", "body_size_limit", 2048),
    ("BODY_SIZE_LIMIT", "4096B", "body_size_limit", 4096),
    ("BODY_READ_TIMEOUT", "45", "body_read_timeout", 45.0),
    ("BODY_READ_TIMEOUT", "1.5", "body_read_timeout", 1.5),
    ("BODY_READ_TIMEOUT", "500ms", "body_read_timeout", 0.5),
    ("HTTP_TIMEOUT", "1h30m", "http_timeout", 5400.0),
    ("HTTP_TIMEOUT", "600", "http_timeout", 600.0),
    ("HTTP_RESPONSE_HEADER_TIMEOUT", "30s", "http_response_header_timeout", 30.0),
    ("HTTP_STREAM_IDLE_TIMEOUT", "2m", "http_stream_idle_timeout", 120.0),
    ("HTTP_CONNECT_TIMEOUT", "2.5s", "http_connect_timeout", 2.5),
    ("HTTP_POOL_TIMEOUT", ".25", "http_pool_timeout", 0.25),
    ("HTTP_MAX_CONNECTIONS", "50", "http_max_connections", 50),
    ("HTTP_MAX_CONNECTIONS", "1", "http_max_connections", 1),
    ("STREAM_STALL_TIMEOUT", "1m30s", "stream_stall_timeout", 90.0),
    ("STREAM_MAX_EVENT_SIZE", "64M", "stream_max_event_bytes", 64 * MiB),
    ("STREAM_MAX_EVENT_SIZE", "1k", "stream_max_event_bytes", KiB),
    ("CACHE_REFRESH_INTERVAL", "10m", "cache_refresh_interval", 600.0),
    ("CACHE_REFRESH_INTERVAL", "7200", "cache_refresh_interval", 7200.0),
    ("USAGE_ENABLED", "false", "usage_enabled", False),
    ("USAGE_ENABLED", "NO", "usage_enabled", False),
    ("USAGE_ENABLED", "0", "usage_enabled", False),
    ("USAGE_ENABLED", "True", "usage_enabled", True),
    ("AUTH_KEYS_ENABLED", "false", "auth_keys_enabled", False),
    ("BUDGETS_ENABLED", "false", "budgets_enabled", False),
    ("RATE_LIMITS_ENABLED", "no", "rate_limits_enabled", False),
    ("RATE_LIMITS_FAIL_OPEN", "0", "rate_limits_fail_open", False),
    ("BUDGET_DEFAULT_MAX_OUTPUT_TOKENS", "1024", "budget_default_max_output_tokens", 1024),
    ("BUDGET_MIN_OUTPUT_TOKENS", "32", "budget_min_output_tokens", 32),
    ("REDIS_URL", "redis://127.0.0.1:6379/2", "redis_url", "redis://127.0.0.1:6379/2"),
    ("REDIS_TIMEOUT", "250ms", "redis_timeout", 0.25),
    ("REDIS_KEY_LIMITS", "gw:", "redis_key_limits", "gw:"),
    ("ENFORCE_RETURNING_USAGE_DATA", "0", "enforce_returning_usage_data", False),
    ("ENFORCE_RETURNING_USAGE_DATA", "yes", "enforce_returning_usage_data", True),
    ("USAGE_BUFFER_SIZE", "50", "usage_buffer_size", 50),
    ("ENABLE_PASSTHROUGH_ROUTES", "false", "enable_passthrough_routes", False),
    (
        "ENABLED_PASSTHROUGH_PROVIDERS",
        "openai, Groq,",
        "enabled_passthrough_providers",
        ("openai", "groq"),
    ),
    ("ALLOW_PASSTHROUGH_V1_ALIAS", "0", "allow_passthrough_v1_alias", False),
    ("SHUTDOWN_GRACE_PERIOD", "2m", "shutdown_grace_period", 120.0),
    ("KEEP_ALIVE_TIMEOUT", "90", "keep_alive_timeout", 90.0),
    ("GOMODEL_ALLOW_UNAUTHENTICATED", "true", "allow_unauthenticated", True),
    ("MAX_CONCURRENT_REQUESTS", "64", "max_concurrent_requests", 64),
    ("HEADER_READ_TIMEOUT", "5s", "header_read_timeout", 5.0),
    ("CLIENT_SEND_TIMEOUT", "2m", "client_send_timeout", 120.0),
    ("UPSTREAM_MAX_BODY_SIZE", "256M", "upstream_max_body_size", 256 * MiB),
    ("TRUSTED_PROXY_HOPS", "1", "trusted_proxy_hops", 1),
    ("USAGE_FLUSH_INTERVAL", "500ms", "usage_flush_interval", 0.5),
    ("USAGE_RETENTION_DAYS", "0", "usage_retention_days", 0),
    ("USAGE_SPILL_DIR", "/var/spill", "usage_spill_dir", "/var/spill"),
    ("STORAGE_TYPE", "SQLITE", "storage_type", "sqlite"),
    ("STORAGE_TYPE", "SQLite", "storage_type", "sqlite"),
    ("SQLITE_PATH", "/tmp/u.db", "sqlite_path", "/tmp/u.db"),
    ("POSTGRES_URL", "postgresql://u@h/db", "postgres_url", "postgresql://u@h/db"),
    ("ANTHROPIC_DEFAULT_MAX_TOKENS", "8192", "anthropic_default_max_tokens", 8192),
    ("ANTHROPIC_DEFAULT_MAX_TOKENS", "0", "anthropic_default_max_tokens", 0),
    ("OPENROUTER_SITE_URL", "https://example.com", "openrouter_site_url", "https://example.com"),
    ("OPENROUTER_APP_NAME", "My App", "openrouter_app_name", "My App"),
    ("LOG_LEVEL", "DEBUG", "log_level", "debug"),
    ("LOG_LEVEL", "warn", "log_level", "warning"),
    ("LOG_LEVEL", "error", "log_level", "error"),
    ("LOG_FORMAT", "json", "log_format", "json"),
    ("LOG_FORMAT", "Text", "log_format", "text"),
    ("METRICS_ENABLED", "true", "metrics_enabled", True),
    ("METRICS_ENDPOINT", "/internal/metrics", "metrics_endpoint", "/internal/metrics"),
    ("METRICS_TOKEN", "scrape-0123456789", "metrics_token", "scrape-0123456789"),
    ("LOGGING_ENABLED", "1", "logging_enabled", True),
    ("LOGGING_LOG_BODIES", "yes", "logging_log_bodies", True),
    ("LOGGING_LOG_HEADERS", "true", "logging_log_headers", True),
    ("LOGGING_MAX_BODY_SIZE", "64K", "logging_max_body_bytes", 64 * KiB),
    ("LOGGING_BUFFER_SIZE", "50", "logging_buffer_size", 50),
    ("LOGGING_FLUSH_INTERVAL", "500ms", "logging_flush_interval", 0.5),
    ("LOGGING_RETENTION_DAYS", "0", "logging_retention_days", 0),
    ("OTEL_ENABLED", "true", "otel_enabled", True),
    ("KEEP_ONLY_ALIASES_AT_MODELS_ENDPOINT", "true", "keep_only_aliases_at_models_endpoint", True),
    ("RETRY_MAX_RETRIES", "0", "retry_max_retries", 0),
    ("RETRY_INITIAL_BACKOFF", "250ms", "retry_initial_backoff", 0.25),
    ("RETRY_MAX_BACKOFF", "1m", "retry_max_backoff", 60.0),
    ("RETRY_BACKOFF_FACTOR", "1.5", "retry_backoff_factor", 1.5),
    ("RETRY_BACKOFF_FACTOR", "3", "retry_backoff_factor", 3.0),
    ("RETRY_JITTER_FACTOR", "0", "retry_jitter_factor", 0.0),
    ("RETRY_JITTER_FACTOR", ".25", "retry_jitter_factor", 0.25),
    ("RETRY_TOTAL_TIMEOUT", "2m", "retry_total_timeout", 120.0),
    ("FAILOVER_ENABLED", "false", "failover_enabled", False),
    ("FAILOVER_MAX_ATTEMPTS", "5", "failover_max_attempts", 5),
    ("FAILOVER_RETRY_ON_STATUSES", "429, 503", "failover_retry_on_statuses", frozenset({429, 503})),
    ("FAILOVER_RETRY_ON_STATUSES", "5XX", "failover_retry_on_statuses", frozenset(range(500, 600))),
    ("FAILOVER_HOLD_PRELUDE", "false", "failover_hold_prelude", False),
    ("CIRCUIT_BREAKER_ENABLED", "no", "circuit_breaker_enabled", False),
    ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "3", "circuit_breaker_failure_threshold", 3),
    ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "1", "circuit_breaker_success_threshold", 1),
    ("CIRCUIT_BREAKER_TIMEOUT", "10s", "circuit_breaker_timeout", 10.0),
    ("CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD", "20s", "circuit_breaker_slow_call_threshold", 20.0),
]

ENV_BAD = [
    # (env var, text, a fragment of the problem)
    ("GOMODEL_HOST", "my host", "host name or IP address"),
    ("GOMODEL_HOST", "a/b", "host name or IP address"),
    ("PORT", "abc", "expected an integer between 1 and 65535, got 'abc'"),
    ("PORT", "0", "between 1 and 65535"),
    ("PORT", "65536", "between 1 and 65535"),
    ("PORT", "-1", "between 1 and 65535"),
    ("PORT", "80.0", "between 1 and 65535"),
    ("PORT", "1_000", "between 1 and 65535"),
    ("PORT", "9" * 5000, "between 1 and 65535"),
    ("GOMODEL_MASTER_KEY", "${MASTER_FROM_VAULT}", "MASTER_FROM_VAULT, which is not set"),
    ("BODY_SIZE_LIMIT", "10X", "expected a size"),
    ("BODY_SIZE_LIMIT", "1.5M", "expected a size"),
    ("BODY_SIZE_LIMIT", "-1M", "expected a size"),
    ("BODY_SIZE_LIMIT", "1T", "expected a size"),
    ("BODY_SIZE_LIMIT", "10 M", "expected a size"),
    ("BODY_SIZE_LIMIT", "512", "between 1K and 100M"),
    ("BODY_SIZE_LIMIT", "101M", "between 1K and 100M"),
    ("BODY_SIZE_LIMIT", "1G", "between 1K and 100M"),
    ("BODY_SIZE_LIMIT", "9" * 5000, "too large"),
    ("BODY_READ_TIMEOUT", "0", "greater than 0"),
    ("BODY_READ_TIMEOUT", "soon", "expected a duration"),
    ("BODY_READ_TIMEOUT", "-5", "expected a duration"),
    ("BODY_READ_TIMEOUT", "1d", "expected a duration"),
    ("BODY_READ_TIMEOUT", "30 s", "expected a duration"),
    ("HTTP_TIMEOUT", "0s", "greater than 0"),
    ("HTTP_TIMEOUT", "inf", "expected a duration"),
    ("HTTP_TIMEOUT", "nan", "expected a duration"),
    ("HTTP_TIMEOUT", "1e3", "expected a duration"),
    ("HTTP_TIMEOUT", "9" * 400, "too large"),
    ("HTTP_RESPONSE_HEADER_TIMEOUT", "s", "expected a duration"),
    ("HTTP_STREAM_IDLE_TIMEOUT", "5 minutes", "expected a duration"),
    ("HTTP_CONNECT_TIMEOUT", "0ms", "greater than 0"),
    ("HTTP_POOL_TIMEOUT", "-1s", "expected a duration"),
    ("HTTP_MAX_CONNECTIONS", "0", "an integer >= 1"),
    ("HTTP_MAX_CONNECTIONS", "many", "an integer >= 1"),
    ("STREAM_STALL_TIMEOUT", "forever", "expected a duration"),
    ("STREAM_MAX_EVENT_SIZE", "65M", "between 1K and 64M"),
    ("STREAM_MAX_EVENT_SIZE", "1023", "between 1K and 64M"),
    ("CACHE_REFRESH_INTERVAL", "0", "greater than 0"),
    ("USAGE_ENABLED", "maybe", "expected true/false, 1/0 or yes/no, got 'maybe'"),
    ("USAGE_ENABLED", "on", "expected true/false"),
    ("USAGE_ENABLED", "2", "expected true/false"),
    ("AUTH_KEYS_ENABLED", "off", "expected true/false"),
    ("BUDGETS_ENABLED", "off", "expected true/false"),
    ("RATE_LIMITS_ENABLED", "off", "expected true/false"),
    ("RATE_LIMITS_FAIL_OPEN", "off", "expected true/false"),
    ("BUDGET_DEFAULT_MAX_OUTPUT_TOKENS", "0", "expected an integer"),
    ("BUDGET_MIN_OUTPUT_TOKENS", "x", "expected an integer"),
    ("REDIS_URL", "http://x", "redis"),
    ("REDIS_TIMEOUT", "soon", "expected a duration"),
    ("REDIS_KEY_LIMITS", "a\tb", "printable"),
    ("USAGE_BUFFER_SIZE", "0", "expected an integer >= 1"),
    ("ANTHROPIC_DEFAULT_MAX_TOKENS", "-1", "expected an integer between 0 and"),
    ("ANTHROPIC_DEFAULT_MAX_TOKENS", "4k", "expected an integer between 0 and"),
    ("ENABLE_PASSTHROUGH_ROUTES", "sometimes", "expected true/false"),
    ("ENABLED_PASSTHROUGH_PROVIDERS", "openai,bogus", "unknown provider type 'bogus'"),
    ("ALLOW_PASSTHROUGH_V1_ALIAS", "2", "expected true/false"),
    ("SHUTDOWN_GRACE_PERIOD", "0", "greater than 0"),
    ("GOMODEL_ALLOW_UNAUTHENTICATED", "please", "expected true/false"),
    ("MAX_CONCURRENT_REQUESTS", "0", "an integer >= 1"),
    ("HEADER_READ_TIMEOUT", "0", "greater than 0"),
    ("CLIENT_SEND_TIMEOUT", "never", "expected a duration"),
    ("UPSTREAM_MAX_BODY_SIZE", "2G", "between 64K and 1G"),
    ("KEEP_ALIVE_TIMEOUT", "forever", "expected a duration"),
    ("TRUSTED_PROXY_HOPS", "-1", "expected an integer between 0 and 10"),
    ("USAGE_FLUSH_INTERVAL", "soon", "expected a duration"),
    ("USAGE_RETENTION_DAYS", "-1", "expected an integer >= 0"),
    ("USAGE_SPILL_DIR", "a\x00b", "NUL"),
    ("STORAGE_TYPE", "mongodb", "mongodb"),
    ("SQLITE_PATH", "a\x00b", "NUL"),
    ("POSTGRES_URL", "mysql://h/db", "postgresql://"),
    ("ENFORCE_RETURNING_USAGE_DATA", "tru", "expected true/false"),
    ("OPENROUTER_SITE_URL", "https://example.com/\x01", "printable ASCII"),
    ("OPENROUTER_APP_NAME", "naïve", "printable ASCII"),
    ("LOG_LEVEL", "verbose", "expected one of debug, info, warning, error, got 'verbose'"),
    ("LOG_FORMAT", "xml", "expected one of text, json"),
    ("METRICS_ENABLED", "maybe", "expected true/false"),
    ("METRICS_ENDPOINT", "/v1/models", "a path the gateway already serves"),
    ("METRICS_ENDPOINT", "metrics", "expected a path such as /metrics"),
    ("METRICS_TOKEN", "${SCRAPE_TOKEN}", "SCRAPE_TOKEN, which is not set"),
    ("LOGGING_ENABLED", "on", "expected true/false"),
    ("LOGGING_LOG_BODIES", "2", "expected true/false"),
    ("LOGGING_LOG_HEADERS", "maybe", "expected true/false"),
    ("LOGGING_MAX_BODY_SIZE", "100G", "expected a size between"),
    ("LOGGING_BUFFER_SIZE", "0", "an integer >= 1"),
    ("LOGGING_FLUSH_INTERVAL", "-1", "duration"),
    ("LOGGING_RETENTION_DAYS", "-3", "an integer >= 0"),
    ("OTEL_ENABLED", "maybe", "expected true/false"),
    ("OPENAI_BASE_URL", "api.openai.com/v1", "absolute http(s) URL"),
    ("OPENAI_BASE_URL", "ftp://files.example.com", "absolute http(s) URL"),
    ("OPENAI_BASE_URL", "https://", "absolute http(s) URL"),
    ("OPENAI_BASE_URL", "https://example.com:99999/v1", "absolute http(s) URL"),
    ("OPENAI_BASE_URL", "https://example.com/v1?key=1", "query string"),
    ("AZURE_BASE_URL", "https://res openai.azure.com", "absolute http(s) URL"),
    ("AZURE_API_VERSION", "2024 10 21", "API version"),
    ("KEEP_ONLY_ALIASES_AT_MODELS_ENDPOINT", "only", "expected true/false"),
    ("RETRY_MAX_RETRIES", "-1", "between 0 and 100"),
    ("RETRY_MAX_RETRIES", "101", "between 0 and 100"),
    ("RETRY_INITIAL_BACKOFF", "0", "greater than 0"),
    ("RETRY_MAX_BACKOFF", "later", "expected a duration"),
    ("RETRY_BACKOFF_FACTOR", "0.5", "between 1 and 100"),
    ("RETRY_BACKOFF_FACTOR", "2x", "expected a number between 1 and 100"),
    ("RETRY_JITTER_FACTOR", "1.5", "between 0 and 1"),
    ("RETRY_JITTER_FACTOR", "nan", "expected a number between 0 and 1"),
    ("RETRY_TOTAL_TIMEOUT", "0", "greater than 0"),
    ("FAILOVER_ENABLED", "auto", "expected true/false"),
    ("FAILOVER_MAX_ATTEMPTS", "0", "between 1 and 100"),
    ("FAILOVER_RETRY_ON_STATUSES", "429,6xx", "such as 429,5xx, got '6xx'"),
    ("FAILOVER_RETRY_ON_STATUSES", "overloaded", "such as 429,5xx"),
    ("FAILOVER_HOLD_PRELUDE", "sometimes", "expected true/false"),
    ("CIRCUIT_BREAKER_ENABLED", "half", "expected true/false"),
    ("CIRCUIT_BREAKER_FAILURE_THRESHOLD", "0", "between 1 and 1000"),
    ("CIRCUIT_BREAKER_SUCCESS_THRESHOLD", "x", "between 1 and 1000"),
    ("CIRCUIT_BREAKER_TIMEOUT", "-1", "expected a duration"),
    ("CIRCUIT_BREAKER_SLOW_CALL_THRESHOLD", "0", "greater than 0"),
]


def test_every_scalar_env_var_has_good_and_bad_cases() -> None:
    """The tables above cover every scalar setting gomodel reads from the environment."""
    names = {s.env for s in SETTINGS}
    assert names <= {case[0] for case in ENV_GOOD}
    assert names <= {case[0] for case in ENV_BAD}


@pytest.mark.parametrize(("name", "text", "field", "expected"), ENV_GOOD)
def test_env_good_value(tmp_path: Path, name: str, text: str, field: str, expected: object) -> None:
    """A valid env value lands in its Config field, parsed."""
    config = load(tmp_path, {name: text})
    assert getattr(config, field) == expected
    assert type(getattr(config, field)) is type(expected)


@pytest.mark.parametrize(("name", "text", "problem"), ENV_BAD)
def test_env_bad_value(tmp_path: Path, name: str, text: str, problem: str) -> None:
    """An invalid env value is a ConfigError naming the variable."""
    env = {name: text, "OPENAI_API_KEY": "sk-test", "AZURE_API_KEY": "k"}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, env)
    assert caught.value.setting == name
    assert str(caught.value).startswith(f"{name}: ")
    assert problem in caught.value.problem


def test_port_message_is_exact(tmp_path: Path) -> None:
    """The PORT message reads as documented."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"PORT": "abc"})
    assert str(caught.value) == "PORT: expected an integer between 1 and 65535, got 'abc'"


@pytest.mark.parametrize("blank", ["", "   "])
def test_empty_env_value_means_unset(tmp_path: Path, blank: str) -> None:
    """An empty variable keeps the default, as in the Go gateway."""
    config = load(tmp_path, {"PORT": blank, "USAGE_ENABLED": blank, "GOMODEL_MASTER_KEY": blank})
    assert (config.port, config.usage_enabled, config.master_key) == (8080, True, None)


def test_header_timeout_longer_than_total_is_a_warning(tmp_path: Path) -> None:
    """A response-header timeout past the total deadline is accepted but noted."""
    config = load(tmp_path, {"HTTP_TIMEOUT": "60", "HTTP_RESPONSE_HEADER_TIMEOUT": "120"})
    assert config.warnings[0].startswith("HTTP_RESPONSE_HEADER_TIMEOUT is longer than HTTP_TIMEOUT")


def test_defaults_without_any_source(tmp_path: Path) -> None:
    """No file and no env: the code defaults, and a warning that nothing is configured."""
    config = load(tmp_path)
    assert attrs.evolve(config, warnings=()) == Config()
    assert config.warnings == ()  # "no provider" is said at startup, by the app
    assert config.config_file is None


# --- Parsers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("1k", 1024), ("2KB", 2048), ("3m", 3 * MiB), ("1G", 1024**3), ("1gb", 1024**3)],
)
def test_parse_size(text: str, expected: int) -> None:
    """Sizes take K/M/G (1024-based) with an optional B, in any case."""
    assert parse_size(text, setting="X") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", 30.0),
        ("0.5", 0.5),
        ("2.", 2.0),
        ("250ms", 0.25),
        ("1500us", 0.0015),
        ("1500µs", 0.0015),
        ("10ns", 1e-8),
        ("1.5h", 5400.0),
        ("1h2m3s", 3723.0),
    ],
)
def test_parse_duration(text: str, expected: float) -> None:
    """Durations are plain seconds or Go duration strings."""
    assert parse_duration(text, setting="X") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "expected"), [("TRUE", True), ("Yes", True), ("1", True), ("no", False)]
)
def test_parse_bool(text: str, expected: bool) -> None:
    """Booleans accept true/false, 1/0 and yes/no in any case."""
    assert parse_bool(text, setting="X") is expected


@pytest.mark.parametrize(
    ("parse", "text"),
    [(parse_size, ""), (parse_duration, ""), (parse_duration, "h"), (parse_bool, "")],
)
def test_parsers_raise_with_the_setting(parse: object, text: str) -> None:
    """Each parser raises a ConfigError carrying the given setting name."""
    with pytest.raises(ConfigError) as caught:
        parse(text, setting="SOME_VAR")  # type: ignore[operator]
    assert caught.value.setting == "SOME_VAR"


# --- The YAML file ---------------------------------------------------------------------------

FULL_YAML = """
server:
  host: 127.0.0.1
  port: 9001
  master_key: "sk-file-master-key-0001"
  body_size_limit: 2M
  body_read_timeout: 15
http:
  timeout: 5m
  response_header_timeout: 60s
  stream_idle_timeout: 120
  connect_timeout: 2.5
  pool_timeout: 1s
  max_connections: 20
  stream_stall_timeout: 45s
  stream_max_event_size: 65536
cache:
  model:
    refresh_interval: 30m
usage:
  enabled: false
  enforce_returning_usage_data: false
logging:
  level: debug
  format: json
openrouter:
  site_url: https://example.org
  app_name: Example
"""


def test_yaml_sets_every_scalar(tmp_path: Path) -> None:
    """Every YAML key reaches its Config field."""
    config = load(tmp_path, yaml=FULL_YAML)
    expected = Config(
        host="127.0.0.1",
        port=9001,
        master_key="sk-file-master-key-0001",
        body_size_limit=2 * MiB,
        body_read_timeout=15.0,
        http_timeout=300.0,
        http_response_header_timeout=60.0,
        http_stream_idle_timeout=120.0,
        http_connect_timeout=2.5,
        http_pool_timeout=1.0,
        http_max_connections=20,
        stream_stall_timeout=45.0,
        stream_max_event_bytes=65536,
        cache_refresh_interval=1800.0,
        usage_enabled=False,
        enforce_returning_usage_data=False,
        openrouter_site_url="https://example.org",
        openrouter_app_name="Example",
        log_level="debug",
        log_format="json",
        config_file=str(tmp_path / "gomodel.yaml"),
        warnings=(),
    )
    assert config == expected
    assert config.master_key == expected.master_key  # repr=False fields still compare


def test_yaml_expansion_with_defaults(tmp_path: Path) -> None:
    """${VAR} takes the env value, ${VAR:-default} the default when unset or empty."""
    text = """
server:
  port: ${GW_PORT:-9100}
  host: ${GW_HOST:-127.0.0.1}
openrouter:
  app_name: ${APP_NAME:-fallback name}
  site_url: ${SITE}
"""
    config = load(tmp_path, {"GW_HOST": "", "SITE": "https://site.example"}, yaml=text)
    assert config.port == 9100
    assert config.host == "127.0.0.1"
    assert config.openrouter_app_name == "fallback name"
    assert config.openrouter_site_url == "https://site.example"
    assert load(tmp_path, {"GW_PORT": "9200"}, yaml=text).port == 9200


def test_unresolved_reference_stays_literal(tmp_path: Path) -> None:
    """An unset ${VAR} without a default is kept as written, as in Go."""
    config = load(tmp_path, yaml="openrouter:\n  app_name: app-${NOT_SET}\n")
    assert config.openrouter_app_name == "app-${NOT_SET}"


def test_unresolved_reference_in_typed_field_hints(tmp_path: Path) -> None:
    """A literal ${VAR} where a number belongs says which variable is missing."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml="server:\n  port: ${GW_PORT}\n")
    assert caught.value.setting == "server.port"
    assert "GW_PORT is not set" in caught.value.problem


def test_unresolved_master_key_refuses_to_start(tmp_path: Path) -> None:
    """A master key still holding ${VAR} is an error, never "authentication off"."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml='server:\n  master_key: "${GOMODEL_MASTER_KEY}"\n')
    assert caught.value.setting == "server.master_key"


def test_env_wins_over_file(tmp_path: Path) -> None:
    """Environment variables override the file, setting by setting."""
    env = {"PORT": "9002", "USAGE_ENABLED": "true", "HTTP_TIMEOUT": "90s"}
    config = load(tmp_path, env, yaml=FULL_YAML)
    assert (config.port, config.usage_enabled, config.http_timeout) == (9002, True, 90.0)
    assert config.host == "127.0.0.1"  # not in env: the file's value stays


def test_overrides_win_over_env(tmp_path: Path) -> None:
    """CLI overrides beat env and file; None means the flag was not given."""
    config = load(
        tmp_path, {"PORT": "9002"}, yaml=FULL_YAML, overrides={"port": 9003, "host": None}
    )
    assert (config.port, config.host) == (9003, "127.0.0.1")


def test_bad_override_names_the_flag(tmp_path: Path) -> None:
    """An invalid override is reported under its flag name."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, overrides={"port": 0})
    assert caught.value.setting == "--port"
    with pytest.raises(ValueError, match="not an overridable setting"):
        load(tmp_path, overrides={"providers": ()})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "providers:\n  openai-eu:\n    type: openai\n    bse_url: https://x\n",
            "providers.openai-eu.bse_url: unknown key",
        ),
        ("storage:\n  tpe: sqlite\n", "storage.tpe: unknown key"),
        ("server:\n  prot: 1\n", "server.prot: unknown key"),
        ("cache:\n  model:\n    ttl: 5\n", "cache.model.ttl: unknown key"),
        ("server:\n  port: abc\n", "server.port: expected an integer, got 'abc'"),
        ("server:\n  port: '8080'\n", "server.port: expected an integer, got '8080'"),
        ("server:\n  port: 0\n", "server.port: expected an integer between 1 and 65535, got 0"),
        ("server:\n  port: true\n", "server.port: expected an integer, got true"),
        ("http:\n  max_connections: yes\n", "http.max_connections: expected an integer, got true"),
        ("usage:\n  enabled: 'true'\n", "usage.enabled: expected true or false, got 'true'"),
        ("usage:\n  enabled: 1\n", "usage.enabled: expected true or false, got 1"),
        ("http:\n  timeout: true\n", "http.timeout: expected a duration"),
        ("http:\n  timeout: 0\n", "http.timeout: expected a finite duration greater than 0, got 0"),
        ("http:\n  timeout: .inf\n", "http.timeout: expected a finite duration greater than 0"),
        ("server:\n  body_size_limit: 1.5\n", "server.body_size_limit: expected a size"),
        ("server:\n  body_size_limit: 200M\n", "server.body_size_limit: expected a size between"),
        ("server: 5\n", "server: expected a mapping, got 5"),
        ("providers: [openai]\n", "providers: expected a mapping, got a list"),
        (
            "providers:\n  p:\n    type: openai\n    models: gpt-4o\n",
            "providers.p.models: expected a list",
        ),
        ("logging:\n  level: loud\n", "logging.level: expected one of debug, info, warning, error"),
        ("server:\n  host: 8080\n", "server.host: expected a string, got 8080"),
    ],
)
def test_yaml_errors_name_the_path(tmp_path: Path, text: str, message: str) -> None:
    """Unknown keys and wrong types in the file are ConfigErrors naming the dotted path."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml=text)
    assert str(caught.value).startswith(message)


def test_yaml_reports_every_problem(tmp_path: Path) -> None:
    """All structural problems of the file are in one message, first one as the setting."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml="server:\n  port: x\n  bogus: 1\nhttp:\n  timeout: false\n")
    assert caught.value.setting == "server.port"
    assert "server.bogus: unknown key" in caught.value.problem
    assert "http.timeout: expected a duration" in caught.value.problem


def test_yaml_unknown_keys_all_named_with_a_suggestion(tmp_path: Path) -> None:
    """Every unknown dotted path is in the one error, with the known key it resembles."""
    text = """
server:
  prot: 1
guardrails:
  enabled: true
cache:
  model:
    refresh_intervall: 5m
providers:
  eu:
    type: openai
    bse_url: https://x
"""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml=text)
    assert str(caught.value) == (
        "server.prot: unknown key (did you mean server.port?); "
        "also guardrails: unknown key; "
        "cache.model.refresh_intervall: unknown key (did you mean cache.model.refresh_interval?); "
        "providers.eu.bse_url: unknown key (did you mean providers.eu.base_url?)"
    )


def test_every_setting_has_its_own_path_and_variable() -> None:
    """No two settings share an env var or a YAML path, and none sits in a special section."""
    paths = [s.path for s in SETTINGS]
    assert len({s.env for s in SETTINGS}) == len(SETTINGS) == len(set(paths))
    for path in paths:
        assert path[0] not in ("providers", "prices")
        assert not any(other[: len(path)] == path for other in paths if other != path)


def test_yaml_secret_values_are_not_echoed(tmp_path: Path) -> None:
    """A wrongly typed api_key is reported without its value."""
    text = "providers:\n  openai:\n    api_key: 123456789012345\n"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml=text)
    assert caught.value.setting == "providers.openai.api_key"
    assert "123456789012345" not in str(caught.value)


def test_yaml_syntax_error_names_the_file_not_the_line(tmp_path: Path) -> None:
    """A YAML syntax error gives file, line and column but never the (expanded) text."""
    text = "providers:\n  openai:\n    api_key: ${KEY}: oops\n"
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"KEY": "sk-very-secret-value"}, yaml=text)
    assert caught.value.setting == str(tmp_path / "gomodel.yaml")
    assert "line 3" in caught.value.problem
    assert "sk-very-secret-value" not in str(caught.value)


def test_yaml_duplicate_keys_are_rejected(tmp_path: Path) -> None:
    """Two entries with one name are an error, not a silent last-one-wins."""
    text = "providers:\n  a:\n    type: openai\n  a:\n    type: groq\n"
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load(tmp_path, yaml=text)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_yaml_file_is_all_defaults(tmp_path: Path, text: str) -> None:
    """An empty document configures nothing."""
    assert load(tmp_path, yaml=text).port == 8080


def test_yaml_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    """A list at the top level is an error naming the file."""
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load(tmp_path, yaml="- a\n- b\n")


# --- File discovery --------------------------------------------------------------------------


def test_discovers_config_dir_first(tmp_path: Path) -> None:
    """config/config.yaml under cwd wins over ./config.yaml."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("server:\n  port: 7001\n")
    (tmp_path / "config.yaml").write_text("server:\n  port: 7002\n")
    config = load_config({}, cwd=tmp_path)
    assert config.port == 7001
    assert config.config_file == str(tmp_path / "config" / "config.yaml")


def test_discovers_config_yaml_in_cwd(tmp_path: Path) -> None:
    """Without config/config.yaml, ./config.yaml is read."""
    (tmp_path / "config.yaml").write_text("server:\n  port: 7002\n")
    config = load_config({}, cwd=str(tmp_path))
    assert (config.port, config.config_file) == (7002, str(tmp_path / "config.yaml"))


def test_explicit_path_skips_discovery(tmp_path: Path) -> None:
    """--config names the file; discovered files are then ignored."""
    (tmp_path / "config.yaml").write_text("server:\n  port: 7002\n")
    other = tmp_path / "other.yaml"
    other.write_text("server:\n  port: 7003\n")
    assert load_config({}, cwd=tmp_path, config_path=str(other)).port == 7003


def test_relative_explicit_path_is_under_cwd(tmp_path: Path) -> None:
    """A relative --config path is resolved against cwd."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "gw.yaml").write_text("server:\n  port: 7004\n")
    config = load_config({}, cwd=tmp_path, config_path="conf/gw.yaml")
    assert (config.port, config.config_file) == (7004, str(tmp_path / "conf" / "gw.yaml"))


@pytest.mark.parametrize("name", ["missing.yaml", "."])
def test_explicit_path_must_be_a_file(tmp_path: Path, name: str) -> None:
    """A --config path that is missing or not a file is an error on --config."""
    with pytest.raises(ConfigError) as caught:
        load_config({}, cwd=tmp_path, config_path=str(tmp_path / name))
    assert caught.value.setting == "--config"


# --- Providers -------------------------------------------------------------------------------


def test_env_creates_provider_named_after_type(tmp_path: Path) -> None:
    """<TYPE>_API_KEY alone creates a provider with the type's default base URL."""
    config = load(tmp_path, {"OPENAI_API_KEY": "sk-a", "ANTHROPIC_API_KEY": "sk-b"})
    assert config.providers == (
        ProviderConfig("anthropic", "anthropic", "https://api.anthropic.com/v1", "sk-b"),
        ProviderConfig("openai", "openai", "https://api.openai.com/v1", "sk-a"),
    )
    assert config.warnings == ()


def test_env_base_url_and_models(tmp_path: Path) -> None:
    """<TYPE>_BASE_URL loses its trailing slash; <TYPE>_MODELS is trimmed, deduplicated CSV."""
    env = {
        "GROQ_API_KEY": "gsk",
        "GROQ_BASE_URL": "https://proxy.example.com/groq/v1/",
        "GROQ_MODELS": " llama-3, ,mixtral,llama-3,",
    }
    (groq,) = load(tmp_path, env).providers
    assert groq.base_url == "https://proxy.example.com/groq/v1"
    assert groq.models == ("llama-3", "mixtral")


@pytest.mark.parametrize("type_", ["ollama", "vllm"])
def test_keyless_types_need_only_a_base_url(tmp_path: Path, type_: str) -> None:
    """ollama and vllm are created by <TYPE>_BASE_URL and need no key."""
    env = {f"{type_.upper()}_BASE_URL": "http://gpu-box:9000/v1"}
    (provider,) = load(tmp_path, env).providers
    assert (provider.name, provider.type, provider.api_key) == (type_, type_, None)
    assert provider.base_url == "http://gpu-box:9000/v1"


def test_keyless_type_listed_in_yaml_gets_default_base_url(tmp_path: Path) -> None:
    """An ollama entry with nothing under it is the local default."""
    (ollama,) = load(tmp_path, yaml="providers:\n  ollama:\n").providers
    assert ollama == ProviderConfig("ollama", "ollama", "http://localhost:11434/v1")


DROPPED = [
    # (env, yaml or None, expected warning)
    ({"AZURE_API_KEY": "k"}, None, "provider 'azure' skipped: AZURE_BASE_URL is not set"),
    ({"ORACLE_API_KEY": "k"}, None, "provider 'oracle' skipped: ORACLE_BASE_URL is not set"),
    (
        {"OPENAI_BASE_URL": "https://x.example/v1"},
        None,
        "provider 'openai' skipped: OPENAI_API_KEY is not set",
    ),
    (
        {"OPENAI_API_KEY": "sk-${NOT_EXPANDED}"},
        None,
        "provider 'openai' skipped: providers.openai.api_key refers to NOT_EXPANDED",
    ),
    (
        {},
        "providers:\n  eu:\n    type: openai\n    api_key: ${EU_KEY}\n",
        "provider 'eu' skipped: providers.eu.api_key refers to EU_KEY, which is not set",
    ),
    (
        {},
        "providers:\n  eu:\n    type: openai\n",
        "provider 'eu' skipped: providers.eu.api_key is not set",
    ),
    (
        {},
        "providers:\n  openai:\n    type: openai\n",
        "provider 'openai' skipped: providers.openai.api_key is not set",
    ),
    (
        {"OPENAI_MODELS": "gpt-4o"},
        "providers:\n  openai:\n    type: openai\n",
        "provider 'openai' skipped: neither providers.openai.api_key nor OPENAI_API_KEY is set",
    ),
    (
        {},
        "providers:\n  az:\n    type: azure\n    api_key: k\n    base_url: ${AZ_URL}\n",
        "provider 'az' skipped: providers.az.base_url refers to AZ_URL, which is not set",
    ),
    (
        {"AZURE_BASE_URL": "https://r.openai.azure.com"},
        None,
        "provider 'azure' skipped: AZURE_API_KEY is not set",
    ),
]


@pytest.mark.parametrize(("env", "text", "warning"), DROPPED)
def test_unusable_providers_are_dropped_with_a_warning(
    tmp_path: Path, env: dict[str, str], text: str | None, warning: str
) -> None:
    """A provider without a usable key or a required base URL is skipped, and the reason kept."""
    config = load(tmp_path, env, yaml=text)
    assert config.providers == ()
    assert any(w.startswith(warning) for w in config.warnings), config.warnings


@pytest.mark.parametrize(
    ("env", "warning"),
    [
        ({"OPENAI_MODELS": "a,b"}, "OPENAI_MODELS ignored: no openai provider is configured"),
        (
            {"VLLM_API_KEY": "x"},
            "VLLM_API_KEY ignored: no vllm provider is configured (set VLLM_BASE_URL)",
        ),
        ({"AZURE_API_VERSION": "2025-01-01"}, "AZURE_API_VERSION ignored"),
    ],
)
def test_env_that_cannot_create_a_provider_is_reported(
    tmp_path: Path, env: dict[str, str], warning: str
) -> None:
    """Variables that cannot create a provider on their own are ignored with a warning."""
    config = load(tmp_path, env)
    assert config.providers == ()
    assert config.warnings[0].startswith(warning)


TWO_OPENAI = """
providers:
  openai-eu:
    type: openai
    api_key: sk-eu-key
    base_url: https://eu.example.com/v1
  openai-us:
    type: openai
    api_key: sk-us-key
"""


def test_env_ignored_when_ambiguous(tmp_path: Path) -> None:
    """With two YAML providers of a type and none named after it, the type's env is ignored."""
    config = load(tmp_path, {"OPENAI_API_KEY": "sk-env", "OPENAI_MODELS": "m"}, yaml=TWO_OPENAI)
    providers = by_name(config)
    assert [p.api_key for p in config.providers] == ["sk-eu-key", "sk-us-key"]
    assert providers["openai-us"].base_url == "https://api.openai.com/v1"
    assert "openai" not in providers
    (warning,) = config.warnings
    assert warning.startswith(
        "OPENAI_API_KEY, OPENAI_MODELS ignored: 2 providers have type 'openai'"
    )
    assert "openai-eu, openai-us" in warning


def test_env_applies_to_provider_named_after_type(tmp_path: Path) -> None:
    """Among several providers of a type, the one named after the type takes the env."""
    text = TWO_OPENAI + "  openai:\n    type: openai\n    api_key: sk-file\n"
    config = load(tmp_path, {"OPENAI_API_KEY": "sk-env"}, yaml=text)
    assert {p.name: p.api_key for p in config.providers} == {
        "openai": "sk-env",
        "openai-eu": "sk-eu-key",
        "openai-us": "sk-us-key",
    }
    assert config.warnings == ()


def test_env_overlays_the_single_provider_of_its_type(tmp_path: Path) -> None:
    """One YAML provider of a type, whatever its name, takes <TYPE>_* from the env."""
    text = "providers:\n  main:\n    type: openai\n    api_key: sk-file\n    models: [a]\n"
    env = {"OPENAI_API_KEY": "sk-env", "OPENAI_MODELS": "b, c", "OPENAI_BASE_URL": "http://h/v1/"}
    (main,) = load(tmp_path, env, yaml=text).providers
    assert main == ProviderConfig("main", "openai", "http://h/v1", "sk-env", None, ("b", "c"))


def test_env_does_not_hijack_a_name_of_another_type(tmp_path: Path) -> None:
    """A YAML provider named 'openai' of another type keeps its name; OPENAI_* is ignored."""
    text = "providers:\n  openai:\n    type: groq\n    api_key: gsk\n"
    config = load(tmp_path, {"OPENAI_API_KEY": "sk"}, yaml=text)
    assert [(p.name, p.type) for p in config.providers] == [("openai", "groq")]
    assert config.warnings == (
        "OPENAI_API_KEY ignored: the provider named 'openai' has type 'groq'",
    )


def test_yaml_providers_sorted_and_typed_by_name(tmp_path: Path) -> None:
    """Providers come out sorted by name; a missing type defaults to a known provider name."""
    text = """
providers:
  zeta:
    type: groq
    api_key: g
  anthropic:
    api_key: a
  beta:
    type: deepseek
    api_key: d
"""
    config = load(tmp_path, yaml=text)
    assert [(p.name, p.type) for p in config.providers] == [
        ("anthropic", "anthropic"),
        ("beta", "deepseek"),
        ("zeta", "groq"),
    ]


@pytest.mark.parametrize(
    ("text", "setting", "problem"),
    [
        (
            "providers:\n  x:\n    type: mistral\n",
            "providers.x.type",
            "unknown provider type 'mistral'",
        ),
        ("providers:\n  x:\n    api_key: k\n", "providers.x.type", "missing"),
        ("providers:\n  a/b:\n    type: openai\n", "providers", "invalid provider name 'a/b'"),
        ("providers:\n  -x:\n    type: openai\n", "providers", "invalid provider name '-x'"),
        (
            "providers:\n  x:\n    type: openai\n    base_url: api.example.com\n",
            "providers.x.base_url",
            "absolute http(s) URL",
        ),
        (
            "providers:\n  x:\n    type: openai\n    api_version: '2024-10-21'\n",
            "providers.x.api_version",
            "not used by openai providers",
        ),
        (
            "providers:\n  x:\n    type: azure\n    api_version: 'v 1'\n",
            "providers.x.api_version",
            "API version",
        ),
    ],
)
def test_invalid_provider_entries(tmp_path: Path, text: str, setting: str, problem: str) -> None:
    """Unknown types, bad names and bad URLs in the file are errors, not warnings."""
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, yaml=text)
    assert caught.value.setting == setting
    assert problem in caught.value.problem


def test_azure_api_version(tmp_path: Path) -> None:
    """Azure gets the spec's api_version by default, AZURE_API_VERSION or YAML otherwise."""
    env = {"AZURE_API_KEY": "k", "AZURE_BASE_URL": "https://r.openai.azure.com/openai/"}
    (azure,) = load(tmp_path, env).providers
    assert (azure.api_version, azure.base_url) == (
        "2024-10-21",
        "https://r.openai.azure.com/openai",
    )
    (azure,) = load(tmp_path, {**env, "AZURE_API_VERSION": "2025-04-01-preview"}).providers
    assert azure.api_version == "2025-04-01-preview"
    text = "providers:\n  azure:\n    api_version: '2024-06-01'\n"
    (azure,) = load(tmp_path, env, yaml=text).providers
    assert azure.api_version == "2024-06-01"
    (openai,) = load(tmp_path, {"OPENAI_API_KEY": "k"}).providers
    assert openai.api_version is None


def test_several_providers_of_one_type_from_yaml(tmp_path: Path) -> None:
    """The documented example: two Azure deployments and an env-expanded OpenAI key."""
    text = """
providers:
  azure-east:
    type: azure
    api_key: "${AZURE_EAST_KEY}"
    base_url: https://east.openai.azure.com/openai/deployments/gpt-4o
  azure-west:
    type: azure
    api_key: "${AZURE_WEST_KEY:-west-fallback-key}"
    base_url: https://west.openai.azure.com/openai/deployments/gpt-4o
    api_version: 2025-01-01-preview
  openai:
    type: openai
    api_key: "${OPENAI_API_KEY}"
    models: [gpt-4o-mini]
"""
    env = {"AZURE_EAST_KEY": "east-key", "OPENAI_API_KEY": "sk-openai"}
    config = load(tmp_path, env, yaml=text)
    providers = by_name(config)
    assert providers["azure-east"].api_key == "east-key"
    assert providers["azure-east"].api_version == "2024-10-21"
    assert providers["azure-west"].api_key == "west-fallback-key"
    assert providers["azure-west"].api_version == "2025-01-01-preview"
    assert providers["openai"].models == ("gpt-4o-mini",)
    assert config.warnings == ()


# --- check-config ----------------------------------------------------------------------------


def leaked(secret: str, text: str) -> set[str]:
    """The 5-character pieces of ``secret`` that ``text`` shows."""
    return {secret[i : i + 5] for i in range(len(secret) - 4) if secret[i : i + 5] in text}


def test_describe_config_masks_secrets(tmp_path: Path) -> None:
    """A key of 24+ characters shows only its last 4, a shorter one nothing; URL passwords
    are masked; no 5 characters of any secret appear."""
    env = {
        "GOMODEL_MASTER_KEY": "gm-Qx7RvK2mPz9LwT4nBc8Y9876",  # 27 characters
        "OPENAI_API_KEY": "sk-Hq4WtZ6rNv2JkM8pXd",  # 23 characters
        "GROQ_API_KEY": "gsk-kR4tpW",
        "VLLM_BASE_URL": "https://user:Hunter2Pass7@vllm.example.com/v1",
    }
    text = describe_config(load(tmp_path, env))
    for secret in [*list(env.values())[:3], "Hunter2Pass7"]:
        assert not leaked(secret, text), secret
    assert "master_key: ****9876" in text
    assert "api_key: ****\n" in text  # openai and groq: shorter than 24 characters
    assert "api_key: (not set)" in text  # vllm
    assert "base_url: https://user:****@vllm.example.com/v1" in text


def test_describe_config_lists_providers_and_warnings(tmp_path: Path) -> None:
    """The description shows every provider's fields and every warning."""
    env = {"AZURE_API_KEY": "k", "AZURE_BASE_URL": "https://r.example.com", "ORACLE_API_KEY": "k"}
    text = describe_config(load(tmp_path, env, overrides={"port": 9999}))
    assert "# config file: (none)" in text
    assert "  port: 9999" in text
    assert "  azure:\n    type: azure\n    base_url: https://r.example.com\n" in text
    assert "    api_version: 2024-10-21\n    models: (not set)\n" in text
    assert "  - provider 'oracle' skipped: ORACLE_BASE_URL is not set" in text


def test_describe_config_mentions_every_env_var() -> None:
    """Each scalar setting is shown with the env var that sets it."""
    text = describe_config(Config())
    for setting in SETTINGS:
        assert f"# {setting.env}\n" in text
    assert "master_key: (not set)" in text
    assert "providers: {}" in text


def test_secrets_are_not_in_repr() -> None:
    """Config and ProviderConfig reprs leave the keys out."""
    config = Config(
        master_key="gm-secret-master",
        providers=(ProviderConfig("o", "openai", "https://x", "sk-secret-api-key"),),
    )
    assert "gm-secret-master" not in repr(config)
    assert "sk-secret-api-key" not in repr(config)


def test_postgresql_needs_its_url(tmp_path: Path) -> None:
    """STORAGE_TYPE=postgres(ql) without POSTGRES_URL is an error naming POSTGRES_URL."""
    with pytest.raises(ConfigError) as info:
        load_config({"STORAGE_TYPE": "postgres"}, cwd=tmp_path)
    assert info.value.setting == "POSTGRES_URL"
    config = load_config(
        {"STORAGE_TYPE": "postgres", "POSTGRES_URL": "postgresql://u:pw@h/db"}, cwd=tmp_path
    )
    assert config.storage_type == "postgresql"
    assert "pw" not in describe_config(config)


def test_price_overrides_checked_at_load(tmp_path: Path) -> None:
    """A prices: override with a bad rate name fails at load, naming it."""
    (tmp_path / "config.yaml").write_text("prices:\n  openai:\n    gpt-4o:\n      inptu: 2\n")
    with pytest.raises(ConfigError) as info:
        load_config({}, cwd=tmp_path)
    assert "inptu" in str(info.value)
    (tmp_path / "config.yaml").write_text("prices:\n  openai:\n    my-model:\n      input: 2\n")
    assert load_config({}, cwd=tmp_path).prices == {"openai": {"my-model": {"input": 2}}}


def test_price_table_is_built_once_at_load(tmp_path: Path) -> None:
    """Config.price_table is the shipped table with the file's prices: over it."""
    assert Config().price_table.lookup("openai", "gpt-4o") is not None
    assert Config().price_table.lookup("openai", "my-model") is None
    (tmp_path / "config.yaml").write_text("prices:\n  openai:\n    my-model:\n      input: 2\n")
    table = load_config({}, cwd=tmp_path).price_table
    assert table.lookup("openai", "my-model") == Price(input=Decimal(2))
    assert table.lookup("openai", "gpt-4o") == Config().price_table.lookup("openai", "gpt-4o")
