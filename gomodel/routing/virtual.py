"""What requests can be routed over: virtual models, and providers with several deployments.

* A :class:`VirtualModel` is a model name clients use (``smart``) that resolves to an ordered or
  weighted list of :class:`VirtualTarget` selectors: ``anthropic/claude-sonnet-4-5``, a bare
  model id, a deployment (``azure.east/gpt-4o``) or another virtual model.
* A :class:`Group` is one configured provider served by several deployments (each its own
  connection pool, limits and circuit breaker), and the strategy that spreads requests over
  them. A provider with one deployment is a group of one.

:class:`Routing` holds both, as configured; :mod:`gomodel.routing.targets` expands a request's
selector over them. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from gomodel.routing.strategy import Strategy

__all__ = ["Group", "Routing", "VirtualModel", "VirtualTarget"]


@attrs.frozen(slots=True)
class VirtualTarget:
    model: str  # a selector: "openai/gpt-4o", "gpt-4o", "azure.east/gpt-4o", a virtual model
    provider: str | None = None  # GOModel's "provider" field: an explicit provider for model
    weight: float = attrs.field(default=1.0, converter=float)

    @property
    def label(self) -> str:
        return self.model if self.provider is None else f"{self.provider}/{self.model}"


@attrs.frozen(slots=True)
class VirtualModel:
    name: str
    targets: tuple[VirtualTarget, ...]
    strategy: Strategy = Strategy.WEIGHTED
    failover: bool = True  # try the other targets when the chosen one fails
    description: str | None = None


@attrs.frozen(slots=True)
class Group:
    """A configured provider and its deployments (runtime provider names), in declared order."""

    name: str
    members: tuple[str, ...]
    weights: tuple[float, ...] = ()  # one per member; empty: all 1
    strategy: Strategy = Strategy.WEIGHTED

    def weight(self, index: int) -> float:
        return self.weights[index] if index < len(self.weights) else 1.0


@attrs.frozen
class Routing:
    virtual_models: Mapping[str, VirtualModel] = attrs.field(factory=dict)
    groups: Mapping[str, Group] = attrs.field(factory=dict)  # providers with deployments
