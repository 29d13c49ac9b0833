"""Where and how to reach each provider, as data: URLs, auth and request-id headers, and
the model list format.

Every provider type (openai, azure, openrouter, groq, xai, gemini, zai, oracle, ollama, vllm,
deepseek, anthropic) differs only in what :class:`~gomodel.providers.spec.ProviderSpec` says.
Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from gomodel.config import ProviderConfig
from gomodel.providers.spec import AuthStyle, ProviderSpec
from gomodel.routing.catalog import ModelInfo

__all__ = ["models_url", "parse_model_list", "upstream_headers", "upstream_url"]

# Request ids longer than this, or not ASCII, are not forwarded (SPEC §2.2).
_MAX_FORWARDED_ID = 512


def upstream_url(provider: ProviderConfig, spec: ProviderSpec, endpoint: str) -> str:
    """``endpoint`` (e.g. ``chat/completions``) under the provider's base URL."""
    url = f"{provider.base_url}/{endpoint}"
    if spec.api_version_query:
        version = provider.api_version or spec.default_api_version or ""
        url += f"?api-version={quote(version, safe='')}"
    return url


def models_url(provider: ProviderConfig, spec: ProviderSpec) -> str:
    if spec.api_version_query:  # Azure lists models at the resource root, not per deployment
        root = provider.base_url.split("/openai/", 1)[0]
        version = provider.api_version or spec.default_api_version or ""
        return f"{root}/openai/models?api-version={quote(version, safe='')}"
    return f"{provider.base_url}/{spec.models_path}"


def upstream_headers(
    provider: ProviderConfig,
    spec: ProviderSpec,
    *,
    request_id: str | None,
    openrouter_site_url: str | None = None,
    openrouter_app_name: str | None = None,
) -> list[tuple[str, str]]:
    headers = list(spec.extra_headers)
    key = provider.api_key
    if key:
        if spec.auth is AuthStyle.BEARER:
            headers.append(("authorization", f"Bearer {key}"))
        elif spec.auth is AuthStyle.API_KEY:
            headers.append(("api-key", key))
        else:
            headers.append(("x-api-key", key))
    if (
        spec.request_id_header
        and request_id
        and request_id.isascii()
        and len(request_id) <= _MAX_FORWARDED_ID
    ):
        headers.append((spec.request_id_header.lower(), request_id))
    if spec.attribution_headers:
        if openrouter_site_url:
            headers.append(("http-referer", openrouter_site_url))
        if openrouter_app_name:
            headers.append(("x-openrouter-title", openrouter_app_name))
    return headers


def parse_model_list(doc: object) -> tuple[ModelInfo, ...] | None:
    """Model ids from an OpenAI-style ``{"data": [{"id": ...}]}`` list; ``None`` if malformed."""
    if not isinstance(doc, Mapping):
        return None
    data = doc.get("data")
    if not isinstance(data, list):
        return None
    models: dict[str, ModelInfo] = {}
    for item in data:
        if not isinstance(item, Mapping):
            continue
        model_id: Any = item.get("id")
        if not isinstance(model_id, str) or not model_id:
            continue
        model_id = model_id.removeprefix("models/")  # Gemini names its models "models/<id>"
        models.setdefault(model_id, ModelInfo(model_id, _created(item)))
    return tuple(models.values())


def _created(item: Mapping[str, Any]) -> int:
    """``created`` (Unix seconds), or Anthropic's RFC 3339 ``created_at``; 0 when absent."""
    created = item.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        return created
    created_at = item.get("created_at")
    if isinstance(created_at, str):
        try:
            return int(datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp())
        except ValueError:
            return 0
    return 0
