"""A request's selector expanded into the deployments to try, in order, each with why.

:func:`select` takes what the client named and returns a :class:`Selection`: one
:class:`~gomodel.routing.resolve.Resolution` per deployment (its ``provider`` is the runtime
provider to call), the first being the pick and the rest the failover order.

* A virtual model (looked up only when the request has no explicit ``provider`` field, as GOModel
  does for aliases) orders its targets by its strategy; a target that is a provider with several
  deployments, or another virtual model, is expanded in its place by its own strategy. A target
  whose provider is not configured or does not serve its model is left out.
* Any other selector resolves as before (:func:`~gomodel.routing.resolve.resolve`); a provider
  with several deployments orders those that serve the model by its strategy.

The same deployment and model is listed once (its first place wins). ``pick`` says why the
first was chosen: the deciding strategy (the outermost level that had a choice), ``alias`` for
a virtual model with one way to go, ``None`` for a plain provider with one deployment; the
others say ``failover``.

The numbers a strategy needs (in-flight counts, the round-robin counters, prices) come from a
:class:`View` the caller provides. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from gomodel.errors import InvalidRequest, ModelNotFound
from gomodel.routing.catalog import Catalog
from gomodel.routing.resolve import Resolution, resolve
from gomodel.routing.strategy import Option, Strategy, order
from gomodel.routing.virtual import Routing, VirtualModel

__all__ = ["ALIAS", "FAILOVER", "Selection", "View", "deployments", "select"]

FAILOVER = "failover"
ALIAS = "alias"  # a virtual model with one way to go


class View(Protocol):
    """The live numbers strategies read."""

    def inflight(self, deployment: str) -> int:
        """Requests in flight on ``deployment`` now."""

    def turn(self, key: str) -> int:
        """The request counter of a weighted group (``key``), counting this request."""

    def price(self, deployment: str, model: str) -> float | None:
        """USD per million tokens (input + output) of ``model`` on ``deployment``."""


@attrs.frozen(slots=True)
class Selection:
    targets: tuple[Resolution, ...]  # deployments to try, in order; never empty
    failover: bool = True  # the virtual model allows trying beyond the first

    def same_model(self) -> Selection:
        """Only the targets that ask for the first target's model (embeddings: vectors of
        different models do not mix)."""
        model = self.targets[0].model
        return attrs.evolve(self, targets=tuple(t for t in self.targets if t.model == model))


@attrs.frozen(slots=True)
class _Picked:
    targets: list[Resolution]
    pick: str | None


def select(
    model: str,
    provider_hint: str | None,
    catalog: Catalog,
    routing: Routing,
    view: View,
    *,
    sticky_key: str | None = None,
) -> Selection:
    """The deployments that may serve ``model`` (as the client sent it), in the order to try."""
    virtual = routing.virtual_models.get(model) if provider_hint is None else None
    if virtual is None:
        resolution = resolve(model, provider_hint, catalog)
        if resolution.provider not in catalog.members:
            return Selection((resolution,))  # one provider, one deployment: nothing to choose
    expand = _Expansion(catalog, routing, view, sticky_key)
    if virtual is not None:
        picked = expand.virtual(virtual, model, frozenset({model}))
        if not picked.targets:
            raise ModelNotFound(model)
    else:
        picked = expand.provider(resolution)
    return _selection(picked, True if virtual is None else virtual.failover)


def deployments(
    resolution: Resolution,
    catalog: Catalog,
    routing: Routing,
    view: View,
    *,
    sticky_key: str | None = None,
) -> Selection:
    """Every deployment of ``resolution.provider`` in strategy order, whatever models they
    list (a provider passthrough call names no model the gateway could check)."""
    expand = _Expansion(catalog, routing, view, sticky_key)
    return _selection(expand.provider(resolution, any_model=True), True)


def _selection(picked: _Picked, failover: bool) -> Selection:
    seen: set[tuple[str, str]] = set()
    targets: list[Resolution] = []
    for target in picked.targets:
        key = (target.provider, target.model)
        if key in seen:
            continue
        seen.add(key)
        targets.append(attrs.evolve(target, pick=picked.pick if not targets else FAILOVER))
    return Selection(tuple(targets), failover)


@attrs.frozen
class _Expansion:
    catalog: Catalog
    routing: Routing
    view: View
    sticky_key: str | None

    def provider(self, resolution: Resolution, *, any_model: bool = False) -> _Picked:
        """The deployments of the resolved provider that serve its model, in strategy order."""
        catalog = self.catalog
        if any_model:
            serving = catalog.deployments(resolution.provider)
        else:
            serving = catalog.serving(resolution.provider, resolution.model)
        if serving == (resolution.provider,):
            return _Picked([resolution], None)
        if not serving:
            raise ModelNotFound(f"{resolution.provider}/{resolution.model}")
        group = self.routing.groups.get(resolution.provider)
        strategy = Strategy.PRIORITY if group is None else group.strategy
        declared = catalog.deployments(resolution.provider)
        options = [
            Option(
                name=member,
                weight=1.0 if group is None else group.weight(declared.index(member)),
                inflight=self.view.inflight(member),
                price=self.view.price(member, resolution.model),
            )
            for member in serving
        ]
        indices = self._order(strategy, options, f"provider:{resolution.provider}")
        targets = [attrs.evolve(resolution, provider=serving[i]) for i in indices]
        return _Picked(targets, strategy.value if len(serving) > 1 else None)

    def virtual(self, virtual: VirtualModel, requested: str, seen: frozenset[str]) -> _Picked:
        """The targets of ``virtual``, each expanded, in the virtual model's strategy order."""
        children: list[tuple[Option, _Picked]] = []
        for target in virtual.targets:
            nested = self.routing.virtual_models.get(target.model)
            if target.provider is None and nested is not None:
                if nested.name in seen:
                    continue  # a cycle (refused at startup; never loop here)
                child = self.virtual(nested, requested, seen | {nested.name})
            else:
                try:
                    resolution = resolve(target.model, target.provider, self.catalog)
                    child = self.provider(
                        attrs.evolve(
                            resolution, requested=requested, qualified=False, virtual=requested
                        )
                    )
                except (ModelNotFound, InvalidRequest):
                    continue  # its provider is not configured, or does not serve the model
            if not child.targets:
                continue
            first = child.targets[0]
            option = Option(
                name=target.label,
                weight=target.weight,
                inflight=self.view.inflight(first.provider),
                price=self.view.price(first.provider, first.model),
            )
            children.append((option, child))
        if not children:
            return _Picked([], None)
        indices = self._order(virtual.strategy, [o for o, _ in children], f"virtual:{virtual.name}")
        targets = [t for i in indices for t in children[i][1].targets]
        first_child = children[indices[0]][1]
        pick = virtual.strategy.value if len(children) > 1 else first_child.pick or ALIAS
        return _Picked(targets, pick)

    def _order(self, strategy: Strategy, options: list[Option], key: str) -> list[int]:
        if len(options) <= 1:
            return list(range(len(options)))
        weighted = strategy is Strategy.WEIGHTED or (
            strategy is Strategy.STICKY and self.sticky_key is None
        )
        turn = self.view.turn(key) if weighted else 0
        return order(strategy, options, turn=turn, sticky_key=self.sticky_key)
