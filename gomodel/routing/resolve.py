"""Model selectors: ``gpt-4o``, ``openai/gpt-4o``, or ``"provider": "openai"`` in the body.

The provider part may be a configured provider *name* (``openai-eu``) or a provider *type*
(``openai``). A bare id goes to the first provider, in name order, that lists it. A slash id
whose prefix is no provider (``meta-llama/Llama-3``) is a bare id. The provider may be one
with several deployments, or one deployment of it (``azure.east``);
:mod:`gomodel.routing.targets` turns a resolution into the deployments to try. Pure.
"""

from __future__ import annotations

import attrs

from gomodel.errors import InvalidRequest, ModelNotFound
from gomodel.routing.catalog import Catalog

__all__ = ["Resolution", "resolve"]


@attrs.frozen(slots=True)
class Resolution:
    provider: str  # configured provider name (after target selection: the deployment)
    model: str  # the model id the upstream is asked for
    requested: str  # the ``model`` field as the client sent it
    qualified: bool  # the selector carried a provider prefix that the gateway removed
    virtual: str | None = None  # the virtual model the request named, if it named one
    # Why this deployment serves the request: the strategy that picked it ("priority",
    # "weighted", ...), "failover", "retry"; None when there was nothing to choose from.
    pick: str | None = None


def resolve(model: str, provider_hint: str | None, catalog: Catalog) -> Resolution:
    if provider_hint is not None:
        provider = _provider_named(provider_hint, catalog)
        if provider is None:
            raise InvalidRequest(
                f"unknown provider '{provider_hint}'; configured providers: "
                + (", ".join(catalog.providers) or "none"),
                param="provider",
            )
        bare = model.removeprefix(f"{provider_hint}/")
        return _checked(provider, bare, model, qualified=bare != model, catalog=catalog)

    prefix, slash, rest = model.partition("/")
    if slash and rest:
        provider = _provider_named(prefix, catalog)
        if provider is not None:
            return _checked(provider, rest, model, qualified=True, catalog=catalog)

    owner = catalog.owner(model)
    if owner is None:
        raise ModelNotFound(model)
    return Resolution(owner, model, model, qualified=False)


def _provider_named(name: str, catalog: Catalog) -> str | None:
    if name in catalog.types:
        return name
    for provider in catalog.providers:
        if catalog.types.get(provider) == name:
            return provider
    return None


def _checked(
    provider: str, model: str, requested: str, *, qualified: bool, catalog: Catalog
) -> Resolution:
    # A provider whose model list is unknown (its /models failed and none is configured) is
    # trusted with any model: the upstream answers for itself.
    if catalog.knows(provider) and not catalog.serves(provider, model):
        raise ModelNotFound(f"{provider}/{model}")
    return Resolution(provider, model, requested, qualified=qualified)
