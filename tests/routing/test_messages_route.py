"""The Messages API's route: the fast path to Anthropic, a rewrite when the body must change,
translation everywhere else; and the one edit the rewrite makes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gomodel.ingress.semantics import parse_messages
from gomodel.providers.spec import SPECS
from gomodel.routing.decision import Policy, Reason, RouteKind, decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.rewrite import fill_max_tokens, messages_body

HI = [{"role": "user", "content": "hi"}]
DEFAULT = Policy(default_max_tokens=4096)
NO_DEFAULT = Policy(default_max_tokens=None)

CASES = [
    # (id, body extras, provider type, qualified, policy, kind, reasons)
    ("anthropic", {}, "anthropic", False, DEFAULT, RouteKind.PASSTHROUGH, ()),
    ("anthropic-stream", {"stream": True}, "anthropic", False, DEFAULT, RouteKind.PASSTHROUGH, ()),
    (
        "qualified",
        {},
        "anthropic",
        True,
        DEFAULT,
        RouteKind.REWRITE,
        (Reason.QUALIFIED_SELECTOR,),
    ),
    (
        "provider-field",
        {"provider": "anthropic"},
        "anthropic",
        False,
        DEFAULT,
        RouteKind.REWRITE,
        (Reason.PROVIDER_FIELD,),
    ),
    (
        "max-tokens-filled",
        {"max_tokens": None},
        "anthropic",
        False,
        DEFAULT,
        RouteKind.REWRITE,
        (Reason.MAX_TOKENS_DEFAULT,),
    ),
    # Without a default the handler answers 400 before any route matters.
    ("no-default", {"max_tokens": None}, "anthropic", False, NO_DEFAULT, RouteKind.PASSTHROUGH, ()),
    ("openai", {}, "openai", False, DEFAULT, RouteKind.TRANSLATE, (Reason.DIALECT,)),
    (
        "groq-everything",
        {"max_tokens": None, "provider": "groq", "stream": True},
        "groq",
        True,
        DEFAULT,
        RouteKind.TRANSLATE,
        (
            Reason.DIALECT,
            Reason.QUALIFIED_SELECTOR,
            Reason.PROVIDER_FIELD,
            Reason.MAX_TOKENS_DEFAULT,
        ),
    ),
]


def _semantics(**fields: Any) -> Any:
    body = {"model": "claude-x", "max_tokens": 64, "messages": HI, **fields}
    return parse_messages(orjson.dumps(body))


@pytest.mark.parametrize(
    ("body", "ptype", "qualified", "policy", "kind", "reasons"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_messages_decision_table(
    body: dict[str, Any],
    ptype: str,
    qualified: bool,
    policy: Policy,
    kind: RouteKind,
    reasons: tuple[Reason, ...],
) -> None:
    semantics = _semantics(**body)
    resolution = Resolution("p", "claude-x", semantics.model, qualified=qualified)
    route = decide(semantics, resolution, SPECS[ptype], policy)
    assert (route.kind, route.reasons) == (kind, reasons)
    assert not route.inject_usage  # Messages streams always carry their usage


def _body(raw: bytes, ptype: str = "anthropic", *, upstream: str = "claude-x") -> bytes:
    semantics = parse_messages(raw)
    resolution = Resolution("p", upstream, semantics.model, qualified=upstream != semantics.model)
    route = decide(semantics, resolution, SPECS[ptype], DEFAULT)
    return messages_body(raw, semantics, route, DEFAULT.default_max_tokens)


def test_fast_path_sends_the_client_bytes() -> None:
    raw = b'{ "model":"claude-x", "max_tokens" :64,\n'
    raw += b'"messages":[{"role":"user","content":"caf\\u00e9"}]}'
    assert _body(raw) is raw


def test_rewrite_edits_only_what_the_route_names() -> None:
    """Selector bare, provider field gone, max_tokens filled; unknown fields kept as they are."""
    raw = orjson.dumps(
        {
            "model": "anthropic/claude-x",
            "provider": "anthropic",
            "messages": HI,
            "metadata": {"user_id": "u"},
            "brand_new_field": {"x": [1, 2]},
        }
    )
    out = orjson.loads(_body(raw))
    assert out == {
        "model": "claude-x",
        "messages": HI,
        "metadata": {"user_id": "u"},
        "brand_new_field": {"x": [1, 2]},
        "max_tokens": 4096,
    }
    assert next(iter(out)) == "model"  # in its place


def test_explicit_max_tokens_is_never_replaced() -> None:
    raw = orjson.dumps({"model": "anthropic/claude-x", "max_tokens": 7, "messages": HI})
    assert orjson.loads(_body(raw))["max_tokens"] == 7


@pytest.mark.parametrize(
    ("thinking", "expected"),
    [
        (None, 4096),
        ({"type": "enabled", "budget_tokens": 10_000}, 14_096),  # above the budget, as required
        ({"type": "disabled"}, 4096),
        ({"type": "adaptive"}, 4096),
        ({"type": "enabled", "budget_tokens": "many"}, 4096),  # the provider will say
    ],
)
def test_filled_max_tokens_leaves_room_for_thinking(
    thinking: dict[str, Any] | None, expected: int
) -> None:
    doc: dict[str, Any] = {"model": "m", "messages": HI}
    if thinking is not None:
        doc["thinking"] = thinking
    assert fill_max_tokens(doc, 4096) == expected
