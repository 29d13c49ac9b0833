"""Strategies: in which order a request tries the options of a virtual model or of a provider's
deployments. The first option is the pick; the rest are the failover order.

* ``priority``: as declared (GOModel: ``failover``);
* ``weighted``: smooth weighted round robin (nginx's; GOModel: ``round_robin``, the default):
  request number ``n`` of the group takes place ``n`` of a cycle in which each option appears
  as often as its weight, spread out (weights 3 and 1: a a b a; equal weights: a b c). The
  only state is the group's counter. Fractional weights are rounded to a ratio of whole
  numbers (at most 1000 to 1). The rest follow in declared order;
* ``least_inflight``: fewest requests in flight per unit of weight first (ties: declared order);
* ``lowest_cost``: cheapest first by the price table (input + output USD per million tokens);
  options without a price last (GOModel: ``cost``);
* ``sticky``: rendezvous hashing of the caller (its managed key id, else its user path) and the
  option names, weighted: one caller keeps its option while the options stay the same, and
  removing one moves only the callers it had.

Pure: no trio, httpx or hypercorn. The request's numbers (counter, in-flight counts, prices,
the sticky key) come in an :class:`Option` list and arguments.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import math
from collections.abc import Sequence
from fractions import Fraction

import attrs

__all__ = ["STRATEGY_NAMES", "Option", "Strategy", "order", "parse_strategy"]


class Strategy(enum.Enum):
    PRIORITY = "priority"
    WEIGHTED = "weighted"
    LEAST_INFLIGHT = "least_inflight"
    LOWEST_COST = "lowest_cost"
    STICKY = "sticky"


# Every accepted spelling, GOModel's included.
STRATEGY_NAMES: dict[str, Strategy] = {
    **{s.value: s for s in Strategy},
    "failover": Strategy.PRIORITY,
    "round_robin": Strategy.WEIGHTED,
    "cost": Strategy.LOWEST_COST,
}


def parse_strategy(word: str) -> Strategy | None:
    """The strategy a word names (case-insensitive), or ``None``."""
    return STRATEGY_NAMES.get(word.strip().lower())


@attrs.frozen(slots=True)
class Option:
    """One thing a strategy orders: a deployment, or a target of a virtual model."""

    name: str  # stable: hashed by ``sticky``
    weight: float = attrs.field(default=1.0, converter=float)
    inflight: int = 0
    price: float | None = None  # USD per million tokens (input + output); None: unknown


def order(
    strategy: Strategy,
    options: Sequence[Option],
    *,
    turn: int = 0,
    sticky_key: str | None = None,
) -> list[int]:
    """The indices of ``options`` in the order to try them.

    ``turn``: the group's request counter (``weighted``); ``sticky_key``: the caller (``sticky``;
    without one, ``sticky`` falls back to ``weighted``)."""
    count = len(options)
    declared = list(range(count))
    if count <= 1 or strategy is Strategy.PRIORITY:
        return declared
    if strategy is Strategy.STICKY and sticky_key is not None:
        return sorted(declared, key=lambda i: -_rendezvous(sticky_key, options[i]))
    if strategy is Strategy.LEAST_INFLIGHT:
        return sorted(declared, key=lambda i: options[i].inflight / options[i].weight)
    if strategy is Strategy.LOWEST_COST:
        return sorted(
            declared,
            key=lambda i: (options[i].price is None, options[i].price or 0.0),
        )
    picked = _weighted_pick(options, turn)
    return [picked] + [i for i in declared if i != picked]


def _weighted_pick(options: Sequence[Option], turn: int) -> int:
    cycle = _cycle(tuple(option.weight for option in options))
    return cycle[turn % len(cycle)]


@functools.lru_cache(maxsize=256)
def _cycle(weights: tuple[float, ...]) -> tuple[int, ...]:
    """One period of smooth weighted round robin over ``weights``."""
    ints: list[int]
    if all(w.is_integer() for w in weights) and sum(weights) <= 10_000:
        ints = [int(w) for w in weights]
    else:  # small whole numbers in the same ratio, if there are; else parts of 1000
        top = max(weights)
        ratios = [Fraction(w / top).limit_denominator(1000) for w in weights]
        scale = math.lcm(*(r.denominator for r in ratios))
        ints = [max(1, int(r * scale)) for r in ratios]
        if sum(ints) > 10_000:
            ints = [max(1, round(w / top * 1000)) for w in weights]
    common = math.gcd(*ints)
    ints = [i // common for i in ints]
    total = sum(ints)
    current = [0] * len(ints)
    out: list[int] = []
    for _ in range(total):
        for index, weight in enumerate(ints):
            current[index] += weight
        best = max(range(len(ints)), key=lambda i: current[i])  # the first of the largest
        current[best] -= total
        out.append(best)
    return tuple(out)


def _rendezvous(key: str, option: Option) -> float:
    """Weighted rendezvous (highest random weight) score of ``option`` for ``key``."""
    digest = hashlib.blake2b(f"{key}\x00{option.name}".encode(), digest_size=8).digest()
    unit = (int.from_bytes(digest, "big") + 0.5) / 2.0**64  # in (0, 1)
    return -option.weight / math.log(unit)
