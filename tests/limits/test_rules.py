"""The rules that apply to a request, the admin and environment spellings of them, and the
worst-case demand a request is admitted on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gomodel.config.limits import rules_from_environment
from gomodel.errors import ConfigError, InvalidRequest
from gomodel.ingress.semantics import parse_chat, parse_embeddings, parse_responses
from gomodel.limits.demand import (
    MEDIA_TOKENS,
    output_cap,
    prompt_bound,
    token_rates,
    with_output_cap,
)
from gomodel.limits.model import Limit, Metric, Period
from gomodel.limits.rules import RuleSet, parse_scope, path_scopes, rate_rules, usd_to_nano
from gomodel.usage.pricing import Price


def test_path_scopes_cover_every_ancestor() -> None:
    """A rule on /team-a covers /team-a/**: a request checks its path and every ancestor."""
    assert path_scopes("/team-a/bots") == ("path:/team-a/bots", "path:/team-a", "path:/")
    assert path_scopes("/") == ("path:/",)


def test_rule_set_finds_a_requests_limits() -> None:
    rules = [
        Limit("path:/team-a", Metric.COST, 10, Period.DAY),
        Limit("key:k1", Metric.REQUESTS, 60, Period.MINUTE),
        Limit("provider:openai", Metric.CONCURRENT, 4),
        Limit("model:gpt-4o", Metric.TOKENS, 1000, Period.MINUTE),
        Limit("path:/team-b", Metric.COST, 10, Period.DAY),
    ]
    found = RuleSet(tuple(rules)).for_request(
        key_id="k1", user_path="/team-a/x", provider="openai", model="gpt-4o"
    )
    assert {r.scope for r in found} == {"path:/team-a", "key:k1", "provider:openai", "model:gpt-4o"}
    off = RuleSet.of(rules, budgets=False, rates=True)
    assert all(r.metric is not Metric.COST for r in off.rules)
    assert not RuleSet().for_request(key_id=None, user_path="/", provider="p", model="m")


@pytest.mark.parametrize(
    ("text", "rates", "scope"),
    [
        ("team-a/bots", False, "path:/team-a/bots"),
        ("", False, "path:/"),
        ("key:abc", False, "key:abc"),
        ("provider:openai", True, "provider:openai"),
        ("model:meta-llama/Llama-3", True, "model:meta-llama/Llama-3"),
        ("model:llama3:8b", True, "model:llama3:8b"),
    ],
)
def test_scopes(text: str, rates: bool, scope: str) -> None:
    assert parse_scope(text, rates=rates) == scope


@pytest.mark.parametrize(
    ("text", "rates"), [("provider:openai", False), ("team/../x", False), ("who:x", True)]
)
def test_bad_scopes(text: str, rates: bool) -> None:
    with pytest.raises(InvalidRequest):
        parse_scope(text, rates=rates)


@pytest.mark.parametrize(
    ("value", "nano"), [(10, 10 * 10**9), ("0.000000001", 1), (0.5, 5 * 10**8)]
)
def test_usd(value: object, nano: int) -> None:
    assert usd_to_nano(value) == nano


@pytest.mark.parametrize("value", [0, -1, "x", True, None, 1e300, "0.0000000001", "nan", []])
def test_bad_usd(value: object) -> None:
    with pytest.raises(InvalidRequest):
        usd_to_nano(value)


def test_rate_rules() -> None:
    rules = rate_rules("path:/a", {"rpm": 60, "tpd": 10**6, "concurrent": 2})
    assert [(r.metric, r.period, r.limit) for r in rules] == [
        (Metric.REQUESTS, Period.MINUTE, 60),
        (Metric.TOKENS, Period.DAY, 10**6),
        (Metric.CONCURRENT, None, 2),
    ]


def test_environment_rules() -> None:
    environ = {
        "SET_BUDGET_TEAM_A__BOTS": "daily=10, weekly=50",
        "SET_BUDGET_": "monthly=1000",
        "SET_RATE_LIMIT_TEAM_A": "rpm=60,concurrent=3",
        "SET_PROVIDER_RATE_LIMIT_OPENAI_EU": "rpm=600",
        "UNRELATED": "x",
    }
    rules = rules_from_environment(environ, ["openai-eu"])
    assert {(r.scope, r.metric, r.period, r.limit) for r in rules} == {
        ("path:/team_a/bots", Metric.COST, Period.DAY, 10 * 10**9),
        ("path:/team_a/bots", Metric.COST, Period.WEEK, 50 * 10**9),
        ("path:/", Metric.COST, Period.MONTH, 1000 * 10**9),
        ("path:/team_a", Metric.REQUESTS, Period.MINUTE, 60),
        ("path:/team_a", Metric.CONCURRENT, None, 3),
        ("provider:openai-eu", Metric.REQUESTS, Period.MINUTE, 600),
    }


@pytest.mark.parametrize(
    "environ",
    [
        {"SET_BUDGET_TEAM": "daily"},
        {"SET_BUDGET_TEAM": "yearly=5"},
        {"SET_BUDGET_TEAM": "daily=-5"},
        {"SET_RATE_LIMIT_TEAM": "rpm=fast"},
        {"SET_RATE_LIMIT_TEAM": "rps=5"},
        {"SET_PROVIDER_RATE_LIMIT_NOBODY": "rpm=5"},
        {"SET_BUDGET_A____B": "daily=1"},
    ],
)
def test_bad_environment_rules(environ: dict[str, str]) -> None:
    """Each bad SET_* value is a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as caught:
        rules_from_environment(environ, ["openai"])
    assert caught.value.setting in environ


HI = b'"messages":[{"role":"user","content":"hi"}]'


@pytest.mark.parametrize(
    ("parse", "body", "cap"),
    [
        (parse_chat, b'{"model":"m",' + HI + b',"max_tokens":7}', 7),
        (parse_chat, b'{"model":"m",' + HI + b',"max_completion_tokens":9}', 9),
        (parse_chat, b'{"model":"m",' + HI + b"}", None),
        (parse_responses, b'{"model":"m","input":"hi","max_output_tokens":5}', 5),
        (parse_embeddings, b'{"model":"m","input":"hi"}', 0),
    ],
)
def test_output_cap(parse: Any, body: bytes, cap: int | None) -> None:
    semantics = parse(body)
    assert output_cap(semantics) == cap
    if cap is not None and cap > 0:
        assert output_cap(with_output_cap(semantics, 3)) == 3


def test_a_cap_is_written_where_the_request_would_put_it() -> None:
    chat = with_output_cap(parse_chat(b'{"model":"m",' + HI + b"}"), 100)
    assert chat.doc["max_tokens"] == 100 and chat.has_max_tokens
    reasoning = with_output_cap(
        parse_chat(b'{"model":"o3",' + HI + b',"max_completion_tokens":900}'), 100
    )
    assert reasoning.doc["max_completion_tokens"] == 100 and "max_tokens" not in reasoning.doc
    responses = with_output_cap(parse_responses(b'{"model":"m","input":"x"}'), 50)
    assert responses.doc["max_output_tokens"] == 50


def test_prompt_bound_covers_text_and_media() -> None:
    body = b'{"messages":[{"content":[{"type":"image_url","image_url":{"url":"x"}}]}]}'
    # Each part costs at least MEDIA_TOKENS (the part's type and key may both be counted: an
    # over-estimate only reserves more, never less).
    assert prompt_bound(body) >= len(body) + MEDIA_TOKENS
    assert prompt_bound(b"abc") == 3


def test_token_rates_take_the_dearest_rate_rounded_up() -> None:
    price = Price(
        input=Decimal("3"), output=Decimal("15"), cache_write=Decimal("3.75"),
        reasoning_output=None,
    )  # fmt: skip
    assert token_rates(price) == (3750, 15000)
    assert token_rates(Price(input=Decimal("0.0001"), output=Decimal(1))) == (1, 1000)
    assert token_rates(Price(input=None, output=Decimal(1))) is None
