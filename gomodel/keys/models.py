"""Which models a managed key may use: its ``allowed_models`` list. Pure.

``allowed_models`` is ``None`` (every model) or a list of selectors, each one of:

* ``gpt-4o-mini``: that upstream model id, from whichever provider serves it;
* ``openai/gpt-4o-mini``: that model from the provider ``openai``;
* ``openai/*``: every model of the provider ``openai`` (GOModel's spelling ``openai/`` is
  accepted and stored as ``openai/*``).

The rule is applied to the *resolved* target of a request, never to the text the client sent:
an entry matches when it equals the target's model id, ``<provider>/<model>`` or
``<provider>/*``, where ``<provider>`` is the configured provider's name or its type (the two
spellings the resolver accepts in a selector, gomodel/routing/resolve.py). So ``openai/gpt-4o``,
``gpt-4o`` and a body with ``"provider": "openai"`` are judged alike, and an alias or virtual
model cannot widen a key's reach: each target it resolves to must be allowed itself. Matching
is exact and case-sensitive, like model ids at the providers. Model ids may contain ``/``
(``meta-llama/Llama-3``): the entry is compared as text with each spelling of the target, so
that works too; ``*`` is only a wildcard as the whole model part after a provider.
"""

from __future__ import annotations

from gomodel.errors import PermissionDenied
from gomodel.keys.record import AuthKey

__all__ = ["MAX_SELECTOR_LENGTH", "check_model", "model_allowed", "normalize_model_selector"]

MAX_SELECTOR_LENGTH = 256


def normalize_model_selector(entry: str) -> str:
    """An allow-list entry as stored; :class:`ValueError` saying why one is not valid."""
    if not entry:
        raise ValueError("must not be empty")
    if len(entry) > MAX_SELECTOR_LENGTH:
        raise ValueError(f"must be at most {MAX_SELECTOR_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in entry):
        raise ValueError("must not contain whitespace or control characters")
    if entry.startswith("/"):
        raise ValueError("must not start with '/'")
    provider, slash, model = entry.partition("/")
    if slash and model == "":
        model = "*"  # GOModel's provider-wide "openai/"
    if "*" in provider or ("*" in model and model != "*"):
        raise ValueError(
            "'*' is only a wildcard as a whole model part after a provider, as in 'openai/*'"
            " (null allows every model)"
        )
    return f"{provider}/{model}" if slash else provider


def model_allowed(
    allowed: frozenset[str] | None, *, provider: str, provider_type: str, model: str
) -> bool:
    """Whether a list of normalised selectors admits the resolved target
    (``provider``: configured name, ``provider_type``: its type, ``model``: upstream id)."""
    if allowed is None:
        return True
    return (
        model in allowed
        or f"{provider}/{model}" in allowed
        or f"{provider}/*" in allowed
        or f"{provider_type}/{model}" in allowed
        or f"{provider_type}/*" in allowed
    )


def check_model(
    key: AuthKey, *, provider: str, provider_type: str, model: str, requested: str
) -> None:
    """Raise a 403 naming the model unless ``key`` may use the resolved target.
    ``requested`` is the selector as the client sent it (only for the message)."""
    if model_allowed(key.allowed_set, provider=provider, provider_type=provider_type, model=model):
        return
    target = f"{provider}/{model}"
    resolved = "" if requested == target else f" (resolved to '{target}')"
    raise PermissionDenied(
        f"this API key is not allowed to use the model '{requested}'{resolved}",
        param="model",
        code="model_not_allowed",
    )
