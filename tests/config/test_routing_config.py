"""Deployments under a provider, virtual models (YAML and VIRTUAL_MODELS), and the errors a
mistake in them gets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gomodel.config import Config, describe_config, load_config
from gomodel.errors import ConfigError
from gomodel.routing.strategy import Strategy
from gomodel.routing.virtual import Group, VirtualModel, VirtualTarget


def load(tmp_path: Path, yaml: str = "", env: dict[str, str] | None = None) -> Config:
    path = tmp_path / "gomodel.yaml"
    path.write_text(yaml, encoding="utf-8")
    return load_config(env or {}, cwd=tmp_path, config_path=str(path))


AZURE = """
providers:
  azure:
    type: azure
    api_version: "2024-10-21"
    models: [gpt-4o]
    strategy: priority
    deployments:
      - name: east
        api_key: "${EAST_KEY}"
        base_url: https://east.example.com/openai/deployments/gpt-4o
      - name: west
        base_url: https://west.example.com/openai/deployments/gpt-4o
        api_version: "2025-01-01-preview"
        weight: 2
        max_connections: 50
      - base_url: https://third.example.com/openai/deployments/gpt-4o
        models: [gpt-4o, gpt-4.1]
"""


def test_deployments_become_providers_of_their_own(tmp_path: Path) -> None:
    """Each deployment is a provider named <provider>.<name> with the provider's fields as
    defaults; AZURE_API_KEY (the single-key form) is the key they share."""
    config = load(tmp_path, AZURE, {"EAST_KEY": "k-east", "AZURE_API_KEY": "k-shared"})
    by_name = {p.name: p for p in config.providers}
    assert list(by_name) == ["azure.3", "azure.east", "azure.west"]  # sorted by name
    east, west, third = by_name["azure.east"], by_name["azure.west"], by_name["azure.3"]
    assert (east.api_key, west.api_key, third.api_key) == ("k-east", "k-shared", "k-shared")
    assert (east.api_version, west.api_version) == ("2024-10-21", "2025-01-01-preview")
    assert (east.models, third.models) == (("gpt-4o",), ("gpt-4o", "gpt-4.1"))
    assert (west.weight, west.max_connections, east.max_connections) == (2.0, 50, None)
    assert {p.group for p in config.providers} == {"azure"}
    assert config.groups == (
        Group(
            "azure",
            ("azure.east", "azure.west", "azure.3"),  # declared order
            (1.0, 2.0, 1.0),
            Strategy.PRIORITY,
        ),
    )


def test_a_deployment_that_cannot_work_is_dropped_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, AZURE, {"AZURE_API_KEY": "k-shared"})
    assert [p.name for p in config.providers] == ["azure.3", "azure.west"]
    assert config.warnings == (
        "provider 'azure' deployment 'east' skipped: "
        "providers.azure.deployments[0].api_key refers to EAST_KEY, which is not set",
    )
    assert config.groups[0].members == ("azure.west", "azure.3")


def test_no_usable_deployment_drops_the_provider(tmp_path: Path) -> None:
    config = load(tmp_path, AZURE)
    assert config.providers == () and config.groups == ()
    assert config.warnings[-1] == "provider 'azure' skipped: none of its deployments is usable"
    assert (
        "neither providers.azure.deployments[1].api_key nor providers.azure.api_key"
        in (config.warnings[1])
    )


def test_the_single_key_environment_form_still_works(tmp_path: Path) -> None:
    config = load_config({"OPENAI_API_KEY": "sk", "OPENAI_BASE_URL": "http://h/v1"}, cwd=tmp_path)
    [openai] = config.providers
    assert (openai.name, openai.group, openai.api_key) == ("openai", None, "sk")
    assert config.groups == ()


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        ("  deployments: []\n", "providers.p.deployments: expected at least one deployment"),
        ("  deployments: [x]\n", "providers.p.deployments: expected a mapping at index 0"),
        ("  deployments: [{bse_url: x}]\n", "(did you mean providers.p.deployments[0].base_url?)"),
        ("  deployments: [{name: a.b}]\n", "invalid deployment name 'a.b'"),
        ("  deployments: [{name: a}, {name: a}]\n", "deployment 'a' is listed twice"),
        ("  deployments: [{weight: 0}]\n", "deployments[0].weight: expected a number > 0"),
        ("  deployments: [{max_connections: 0}]\n", "expected an integer >= 1"),
        ("  deployments: [{base_url: nope}]\n", "deployments[0].base_url: expected an absolute"),
        ("  deployments: [{api_version: '1'}]\n", "not used by this provider type"),
        ("  deployments: [{models: [1]}]\n", "deployments[0].models: expected a string at index 0"),
        ("  strategy: fastest\n", "providers.p.strategy: unknown strategy 'fastest'"),
        ("  max_connections: -1\n", "providers.p.max_connections: expected an integer >= 1"),
    ],
)
def test_deployment_mistakes(tmp_path: Path, yaml: str, problem: str) -> None:
    text = "providers:\n p:\n  type: openai\n  api_key: k\n" + yaml
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert problem in str(info.value)


def test_deployment_names_must_not_collide(tmp_path: Path) -> None:
    yaml = """
providers:
  a.b: {type: openai, api_key: k}
  a: {type: openai, api_key: k, deployments: [{name: b}]}
"""
    with pytest.raises(ConfigError, match=re.escape("two providers are named 'a.b'")):
        load(tmp_path, yaml)


VIRTUAL = """
virtual_models:
  - source: smart
    strategy: failover
    targets:
      - model: anthropic/claude-sonnet-4-5
      - {provider: openai, model: gpt-4o, weight: 2}
  - source: fast
    target: groq/llama-3.1-8b-instant
  - source: retired
    target: openai/gpt-4o
    enabled: false
  - source: strings
    targets: [openai/gpt-4o, smart]
    failover: false
"""


def test_virtual_models_from_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, VIRTUAL)
    assert config.virtual_models == (
        VirtualModel(
            "smart",
            (
                VirtualTarget("anthropic/claude-sonnet-4-5"),
                VirtualTarget("gpt-4o", "openai", 2.0),
            ),
            Strategy.PRIORITY,
        ),
        VirtualModel("fast", (VirtualTarget("groq/llama-3.1-8b-instant"),), Strategy.WEIGHTED),
        VirtualModel(
            "strings",
            (VirtualTarget("openai/gpt-4o"), VirtualTarget("smart")),
            Strategy.WEIGHTED,
            failover=False,
        ),
    )
    text = describe_config(config)
    assert "  smart: priority: anthropic/claude-sonnet-4-5, openai/gpt-4o (weight 2)" in text
    assert "  strings: weighted, no failover: openai/gpt-4o, smart" in text


def test_virtual_models_environment_wins_by_source(tmp_path: Path) -> None:
    """VIRTUAL_MODELS (GOModel's JSON array) replaces the file's entry of the same source."""
    env = {
        "VIRTUAL_MODELS": '[{"source": "fast", "strategy": "round_robin", "targets": '
        '[{"model": "openai/gpt-4o-mini"}, {"model": "groq/llama-3.3", "weight": 3}]},'
        ' {"source": "new", "target": "openai/gpt-4o"}]'
    }
    config = load(tmp_path, VIRTUAL, env)
    by_name = {m.name: m for m in config.virtual_models}
    assert list(by_name) == ["smart", "strings", "fast", "new"]
    assert by_name["fast"].targets == (
        VirtualTarget("openai/gpt-4o-mini"),
        VirtualTarget("groq/llama-3.3", weight=3.0),
    )


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ("{", "VIRTUAL_MODELS: expected a JSON array of virtual models"),
        ('{"source": "x"}', "VIRTUAL_MODELS: expected a list of virtual models"),
        ('[{"target": "a/b"}]', "VIRTUAL_MODELS[0].source: is required"),
        ('[{"source": "x"}]', "VIRTUAL_MODELS[0].targets: expected a non-empty list"),
        ('[{"source": "x", "targets": []}]', "expected a non-empty list of targets"),
        ('[{"source": "x", "target": "a", "targets": ["b"]}]', "either target or targets"),
        ('[{"source": "x", "target": "a", "strategy": "random"}]', "unknown strategy 'random'"),
        (
            '[{"source": "x", "targets": [{"model": "a", "weight": -1}]}]',
            "weight: expected a number > 0",
        ),
        (
            '[{"source": "x", "targets": [{"modle": "a"}]}]',
            "(did you mean VIRTUAL_MODELS[0].targets[0].model?)",
        ),
        (
            '[{"source": "x", "target": "a", "session_affinity": true}]',
            "[0].session_affinity: unknown key",
        ),
        ('[{"source": "x", "target": "a"}, {"source": "x", "target": "b"}]', "'x' is listed twice"),
        ('[{"source": "x y", "target": "a"}]', "must not contain whitespace"),
        ('[{"source": "x", "target": "a", "enabled": "no"}]', "enabled: expected true or false"),
        (
            '[{"source": "a", "target": "b"}, {"source": "b", "targets": ["c", "a"]}]',
            "virtual models refer to each other: a -> b -> a",
        ),
    ],
)
def test_virtual_model_mistakes(tmp_path: Path, env: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "", {"VIRTUAL_MODELS": env})
    assert problem in str(info.value)


def test_virtual_models_must_be_a_list_in_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="virtual_models: expected a list of virtual models"):
        load(tmp_path, "virtual_models: {smart: {}}\n")


def test_resilience_sections_of_a_go_config_are_read(tmp_path: Path) -> None:
    yaml = """
resilience:
  retry: {max_retries: 1, initial_backoff: 500ms, backoff_factor: 3, jitter_factor: 0}
  circuit_breaker: {enabled: false, failure_threshold: 2, timeout: 10s}
failover:
  enabled: false
  max_attempts: 2
  retry_on_statuses: [429, "5xx"]
models:
  keep_only_aliases_at_models_endpoint: true
"""
    config = load(tmp_path, yaml)
    assert (config.retry_max_retries, config.retry_initial_backoff) == (1, 0.5)
    assert (config.retry_backoff_factor, config.retry_jitter_factor) == (3.0, 0.0)
    assert not config.circuit_breaker_enabled and config.circuit_breaker_timeout == 10.0
    assert (config.failover_enabled, config.failover_max_attempts) == (False, 2)
    assert config.failover_retry_on_statuses == frozenset({429, *range(500, 600)})
    assert config.keep_only_aliases_at_models_endpoint
    assert "retry_on_statuses: 429,5xx" in describe_config(config)
