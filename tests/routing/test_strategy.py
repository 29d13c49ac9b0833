"""Strategies order options: priority, weighted round robin, least in flight, lowest cost,
sticky by caller."""

from __future__ import annotations

from collections import Counter

import pytest

from gomodel.routing.strategy import Option, Strategy, order, parse_strategy

A, B, C = Option("a"), Option("b"), Option("c")


@pytest.mark.parametrize(
    ("word", "strategy"),
    [
        ("priority", Strategy.PRIORITY),
        ("failover", Strategy.PRIORITY),  # GOModel's names
        ("round_robin", Strategy.WEIGHTED),
        ("cost", Strategy.LOWEST_COST),
        (" Least_Inflight ", Strategy.LEAST_INFLIGHT),
        ("sticky", Strategy.STICKY),
        ("random", None),
    ],
)
def test_parse(word: str, strategy: Strategy | None) -> None:
    assert parse_strategy(word) is strategy


def test_priority_keeps_the_declared_order() -> None:
    assert order(Strategy.PRIORITY, [A, B, C], turn=7) == [0, 1, 2]


@pytest.mark.parametrize(
    ("weights", "cycle"),
    [
        ((1, 1, 1), "abc"),  # a plain round robin
        ((3, 1), "aaba"),  # spread out, not aaab
        ((5, 1, 1), "aabacaa"),
        ((2, 4), "bab"),  # reduced to 1:2
        ((0.5, 1.5), "babb"),  # fractional: 1:3
    ],
)
def test_weighted_is_smooth_round_robin(weights: tuple[float, ...], cycle: str) -> None:
    options = [Option("abc"[i], weight=float(w)) for i, w in enumerate(weights)]
    picks = "".join(options[order(Strategy.WEIGHTED, options, turn=n)[0]].name for n in range(60))
    assert picks[: len(cycle)] == cycle
    assert picks[len(cycle) : 2 * len(cycle)] == cycle
    counts = Counter(picks)
    total = sum(weights)
    for index, weight in enumerate(weights):
        assert counts["abc"[index]] == pytest.approx(60 * weight / total, abs=1)


def test_weighted_failover_order_is_the_rest_as_declared() -> None:
    for turn in range(10):
        first, *rest = order(Strategy.WEIGHTED, [A, B, C], turn=turn)
        assert rest == [i for i in range(3) if i != first]


def test_least_inflight_per_weight() -> None:
    options = [Option("a", inflight=4), Option("b", weight=4, inflight=8), Option("c", inflight=3)]
    assert order(Strategy.LEAST_INFLIGHT, options) == [1, 2, 0]  # 2/1, 3, 4
    ties = [Option("a", inflight=1), Option("b", inflight=1)]
    assert order(Strategy.LEAST_INFLIGHT, ties) == [0, 1]


def test_lowest_cost_with_unknown_prices_last() -> None:
    options = [Option("a", price=12.5), Option("b", price=None), Option("c", price=0.6)]
    assert order(Strategy.LOWEST_COST, options) == [2, 0, 1]
    free = [Option("a", price=3.0), Option("b", price=0.0)]
    assert order(Strategy.LOWEST_COST, free) == [1, 0]


def test_sticky_keeps_a_caller_on_its_option() -> None:
    options = [Option(name) for name in "abcdef"]
    callers = [f"key-{n}" for n in range(300)]
    first = {
        c: order(Strategy.STICKY, options, sticky_key=c, turn=n) for n, c in enumerate(callers)
    }
    again = {c: order(Strategy.STICKY, options, sticky_key=c, turn=99) for c in callers}
    assert first == again  # the same caller, the same order, whatever the counter says
    spread = Counter(o[0] for o in first.values())
    assert len(spread) == 6 and min(spread.values()) > 20  # callers spread over all


def test_sticky_moves_only_the_callers_of_a_removed_option() -> None:
    options = [Option(name) for name in "abcd"]
    fewer = [o for o in options if o.name != "c"]
    for n in range(200):
        key = f"user/{n}"
        before = options[order(Strategy.STICKY, options, sticky_key=key)[0]].name
        after = fewer[order(Strategy.STICKY, fewer, sticky_key=key)[0]].name
        if before != "c":
            assert after == before
        else:  # its failover order: the next option in its own ranking
            ranking = [options[i].name for i in order(Strategy.STICKY, options, sticky_key=key)]
            assert after == ranking[1]


def test_sticky_without_a_caller_is_weighted() -> None:
    assert order(Strategy.STICKY, [A, B, C], turn=1) == order(Strategy.WEIGHTED, [A, B, C], turn=1)


def test_one_option_is_its_own_order() -> None:
    for strategy in Strategy:
        assert order(strategy, [A], turn=5, sticky_key="k") == [0]
