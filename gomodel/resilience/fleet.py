"""The deployments a gateway calls, and what it knows about each right now: its circuit
breaker, the requests in flight on it, and the round-robin counters of the groups it is in.

:class:`Fleet` is the :class:`~gomodel.routing.targets.View` the routing strategies read, and
:meth:`Fleet.statistics` is the frozen snapshot the admin API (and later metrics) show. One
per process: with several replicas, each has its own breakers and counters.

The clock is injected (the gateway passes ``trio.current_time``). Pure: no trio, httpx or
hypercorn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from gomodel.config import ProviderConfig
from gomodel.resilience.breaker import BreakerSettings, BreakerStatistics, CircuitBreaker
from gomodel.usage.pricing import PriceTable

__all__ = ["DeploymentStatistics", "Fleet", "FleetStatistics"]


@attrs.frozen(slots=True)
class DeploymentStatistics:
    name: str  # the deployment (a provider without deployments: the provider)
    provider: str  # the configured provider it belongs to
    type: str
    inflight: int
    breaker: BreakerStatistics


@attrs.frozen(slots=True)
class FleetStatistics:
    deployments: tuple[DeploymentStatistics, ...]  # sorted by name

    @property
    def healthy(self) -> int:
        return sum(1 for d in self.deployments if d.breaker.state.value == "closed")


class Fleet:
    def __init__(
        self,
        providers: Iterable[ProviderConfig],
        settings: BreakerSettings,
        prices: PriceTable,
        clock: Callable[[], float],
    ) -> None:
        self._configs = {p.name: p for p in providers}
        self._breakers = {name: CircuitBreaker(settings) for name in self._configs}
        self._inflight = dict.fromkeys(self._configs, 0)
        self._turns: dict[str, int] = {}
        self._prices = prices
        self._price_cache: dict[tuple[str, str], float | None] = {}
        self.clock = clock

    def breaker(self, deployment: str) -> CircuitBreaker:
        return self._breakers[deployment]

    def enter(self, deployment: str) -> None:
        self._inflight[deployment] += 1

    def leave(self, deployment: str) -> None:
        self._inflight[deployment] -= 1

    # -- the routing View --------------------------------------------------------------------

    def inflight(self, deployment: str) -> int:
        return self._inflight.get(deployment, 0)

    def turn(self, key: str) -> int:
        turn = self._turns.get(key, 0)
        self._turns[key] = turn + 1
        return turn

    def price(self, deployment: str, model: str) -> float | None:
        config = self._configs.get(deployment)
        if config is None:
            return None
        key = (config.type, model)
        if key not in self._price_cache:
            price = self._prices.lookup(config.type, model)
            rate = None
            if price is not None and price.input is not None and price.output is not None:
                rate = float(price.input + price.output)
            self._price_cache[key] = rate
        return self._price_cache[key]

    # -- for people --------------------------------------------------------------------------

    def statistics(self) -> FleetStatistics:
        now = self.clock()
        return FleetStatistics(
            tuple(
                DeploymentStatistics(
                    name=name,
                    provider=config.group or name,
                    type=config.type,
                    inflight=self._inflight[name],
                    breaker=self._breakers[name].statistics(now),
                )
                for name, config in sorted(self._configs.items())
            )
        )
