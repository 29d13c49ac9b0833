"""Target selection, as a table: virtual models (nested, across provider types), providers with
deployments, and the reason each first pick records."""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import pytest

from gomodel.errors import ModelNotFound
from gomodel.routing.catalog import Catalog, ModelInfo
from gomodel.routing.resolve import Resolution
from gomodel.routing.strategy import Strategy
from gomodel.routing.targets import deployments, select
from gomodel.routing.virtual import Group, Routing, VirtualModel, VirtualTarget

CATALOG = Catalog(
    providers=("anthropic", "azure", "groq", "openai"),
    types={
        "anthropic": "anthropic",
        "azure": "azure",
        "azure.east": "azure",
        "azure.west": "azure",
        "groq": "groq",
        "openai": "openai",
    },
    models={
        "anthropic": (ModelInfo("claude-sonnet-4-5"),),
        "azure.east": (ModelInfo("gpt-4o"),),
        "azure.west": (ModelInfo("gpt-4o"), ModelInfo("gpt-4.1")),
        "groq": (ModelInfo("llama-3.3"),),
        "openai": (ModelInfo("gpt-4o"), ModelInfo("gpt-4o-mini")),
    },
    members={"azure": ("azure.east", "azure.west")},
)


def vm(
    name: str,
    *targets: str | tuple[str, float],
    strategy: Strategy = Strategy.PRIORITY,
    failover: bool = True,
) -> VirtualModel:
    parsed = tuple(
        VirtualTarget(t) if isinstance(t, str) else VirtualTarget(t[0], weight=t[1])
        for t in targets
    )
    return VirtualModel(name, parsed, strategy=strategy, failover=failover)


ROUTING = Routing(
    virtual_models={
        m.name: m
        for m in (
            vm("smart", "anthropic/claude-sonnet-4-5", "openai/gpt-4o"),
            vm("gpt-4o-pool", "azure/gpt-4o", "openai/gpt-4o"),
            vm("fast", "groq/llama-3.3"),
            vm("nested", "fast", "smart"),
            vm(
                "cheap",
                "openai/gpt-4o",
                "groq/llama-3.3",
                "anthropic/claude-sonnet-4-5",
                strategy=Strategy.LOWEST_COST,
            ),
            vm("gone", "mistral/large", "openai/nope"),
            vm("partly", "mistral/large", "openai/gpt-4o-mini"),
            vm("solo", "openai/gpt-4o", failover=False),
            vm(
                "spread",
                ("openai/gpt-4o", 1),
                ("anthropic/claude-sonnet-4-5", 1),
                strategy=Strategy.WEIGHTED,
            ),
            vm("gpt-4o", "azure.west/gpt-4o"),  # a virtual model shadows the concrete id
        )
    },
    groups={"azure": Group("azure", ("azure.east", "azure.west"), strategy=Strategy.PRIORITY)},
)


@attrs.define
class FakeView:
    inflight_counts: Mapping[str, int] = attrs.Factory(dict)
    prices: Mapping[tuple[str, str], float] = attrs.Factory(dict)
    turns: dict[str, int] = attrs.Factory(dict)

    def inflight(self, deployment: str) -> int:
        return self.inflight_counts.get(deployment, 0)

    def turn(self, key: str) -> int:
        turn = self.turns.get(key, 0)
        self.turns[key] = turn + 1
        return turn

    def price(self, deployment: str, model: str) -> float | None:
        return self.prices.get((deployment, model))


def targets(
    model: str, hint: str | None = None, view: FakeView | None = None, routing: Routing = ROUTING
) -> list[tuple[str, str, str | None]]:
    selection = select(model, hint, CATALOG, routing, view or FakeView())
    return [(t.provider, t.model, t.pick) for t in selection.targets]


@pytest.mark.parametrize(
    ("model", "hint", "expected"),
    [
        # plain selectors: one deployment, nothing to choose
        ("gpt-4o-mini", None, [("openai", "gpt-4o-mini", None)]),
        ("openai/gpt-4o", None, [("openai", "gpt-4o", None)]),
        # a provider with deployments: those serving the model, by its strategy
        (
            "azure/gpt-4o",
            None,
            [("azure.east", "gpt-4o", "priority"), ("azure.west", "gpt-4o", "failover")],
        ),
        ("azure/gpt-4.1", None, [("azure.west", "gpt-4.1", None)]),  # only west lists it
        ("azure.east/gpt-4o", None, [("azure.east", "gpt-4o", None)]),  # one deployment named
        # virtual models, across provider types
        (
            "smart",
            None,
            [("anthropic", "claude-sonnet-4-5", "priority"), ("openai", "gpt-4o", "failover")],
        ),
        (
            "gpt-4o-pool",
            None,
            [
                ("azure.east", "gpt-4o", "priority"),
                ("azure.west", "gpt-4o", "failover"),
                ("openai", "gpt-4o", "failover"),
            ],
        ),
        ("fast", None, [("groq", "llama-3.3", "alias")]),
        (
            "nested",
            None,
            [
                ("groq", "llama-3.3", "priority"),
                ("anthropic", "claude-sonnet-4-5", "failover"),
                ("openai", "gpt-4o", "failover"),
            ],
        ),
        ("partly", None, [("openai", "gpt-4o-mini", "alias")]),  # unknown provider left out
        ("gpt-4o", None, [("azure.west", "gpt-4o", "alias")]),
        # an explicit provider field: never a virtual model
        ("gpt-4o", "openai", [("openai", "gpt-4o", None)]),
    ],
)
def test_select(model: str, hint: str | None, expected: list[tuple[str, str, str | None]]) -> None:
    assert targets(model, hint) == expected


def test_virtual_targets_record_the_name_the_client_used() -> None:
    [first, second] = select("smart", None, CATALOG, ROUTING, FakeView()).targets
    assert first == Resolution(
        "anthropic", "claude-sonnet-4-5", "smart", qualified=False, virtual="smart", pick="priority"
    )
    assert (second.requested, second.virtual, second.qualified) == ("smart", "smart", False)
    plain = select("openai/gpt-4o", None, CATALOG, ROUTING, FakeView()).targets[0]
    assert (plain.virtual, plain.qualified, plain.requested) == (None, True, "openai/gpt-4o")


def test_no_target_available() -> None:
    with pytest.raises(ModelNotFound):
        select("gone", None, CATALOG, ROUTING, FakeView())


def test_failover_flag() -> None:
    assert not select("solo", None, CATALOG, ROUTING, FakeView()).failover
    assert select("smart", None, CATALOG, ROUTING, FakeView()).failover


def test_weighted_virtual_model_alternates_per_request() -> None:
    view = FakeView()
    firsts = [targets("spread", view=view)[0][0] for _ in range(4)]
    assert firsts == ["openai", "anthropic", "openai", "anthropic"]
    assert targets("spread", view=view)[1][2] == "failover"


def test_lowest_cost() -> None:
    view = FakeView(prices={("openai", "gpt-4o"): 12.5, ("groq", "llama-3.3"): 1.38})
    assert [t[0] for t in targets("cheap", view=view)] == ["groq", "openai", "anthropic"]
    assert targets("cheap", view=view)[0][2] == "lowest_cost"


def test_least_inflight_deployments() -> None:
    routing = attrs.evolve(
        ROUTING,
        groups={
            "azure": Group("azure", ("azure.east", "azure.west"), strategy=Strategy.LEAST_INFLIGHT)
        },
    )
    view = FakeView(inflight_counts={"azure.east": 3, "azure.west": 1})
    assert targets("azure/gpt-4o", view=view, routing=routing) == [
        ("azure.west", "gpt-4o", "least_inflight"),
        ("azure.east", "gpt-4o", "failover"),
    ]


def test_sticky_by_caller() -> None:
    routing = attrs.evolve(
        ROUTING,
        groups={"azure": Group("azure", ("azure.east", "azure.west"), strategy=Strategy.STICKY)},
    )
    picks = {}
    for n in range(40):
        key = f"key-{n}"
        chosen = {
            select("azure/gpt-4o", None, CATALOG, routing, FakeView(), sticky_key=key)
            .targets[0]
            .provider
            for _ in range(3)
        }
        assert len(chosen) == 1  # the same caller lands on the same deployment every time
        picks[key] = chosen.pop()
    assert set(picks.values()) == {"azure.east", "azure.west"}


def test_unknown_model_list_is_trusted() -> None:
    """A deployment whose model list is unknown may take any model (as a provider may)."""
    catalog = attrs.evolve(
        CATALOG, models={k: v for k, v in CATALOG.models.items() if k != "azure.east"}
    )
    chosen = select("azure/gpt-4.1", None, catalog, ROUTING, FakeView()).targets
    assert [t.provider for t in chosen] == ["azure.east", "azure.west"]


def test_passthrough_deployments_ignore_model_lists() -> None:
    chosen = deployments(Resolution("azure", "", "", False), CATALOG, ROUTING, FakeView())
    assert [(t.provider, t.pick) for t in chosen.targets] == [
        ("azure.east", "priority"),
        ("azure.west", "failover"),
    ]


def test_embeddings_keep_one_model() -> None:
    selection = select("cheap", None, CATALOG, ROUTING, FakeView()).same_model()
    assert [t.model for t in selection.targets] == ["gpt-4o"]
