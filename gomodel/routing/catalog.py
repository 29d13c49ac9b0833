"""Which provider serves which model: an immutable catalog, replaced whole on each refresh.

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
    """Provider name -> the models it serves; a provider missing from ``models`` is unknown."""

    # Provider names in the order they are searched for a bare model id (sorted by name).
    providers: tuple[str, ...] = ()
    types: Mapping[str, str] = attrs.field(factory=dict)  # provider name -> provider type
    models: Mapping[str, tuple[ModelInfo, ...]] = attrs.field(factory=dict)
    _owners: dict[str, str] = attrs.field(init=False, repr=False, eq=False)
    _ids: dict[str, frozenset[str]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        owners: dict[str, str] = {}
        ids: dict[str, frozenset[str]] = {}
        for name in self.providers:
            listed = self.models.get(name)
            if listed is None:
                continue
            ids[name] = frozenset(m.id for m in listed)
            for model in listed:
                owners.setdefault(model.id, name)
        object.__setattr__(self, "_owners", owners)
        object.__setattr__(self, "_ids", ids)

    def owner(self, model: str) -> str | None:
        """The first provider (in name order) that lists ``model``."""
        return self._owners.get(model)

    def knows(self, provider: str) -> bool:
        """Whether the model list of ``provider`` is known."""
        return provider in self._ids

    def serves(self, provider: str, model: str) -> bool:
        return model in self._ids.get(provider, ())

    def with_models(self, provider: str, models: tuple[ModelInfo, ...] | None) -> Catalog:
        """A new catalog with the list of one provider replaced (``None``: unknown)."""
        updated = dict(self.models)
        if models is None:
            updated.pop(provider, None)
        else:
            updated[provider] = models
        return Catalog(providers=self.providers, types=self.types, models=updated)

    def listing(self) -> list[tuple[str, str, ModelInfo]]:
        """Every (qualified id, provider, model), sorted by qualified id."""
        rows = [
            (f"{name}/{model.id}", name, model)
            for name in self.providers
            for model in self.models.get(name, ())
        ]
        rows.sort(key=lambda row: row[0])
        return rows
