"""The decision table: every reason a chat request leaves the pure fast path."""

from __future__ import annotations

import orjson
import pytest

from gomodel.ingress.semantics import parse_chat
from gomodel.providers.spec import SPECS
from gomodel.routing.decision import Policy, Reason, RouteKind, decide, is_reasoning_model
from gomodel.routing.resolve import Resolution

MESSAGES = [{"role": "user", "content": "hi"}]
ON = Policy(usage_enabled=True, enforce_returning_usage_data=True)
OFF = Policy(usage_enabled=False, enforce_returning_usage_data=True)


def _res(model: str, *, qualified: bool = False) -> Resolution:
    return Resolution("p", model, model, qualified=qualified)


CASES = [
    # (id, body extras, provider type, resolution kwargs, policy, kind, reasons)
    ("plain-nonstream", {}, "openai", {}, ON, RouteKind.PASSTHROUGH, ()),
    (
        "stream-client-asked-usage",
        {"stream": True, "stream_options": {"include_usage": True}},
        "openai",
        {},
        ON,
        RouteKind.PASSTHROUGH,
        (),
    ),
    (
        "stream-usage-injected",
        {"stream": True},
        "openai",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.USAGE_INJECTED,),
    ),
    (
        "stream-usage-policy-off",
        {"stream": True},
        "groq",
        {},
        OFF,
        RouteKind.PASSTHROUGH,
        (),
    ),
    (
        "stream-options-false",
        {"stream": True, "stream_options": {"include_usage": False}},
        "xai",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.USAGE_INJECTED,),
    ),
    (
        "qualified",
        {},
        "openai",
        {"qualified": True},
        ON,
        RouteKind.REWRITE,
        (Reason.QUALIFIED_SELECTOR,),
    ),
    (
        "provider-field",
        {"provider": "openai"},
        "openai",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.PROVIDER_FIELD,),
    ),
    (
        "o-series-max-tokens",
        {"model": "o3-mini", "max_tokens": 10},
        "openai",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.REASONING_PARAMS,),
    ),
    (
        "gpt5-temperature-azure",
        {"model": "gpt-5-mini", "temperature": 0.2},
        "azure",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.REASONING_PARAMS,),
    ),
    (
        "o-series-on-groq-untouched",
        {"model": "o3-mini", "max_tokens": 10},
        "groq",
        {},
        ON,
        RouteKind.PASSTHROUGH,
        (),
    ),
    (
        "o-series-no-params",
        {"model": "o4-mini"},
        "openai",
        {},
        ON,
        RouteKind.PASSTHROUGH,
        (),
    ),
    (
        "gemini-reasoning-effort",
        {"reasoning": {"effort": "low"}},
        "gemini",
        {},
        ON,
        RouteKind.REWRITE,
        (Reason.REASONING_EFFORT,),
    ),
    (
        "reasoning-on-openai-untouched",
        {"reasoning": {"effort": "low"}},
        "openai",
        {},
        ON,
        RouteKind.PASSTHROUGH,
        (),
    ),
    ("anthropic", {}, "anthropic", {}, ON, RouteKind.TRANSLATE, (Reason.DIALECT,)),
    (
        "everything",
        {"model": "o3", "max_tokens": 5, "provider": "openai", "stream": True},
        "openai",
        {"qualified": True},
        ON,
        RouteKind.REWRITE,
        (
            Reason.QUALIFIED_SELECTOR,
            Reason.PROVIDER_FIELD,
            Reason.REASONING_PARAMS,
            Reason.USAGE_INJECTED,
        ),
    ),
]


@pytest.mark.parametrize(
    ("body", "ptype", "res", "policy", "kind", "reasons"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decision_table(
    body: dict[str, object],
    ptype: str,
    res: dict[str, bool],
    policy: Policy,
    kind: RouteKind,
    reasons: tuple[Reason, ...],
) -> None:
    """decide() picks the route kind and names exactly the reasons that apply."""
    doc = {"model": "gpt-4o", "messages": MESSAGES, **body}
    semantics = parse_chat(orjson.dumps(doc))
    route = decide(semantics, _res(str(doc["model"]), **res), SPECS[ptype], policy)
    assert route.kind is kind
    assert route.reasons == reasons
    assert route.inject_usage is (Reason.USAGE_INJECTED in reasons)


def test_route_header_names_kind_and_reasons() -> None:
    """X-GoModel-Route shows the kind alone on the fast path, and the reasons otherwise."""
    semantics = parse_chat(orjson.dumps({"model": "m", "messages": MESSAGES, "stream": True}))
    fast = decide(semantics, _res("m"), SPECS["openai"], OFF)
    slow = decide(semantics, _res("m", qualified=True), SPECS["openai"], ON)
    assert fast.header == "passthrough"
    assert slow.header == "rewrite; qualified_selector, usage_injected"


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("o1", True),
        ("o3-mini", True),
        ("O4-mini", True),
        ("gpt-5", True),
        ("gpt-5-mini", True),
        ("gpt-4o", False),
        ("gpt-50", False),
        ("omni", False),
        ("llama-o1", False),
    ],
)
def test_reasoning_models(model: str, expected: bool) -> None:
    """Only o<digit>… and gpt-5 / gpt-5-… count as reasoning chat models."""
    assert is_reasoning_model(model) is expected
