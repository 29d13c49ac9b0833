"""Model selectors: bare ids, provider/model, the provider field, names versus types."""

from __future__ import annotations

import pytest

from gomodel.errors import InvalidRequest, ModelNotFound
from gomodel.routing.catalog import Catalog, ModelInfo
from gomodel.routing.resolve import resolve

CATALOG = Catalog(
    providers=("groq", "openai", "openai-eu", "vllm"),
    types={"groq": "groq", "openai": "openai", "openai-eu": "openai", "vllm": "vllm"},
    models={
        "groq": (ModelInfo("llama-3.3"), ModelInfo("openai/gpt-oss-120b")),
        "openai": (ModelInfo("gpt-4o"), ModelInfo("gpt-4o-mini")),
        "openai-eu": (ModelInfo("gpt-4o"), ModelInfo("gpt-4.1")),
        # vllm: model list unknown (its /models failed and none is configured)
    },
)


@pytest.mark.parametrize(
    ("model", "hint", "provider", "upstream", "qualified"),
    [
        ("gpt-4o", None, "openai", "gpt-4o", False),  # first provider in name order
        ("gpt-4.1", None, "openai-eu", "gpt-4.1", False),
        ("openai/gpt-4o", None, "openai", "gpt-4o", True),  # name
        ("openai-eu/gpt-4o", None, "openai-eu", "gpt-4o", True),
        ("gpt-4o", "openai-eu", "openai-eu", "gpt-4o", False),  # explicit provider field
        ("openai-eu/gpt-4o", "openai-eu", "openai-eu", "gpt-4o", True),  # prefix stripped once
        ("openai/gpt-oss-120b", "groq", "groq", "openai/gpt-oss-120b", False),
        ("vllm/anything", None, "vllm", "anything", True),  # unknown list: trusted
        ("llama-3.3", None, "groq", "llama-3.3", False),
    ],
)
def test_resolves(
    model: str, hint: str | None, provider: str, upstream: str, qualified: bool
) -> None:
    """Each selector form lands on the right provider and upstream model id."""
    res = resolve(model, hint, CATALOG)
    assert (res.provider, res.model, res.qualified) == (provider, upstream, qualified)
    assert res.requested == model


def test_type_prefix_maps_to_first_provider_of_that_type() -> None:
    """A provider type in the selector picks the first configured provider of that type."""
    catalog = Catalog(
        providers=("eu", "us"),
        types={"eu": "openai", "us": "openai"},
        models={"eu": (ModelInfo("gpt-4o"),), "us": (ModelInfo("gpt-4o"),)},
    )
    assert resolve("openai/gpt-4o", None, catalog).provider == "eu"


def test_slash_model_that_is_no_provider_is_a_bare_id() -> None:
    """meta-llama/Llama-3 is a model id, not provider meta-llama."""
    catalog = Catalog(
        providers=("x",), types={"x": "vllm"}, models={"x": (ModelInfo("meta-llama/Llama-3"),)}
    )
    res = resolve("meta-llama/Llama-3", None, catalog)
    assert (res.provider, res.model, res.qualified) == ("x", "meta-llama/Llama-3", False)


@pytest.mark.parametrize("model", ["gpt-9", "openai/gpt-9", "nope/gpt-4o-mini-x"])
def test_unknown_model_is_404_naming_it(model: str) -> None:
    """An unknown model is model_not_found and the message names it."""
    with pytest.raises(ModelNotFound) as info:
        resolve(model, None, CATALOG)
    assert info.value.status == 404
    assert info.value.code == "model_not_found"
    assert model.split("/")[-1] in info.value.message


def test_unknown_provider_field_is_400() -> None:
    """An explicit provider that is not configured is a 400 naming the provider param."""
    with pytest.raises(InvalidRequest) as info:
        resolve("gpt-4o", "azure", CATALOG)
    assert info.value.param == "provider"
    assert "azure" in info.value.message
