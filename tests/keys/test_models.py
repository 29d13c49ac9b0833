"""The allow-list rule: selectors against the resolved target (gomodel/keys/models.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from gomodel.errors import PermissionDenied
from gomodel.keys.models import check_model, model_allowed, normalize_model_selector
from gomodel.keys.record import AuthKey

NOW = datetime(2026, 4, 1, tzinfo=UTC)
KEY = AuthKey(
    id="0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11",
    name="ci",
    secret_hash="ab" * 32,
    redacted_value="sk_gom_...wxyz",
    created_at=NOW,
    updated_at=NOW,
)

# (allow-list, provider name, provider type, upstream model, allowed?)
CASES = [
    (None, "openai", "openai", "gpt-4o", True),
    (("gpt-4o-mini",), "openai", "openai", "gpt-4o-mini", True),
    (("gpt-4o-mini",), "azure-eu", "azure", "gpt-4o-mini", True),  # a bare id: any provider
    (("gpt-4o-mini",), "openai", "openai", "gpt-4o", False),
    (("gpt-4o-mini",), "openai", "openai", "gpt-4o-mini-2024-07-18", False),  # exact, no prefix
    (("GPT-4o-mini",), "openai", "openai", "gpt-4o-mini", False),  # case-sensitive
    (("openai/gpt-4o-mini",), "openai", "openai", "gpt-4o-mini", True),
    (("openai/gpt-4o-mini",), "azure-eu", "azure", "gpt-4o-mini", False),
    (("openai/gpt-4o-mini",), "openai-eu", "openai", "gpt-4o-mini", True),  # by type
    (("openai-eu/gpt-4o-mini",), "openai-eu", "openai", "gpt-4o-mini", True),  # by name
    (("openai-eu/gpt-4o-mini",), "openai-us", "openai", "gpt-4o-mini", False),
    (("openai/*",), "openai", "openai", "o3", True),
    (("openai/*",), "openai-eu", "openai", "o3", True),
    (("openai/*",), "anthropic", "anthropic", "claude-sonnet-4", False),
    (("groq/*", "gpt-4o"), "openai", "openai", "gpt-4o", True),
    (("meta-llama/Llama-3",), "vllm", "vllm", "meta-llama/Llama-3", True),  # ids with a slash
    (("vllm/meta-llama/Llama-3",), "vllm", "vllm", "meta-llama/Llama-3", True),
    (("meta-llama/Llama-3",), "vllm", "vllm", "meta-llama/Llama-3-70b", False),
]


@pytest.mark.parametrize(("allowed", "provider", "ptype", "model", "expected"), CASES)
def test_rule(
    allowed: tuple[str, ...] | None, provider: str, ptype: str, model: str, expected: bool
) -> None:
    """Model id, provider/model or provider/* with the provider's name or type."""
    allowed_set = None if allowed is None else frozenset(allowed)
    got = model_allowed(allowed_set, provider=provider, provider_type=ptype, model=model)
    assert got is expected


def test_check_model_names_the_model() -> None:
    """A refused model is a 403 permission_error naming what was asked and what it became."""
    key = attrs.evolve(KEY, allowed_models=("openai/gpt-4o-mini",))
    check_model(key, provider="openai", provider_type="openai", model="gpt-4o-mini", requested="x")
    with pytest.raises(PermissionDenied) as caught:
        check_model(
            key, provider="openai", provider_type="openai", model="gpt-4o", requested="smart"
        )
    error = caught.value
    assert (error.status, error.error_type, error.param) == (403, "permission_error", "model")
    assert error.code == "model_not_allowed"
    assert "'smart'" in error.message and "openai/gpt-4o" in error.message
    with pytest.raises(PermissionDenied) as caught:
        check_model(
            key, provider="openai", provider_type="openai", model="o3", requested="openai/o3"
        )
    assert caught.value.message == "this API key is not allowed to use the model 'openai/o3'"


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("gpt-4o", "gpt-4o"),
        ("openai/gpt-4o", "openai/gpt-4o"),
        ("openai/*", "openai/*"),
        ("openai/", "openai/*"),  # GOModel's provider-wide spelling
        ("vllm/meta-llama/Llama-3", "vllm/meta-llama/Llama-3"),
    ],
)
def test_selectors_normalised(entry: str, stored: str) -> None:
    """Valid entries are stored as written, GOModel's ``provider/`` as ``provider/*``."""
    assert normalize_model_selector(entry) == stored


@pytest.mark.parametrize(
    "entry",
    ["", "*", "*/gpt-4o", "openai/gpt-*", "open*/x", "/gpt-4o", "gpt 4o", "gpt-4o\n", "a" * 257],
)
def test_bad_selectors(entry: str) -> None:
    """Empty, whitespace, a leading slash, a wildcard anywhere but ``provider/*``, too long."""
    with pytest.raises(ValueError):
        normalize_model_selector(entry)
