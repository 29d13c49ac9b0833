"""Which provider serves which model: an immutable catalog, replaced whole on each refresh.

A configured provider may be served by several deployments (``azure`` by ``azure.east`` and
``azure.west``): model lists are kept per deployment, and a provider serves what any of its
deployments serves. Clients address the provider (``azure/gpt-4o``, or the bare id it owns) or
one deployment (``azure.east/gpt-4o``).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["Catalog", "ModelInfo"]


@attrs.frozen(slots=True)
class ModelInfo:
    id: str
    created: int = 0


@attrs.frozen
class Catalog:
    """Deployment -> the models it serves; a deployment missing from ``models`` is unknown."""

    # Provider names in the order they are searched for a bare model id (sorted by name).
    providers: tuple[str, ...] = ()
    types: Mapping[str, str] = attrs.field(factory=dict)  # provider or deployment -> its type
    models: Mapping[str, tuple[ModelInfo, ...]] = attrs.field(factory=dict)
    # Provider -> its deployments, in declared order; a provider not listed is its own one.
    members: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    _owners: dict[str, str] = attrs.field(init=False, repr=False, eq=False)
    _ids: dict[str, frozenset[str]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        owners: dict[str, str] = {}
        ids: dict[str, frozenset[str]] = {}
        for name in self.providers:
            for member in self.deployments(name):
                listed = self.models.get(member)
                if listed is None:
                    continue
                ids[member] = frozenset(m.id for m in listed)
                for model in listed:
                    owners.setdefault(model.id, name)
        object.__setattr__(self, "_owners", owners)
        object.__setattr__(self, "_ids", ids)

    def deployments(self, provider: str) -> tuple[str, ...]:
        """The deployments of ``provider`` in declared order (a deployment: itself)."""
        return self.members.get(provider, (provider,))

    def owner(self, model: str) -> str | None:
        """The first provider (in name order) that lists ``model``."""
        return self._owners.get(model)

    def knows(self, provider: str) -> bool:
        """Whether the model lists of ``provider`` (every deployment's) are known."""
        return all(member in self._ids for member in self.deployments(provider))

    def serves(self, provider: str, model: str) -> bool:
        """Whether any deployment of ``provider`` lists ``model``."""
        return any(model in self._ids.get(m, ()) for m in self.deployments(provider))

    def serving(self, provider: str, model: str) -> tuple[str, ...]:
        """The deployments of ``provider`` that may take ``model``: those that list it, and
        those whose list is unknown (trusted with any model), in declared order."""
        return tuple(
            m for m in self.deployments(provider) if m not in self._ids or model in self._ids[m]
        )

    def with_models(self, provider: str, models: tuple[ModelInfo, ...] | None) -> Catalog:
        """A new catalog with the list of one provider replaced (``None``: unknown)."""
        updated = dict(self.models)
        if models is None:
            updated.pop(provider, None)
        else:
            updated[provider] = models
        return attrs.evolve(self, models=updated)

    def listing(self) -> list[tuple[str, str, ModelInfo]]:
        """Every (qualified id, provider, model), sorted by qualified id; a model two
        deployments of one provider list is listed once."""
        rows: dict[str, tuple[str, str, ModelInfo]] = {}
        for name in self.providers:
            for member in self.deployments(name):
                for model in self.models.get(member, ()):
                    rows.setdefault(f"{name}/{model.id}", (f"{name}/{model.id}", name, model))
        return sorted(rows.values(), key=lambda row: row[0])
