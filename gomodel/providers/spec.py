"""Every provider type as data: base URL, auth header form, request-id header and quirks.

Adding an OpenAI-compatible provider is adding one :class:`ProviderSpec` to :data:`SPECS`; no
class per provider. Facts from SPEC.md §2.2 and §3.1. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum

import attrs

__all__ = ["SPECS", "AuthStyle", "Dialect", "ProviderSpec", "spec_for"]


class AuthStyle(enum.Enum):
    BEARER = "bearer"  # Authorization: Bearer <key>
    API_KEY = "api-key"  # api-key: <key> (Azure)
    X_API_KEY = "x-api-key"  # x-api-key: <key> (Anthropic)


class Dialect(enum.Enum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"


@attrs.frozen
class ProviderSpec:
    type: str
    dialect: Dialect
    default_base_url: str | None
    auth: AuthStyle = AuthStyle.BEARER
    # A provider without a usable key is dropped, unless the key is optional (ollama, vllm).
    key_required: bool = True
    # Azure and Oracle have no default base URL; a provider without one is dropped.
    base_url_required: bool = False
    # Header that carries the gateway's request id upstream (None: not sent).
    request_id_header: str | None = "X-Request-ID"
    # o-series / gpt-5 chat models: max_tokens -> max_completion_tokens, temperature dropped.
    reasoning_model_rewrite: bool = False
    # Gemini: {"reasoning": {"effort": e}} -> {"reasoning_effort": e}.
    reasoning_effort_field: bool = False
    # Azure: ?api-version=<AZURE_API_VERSION> on every request.
    api_version_query: bool = False
    default_api_version: str | None = None
    # OpenRouter attribution headers (HTTP-Referer, X-OpenRouter-Title) unless the client set them.
    attribution_headers: bool = False
    # Whether the upstream honours stream_options.include_usage on chat streams.
    stream_usage_option: bool = True
    # Sent on every request (e.g. Anthropic's API version).
    extra_headers: tuple[tuple[str, str], ...] = ()
    # Where the model list lives, under the base URL.
    models_path: str = "models"
    # How embeddings are served: "openai" (POST /embeddings), "ollama" (its native /api/embed),
    # or None: the provider has none, and the gateway says so with a 400.
    embeddings: str | None = "openai"
    # Serves POST /responses itself (OpenAI's Responses API); otherwise the gateway translates
    # Responses requests to chat completions and back.
    native_responses: bool = False


SPECS: dict[str, ProviderSpec] = {
    s.type: s
    for s in (
        ProviderSpec(
            "openai",
            Dialect.OPENAI,
            "https://api.openai.com/v1",
            reasoning_model_rewrite=True,
            request_id_header="X-Client-Request-Id",
            native_responses=True,
        ),
        ProviderSpec(
            "azure",
            Dialect.OPENAI,
            None,
            auth=AuthStyle.API_KEY,
            base_url_required=True,
            api_version_query=True,
            default_api_version="2024-10-21",
            reasoning_model_rewrite=True,
            request_id_header="X-Client-Request-Id",
            native_responses=True,
        ),
        ProviderSpec(
            "openrouter",
            Dialect.OPENAI,
            "https://openrouter.ai/api/v1",
            attribution_headers=True,
            reasoning_model_rewrite=True,
            request_id_header="X-Client-Request-Id",
            native_responses=True,
        ),
        ProviderSpec(
            "zai",
            Dialect.OPENAI,
            "https://api.z.ai/api/paas/v4",
            reasoning_model_rewrite=True,
            request_id_header=None,
        ),
        ProviderSpec(
            "oracle",
            Dialect.OPENAI,
            None,
            base_url_required=True,
            reasoning_model_rewrite=True,
            request_id_header=None,
            embeddings=None,
            native_responses=True,
        ),
        ProviderSpec("groq", Dialect.OPENAI, "https://api.groq.com/openai/v1"),
        ProviderSpec("xai", Dialect.OPENAI, "https://api.x.ai/v1", native_responses=True),
        ProviderSpec(
            "gemini",
            Dialect.OPENAI,
            "https://generativelanguage.googleapis.com/v1beta/openai",
            request_id_header="X-Request-Id",
            reasoning_effort_field=True,
        ),
        ProviderSpec(
            "ollama",
            Dialect.OPENAI,
            "http://localhost:11434/v1",
            key_required=False,
            embeddings="ollama",
        ),
        ProviderSpec("vllm", Dialect.OPENAI, "http://localhost:8000/v1", key_required=False),
        ProviderSpec("deepseek", Dialect.OPENAI, "https://api.deepseek.com/v1", embeddings=None),
        ProviderSpec(
            "anthropic",
            Dialect.ANTHROPIC,
            "https://api.anthropic.com/v1",
            auth=AuthStyle.X_API_KEY,
            request_id_header="X-Request-Id",
            extra_headers=(("anthropic-version", "2023-06-01"),),
            models_path="models?limit=1000",
            embeddings=None,
        ),
    )
}


def spec_for(provider_type: str) -> ProviderSpec:
    """The spec of a provider type; ``KeyError`` if the type is unknown."""
    return SPECS[provider_type]
