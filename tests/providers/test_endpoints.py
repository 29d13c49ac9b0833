"""Provider quirks as data: URLs, auth headers, request-id headers, attribution headers."""

from __future__ import annotations

import pytest

from gomodel.config import ProviderConfig
from gomodel.providers.endpoints import (
    models_url,
    parse_model_list,
    upstream_headers,
    upstream_url,
)
from gomodel.providers.spec import SPECS


def _provider(ptype: str, base_url: str = "https://x.test/v1", **kw: object) -> ProviderConfig:
    return ProviderConfig(name=ptype, type=ptype, base_url=base_url, api_key="KEY", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ptype", "auth", "request_id_header"),
    [
        ("openai", ("authorization", "Bearer KEY"), "x-client-request-id"),
        ("azure", ("api-key", "KEY"), "x-client-request-id"),
        ("openrouter", ("authorization", "Bearer KEY"), "x-client-request-id"),
        ("groq", ("authorization", "Bearer KEY"), "x-request-id"),
        ("xai", ("authorization", "Bearer KEY"), "x-request-id"),
        ("gemini", ("authorization", "Bearer KEY"), "x-request-id"),
        ("ollama", ("authorization", "Bearer KEY"), "x-request-id"),
        ("zai", ("authorization", "Bearer KEY"), None),
        ("anthropic", ("x-api-key", "KEY"), "x-request-id"),
    ],
)
def test_auth_and_request_id_headers(
    ptype: str, auth: tuple[str, str], request_id_header: str | None
) -> None:
    """Each provider type gets its own auth header form and request-id header."""
    headers = upstream_headers(_provider(ptype), SPECS[ptype], request_id="rid-1")
    assert auth in headers
    names = {name for name, _ in headers}
    if request_id_header is None:
        assert not any("request-id" in n for n in names)
    else:
        assert (request_id_header, "rid-1") in headers


def test_unforwardable_request_id_dropped() -> None:
    """A request id that is not ASCII or longer than 512 characters is not sent upstream."""
    for rid in ("é", "x" * 513):
        headers = upstream_headers(_provider("openai"), SPECS["openai"], request_id=rid)
        assert not any(name == "x-client-request-id" for name, _ in headers)


def test_keyless_provider_sends_no_auth() -> None:
    """An Ollama without a key sends no Authorization header."""
    provider = ProviderConfig(name="ollama", type="ollama", base_url="http://h:11434/v1")
    headers = upstream_headers(provider, SPECS["ollama"], request_id=None)
    assert headers == []


def test_openrouter_attribution() -> None:
    """OpenRouter gets HTTP-Referer and X-OpenRouter-Title when configured."""
    headers = upstream_headers(
        _provider("openrouter"),
        SPECS["openrouter"],
        request_id=None,
        openrouter_site_url="https://example.org",
        openrouter_app_name="gomodel",
    )
    assert ("http-referer", "https://example.org") in headers
    assert ("x-openrouter-title", "gomodel") in headers
    plain = upstream_headers(
        _provider("openai"),
        SPECS["openai"],
        request_id=None,
        openrouter_site_url="https://example.org",
    )
    assert not any(name == "http-referer" for name, _ in plain)


def test_azure_urls() -> None:
    """Azure: api-version on every URL; models listed at the resource root."""
    base = "https://res.openai.azure.com/openai/deployments/dep"
    azure = _provider("azure", base)
    assert upstream_url(azure, SPECS["azure"], "chat/completions") == (
        f"{base}/chat/completions?api-version=2024-10-21"
    )
    pinned = _provider("azure", base, api_version="2025-01-01")
    assert models_url(pinned, SPECS["azure"]) == (
        "https://res.openai.azure.com/openai/models?api-version=2025-01-01"
    )


def test_plain_urls() -> None:
    """Other providers: endpoint under the base URL, no query."""
    assert upstream_url(_provider("groq"), SPECS["groq"], "chat/completions") == (
        "https://x.test/v1/chat/completions"
    )
    assert models_url(_provider("groq"), SPECS["groq"]) == "https://x.test/v1/models"


def test_model_list_parsing() -> None:
    """Ids come from data[].id, Gemini's models/ prefix is removed, junk entries skipped."""
    doc = {
        "object": "list",
        "data": [
            {"id": "models/gemini-2.5-flash", "created": 5},
            {"id": "gpt-4o"},
            {"id": 3},
            "junk",
            {"id": "gpt-4o"},
        ],
    }
    models = parse_model_list(doc)
    assert models is not None
    assert [(m.id, m.created) for m in models] == [("gemini-2.5-flash", 5), ("gpt-4o", 0)]
    assert parse_model_list({"data": "x"}) is None
    assert parse_model_list([]) is None


def test_anthropic_version_and_model_list() -> None:
    """Anthropic: anthropic-version on every request, models listed with ?limit=1000 and an
    RFC 3339 created_at."""
    provider = _provider("anthropic", "https://api.anthropic.com/v1")
    headers = upstream_headers(provider, SPECS["anthropic"], request_id=None)
    assert ("anthropic-version", "2023-06-01") in headers
    assert models_url(provider, SPECS["anthropic"]) == (
        "https://api.anthropic.com/v1/models?limit=1000"
    )
    doc = {
        "data": [{"type": "model", "id": "claude-sonnet-4", "created_at": "2025-05-14T00:00:00Z"}]
    }
    models = parse_model_list(doc)
    assert models is not None
    assert [(m.id, m.created) for m in models] == [("claude-sonnet-4", 1747180800)]
