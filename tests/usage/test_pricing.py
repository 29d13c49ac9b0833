"""Price lookup and cost arithmetic, checked against hand-computed numbers."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.errors import ConfigError
from gomodel.providers.spec import SPECS
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import FREE, RATE_FIELDS, Cost, Price, PriceTable, compute_cost

TABLE = PriceTable.from_package()
D = Decimal


def cost_of(provider_type: str, model: str, usage: Usage) -> Cost:
    return compute_cost(usage, TABLE.lookup(provider_type, model))


def test_plain_input_and_output() -> None:
    """gpt-4o, 1000 in and 500 out at $2.50/$10: 0.0025 + 0.005."""
    cost = cost_of(
        "openai", "gpt-4o", Usage(input_tokens=1000, output_tokens=500, total_tokens=1500)
    )
    assert cost == Cost(D("0.0025"), D("0.005"), D("0.0075"), "")


def test_cached_input_is_included_in_input() -> None:
    """gpt-4o, 400 of 1000 input tokens cached: 600 * 2.50 + 400 * 1.25 = $0.002."""
    usage = Usage(input_tokens=1000, output_tokens=500, total_tokens=1500, cached_tokens=400)
    cost = cost_of("openai", "gpt-4o", usage)
    assert (cost.input, cost.output, cost.total) == (D("0.002"), D("0.005"), D("0.007"))


def test_anthropic_cache_read_and_write() -> None:
    """claude-sonnet-4: 5000 plain * 3 + 2000 read * 0.30 + 3000 written * 3.75; 1000 out * 15."""
    usage = Usage(
        input_tokens=10_000,
        output_tokens=1000,
        total_tokens=11_000,
        cached_tokens=2000,
        cache_write_tokens=3000,
    )
    cost = cost_of("anthropic", "claude-sonnet-4-20250514", usage)
    assert (cost.input, cost.output, cost.total) == (D("0.02685"), D("0.015"), D("0.04185"))


def test_reasoning_with_a_distinct_rate() -> None:
    """600 of 1000 output tokens are reasoning: 400 * 4 + 600 * 8 = $0.0064."""
    price = Price(input=D(1), output=D(4), reasoning_output=D(8))
    usage = Usage(input_tokens=100, output_tokens=1000, total_tokens=1100, reasoning_tokens=600)
    assert compute_cost(usage, price) == Cost(D("0.0001"), D("0.0064"), D("0.0065"), "")


def test_reasoning_without_its_own_rate_is_billed_as_output() -> None:
    """o3: reasoning tokens inside 1000 output tokens cost the output rate, $8/M."""
    usage = Usage(input_tokens=0, output_tokens=1000, total_tokens=1000, reasoning_tokens=600)
    cost = cost_of("openai", "o3", usage)
    assert (cost.input, cost.output, cost.total) == (D(0), D("0.008"), D("0.008"))


def test_xai_reasoning_reported_on_top_is_added() -> None:
    """grok-3-mini: total = in + out + reasoning, so the 200 reasoning tokens are billed on top."""
    usage = Usage(input_tokens=100, output_tokens=50, total_tokens=350, reasoning_tokens=200)
    cost = cost_of("xai", "grok-3-mini", usage)
    assert (cost.input, cost.output, cost.total) == (D("0.00003"), D("0.000125"), D("0.000155"))


def test_cache_tokens_beyond_input_are_billed_on_top() -> None:
    """Native Anthropic counts (cache outside input_tokens) are not silently under-billed."""
    usage = Usage(input_tokens=100, output_tokens=0, total_tokens=100, cached_tokens=1000)
    cost = cost_of("anthropic", "claude-sonnet-4", usage)
    assert cost.input == D("0.0006")  # 100 * 3 + 1000 * 0.30
    assert "billed on top" in cost.caveat


def test_unknown_price_is_null_not_zero() -> None:
    """No price: every cost is None, with a caveat."""
    assert TABLE.lookup("ollama", "llama3.1") is None
    assert TABLE.lookup("openai", "gpt-9-ultra") is None
    cost = compute_cost(Usage(input_tokens=10, output_tokens=10, total_tokens=20), None)
    assert (cost.input, cost.output, cost.total) == (None, None, None)
    assert cost.caveat == "unknown price"


def test_free_models_cost_exactly_zero() -> None:
    """A 0 price and OpenRouter's :free variants are free, not unknown."""
    usage = Usage(input_tokens=10, output_tokens=10, total_tokens=20)
    assert cost_of("zai", "glm-4.5-flash", usage) == Cost(D(0), D(0), D(0), "")
    assert TABLE.lookup("openrouter", "deepseek/deepseek-r1:free") == FREE
    assert FREE.free and not TABLE.lookup("openai", "gpt-4o").free  # type: ignore[union-attr]


def test_missing_base_rate_makes_that_side_unknown() -> None:
    """Output tokens with no output rate: output and total are None; with none used, zero."""
    price = Price(input=D(1))
    cost = compute_cost(Usage(input_tokens=10, output_tokens=5, total_tokens=15), price)
    assert (cost.input, cost.output, cost.total) == (D("0.00001"), None, None)
    assert cost.caveat == "no output price"
    embedding = compute_cost(Usage(input_tokens=10, total_tokens=10), price)
    assert embedding == Cost(D("0.00001"), D(0), D("0.00001"), "")


def test_missing_special_rate_falls_back_to_base() -> None:
    """Cached tokens of a model without a cached rate cost the input rate."""
    usage = Usage(input_tokens=1000, total_tokens=1000, cached_tokens=500)
    assert compute_cost(usage, Price(input=D(2), output=D(0))).input == D("0.002")


def test_audio_tokens_get_a_caveat() -> None:
    """Audio tokens are billed at the text rate, and the cost says so."""
    usage = Usage(
        input_tokens=10,
        total_tokens=10,
        raw={"prompt_tokens_details": {"audio_tokens": 4}},
    )
    assert cost_of("openai", "gpt-4o", usage).caveat == "audio tokens billed at the text rate"


@pytest.mark.parametrize(
    ("provider_type", "model", "same_as"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "o3-2025-04-16", "o3"),
        ("anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gemini", "gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
    ],
)
def test_snapshot_suffix_falls_back_to_the_base_model(
    provider_type: str, model: str, same_as: str
) -> None:
    """A dated snapshot id is priced as its base model."""
    price = TABLE.lookup(provider_type, model)
    assert price is not None and price == TABLE.lookup(provider_type, same_as)


def test_exact_snapshot_entry_wins_over_the_base_model() -> None:
    """gpt-4o-2024-05-13 has its own (higher) price."""
    assert TABLE.lookup("openai", "gpt-4o-2024-05-13") == Price(input=D(5), output=D(15))


def test_azure_and_openrouter_reuse_vendor_prices() -> None:
    """azure bills from openai's list; openrouter's vendor/model ids from the vendor's."""
    gpt4o = TABLE.lookup("openai", "gpt-4o")
    assert TABLE.lookup("azure", "gpt-4o-2024-11-20") == gpt4o
    assert TABLE.lookup("openrouter", "openai/gpt-4o") == gpt4o
    sonnet = TABLE.lookup("anthropic", "claude-3-7-sonnet")
    assert TABLE.lookup("openrouter", "anthropic/claude-3.7-sonnet") == sonnet
    assert TABLE.lookup("openrouter", "google/gemini-2.5-flash") == TABLE.lookup(
        "gemini", "gemini-2.5-flash"
    )
    assert TABLE.lookup("openrouter", "meta-llama/llama-3.3-70b-instruct") is None
    assert TABLE.lookup("openrouter", "openai/gpt-4o:nitro") is None
    assert TABLE.lookup("groq", "openai/gpt-oss-120b") == Price(input=D("0.15"), output=D("0.75"))


def test_overrides_replace_and_extend() -> None:
    """Config entries replace a model's whole price, add models and providers; floats are exact."""
    table = PriceTable.from_package(
        {
            "openai": {"gpt-4o": {"input": 0.1, "output": "0.3"}},
            "ollama": {"llama3.1": {"input": 0, "output": 0}},
            "azure": {"gpt-4o": {"input": 1, "output": 2}},
        }
    )
    assert table.lookup("openai", "gpt-4o") == Price(input=D("0.1"), output=D("0.3"))
    assert table.lookup("ollama", "llama3.1:8b") is None
    assert table.lookup("ollama", "llama3.1") == FREE
    assert table.lookup("azure", "gpt-4o") == Price(input=D(1), output=D(2))
    assert table.lookup("azure", "gpt-4o-mini") == TABLE.lookup("openai", "gpt-4o-mini")
    assert TABLE.lookup("openai", "gpt-4o") != table.lookup("openai", "gpt-4o")  # no mutation


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"openai": {"gpt-4o": {"inptu": 1}}}, "prices.openai.gpt-4o.inptu"),
        ({"openai": {"gpt-4o": {"input": -1}}}, "prices.openai.gpt-4o.input"),
        ({"openai": {"gpt-4o": {"input": True}}}, "prices.openai.gpt-4o.input"),
        ({"openai": {"gpt-4o": {"input": "cheap"}}}, "prices.openai.gpt-4o.input"),
        ({"openai": {"gpt-4o": {"input": "NaN"}}}, "prices.openai.gpt-4o.input"),
        ({"openai": {"gpt-4o": 3}}, "prices.openai.gpt-4o"),
        ({"openai": ["gpt-4o"]}, "prices.openai"),
    ],
)
def test_bad_overrides_name_the_setting(override: object, setting: str) -> None:
    """A bad price in the config file is a ConfigError naming where it is."""
    with pytest.raises(ConfigError) as caught:
        PriceTable.from_package(override)  # type: ignore[arg-type]
    assert caught.value.setting == setting


def test_shipped_table_is_sane() -> None:
    """Every paid provider type has prices; rates are >= 0 and cache reads never cost more."""
    assert TABLE.as_of
    paid = set(SPECS) - {"ollama", "vllm", "oracle", "azure", "openrouter"}
    assert paid <= {ptype for ptype, models in TABLE.prices.items() if models}
    for models in TABLE.prices.values():
        for price in models.values():
            assert price.input is not None and price.output is not None
            for field in RATE_FIELDS:
                rate = getattr(price, field)
                assert rate is None or rate >= 0
            assert price.cached_input is None or price.cached_input <= price.input


@given(
    plain=st.integers(0, 10**7),
    cached=st.integers(0, 10**7),
    written=st.integers(0, 10**7),
    plain_out=st.integers(0, 10**7),
    reasoning=st.integers(0, 10**7),
    rates=st.lists(
        st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False), min_size=5, max_size=5
    ),
)
def test_cost_is_exact(
    plain: int, cached: int, written: int, plain_out: int, reasoning: int, rates: list[Decimal]
) -> None:
    """The decimal result equals the formula in exact rationals, for any counts and rates."""
    price = Price(*rates)
    usage = Usage(
        input_tokens=plain + cached + written,
        output_tokens=plain_out + reasoning,
        total_tokens=plain + cached + written + plain_out + reasoning,
        cached_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )
    i, o, c, w, r = (Fraction(x) for x in rates)  # Price's field order
    million = 10**6
    expected_in = Fraction(plain * i + cached * c + written * w, million)
    expected_out = Fraction(plain_out * o + reasoning * r, million)
    cost = compute_cost(usage, price)
    assert cost.input is not None and cost.output is not None and cost.total is not None
    assert Fraction(cost.input) == expected_in
    assert Fraction(cost.output) == expected_out
    assert Fraction(cost.total) == expected_in + expected_out


def test_remembered_lookups_stay_with_their_table() -> None:
    """lookup() remembers its answers (every row is priced); a table built with overrides from
    one that has answered before gives its own prices, and client-chosen names cannot grow the
    memory without bound."""
    base = PriceTable.from_package()
    before = base.lookup("openai", "gpt-4o")
    assert before is not None
    assert base.lookup("openai", "gpt-4o") is before  # the same answer again
    over = base.with_overrides({"openai": {"gpt-4o": {"input": 0.1, "output": "0.3"}}})
    assert over.lookup("openai", "gpt-4o") == Price(input=D("0.1"), output=D("0.3"))
    assert base.lookup("openai", "gpt-4o") is before
    for n in range(5000):
        assert base.lookup("openai", f"made-up-{n}") is None
    assert len(base._found) <= 4096
    assert base.lookup("openai", "gpt-4o-mini-2024-07-18") == base.lookup("openai", "gpt-4o-mini")


def test_pricing_again_never_answers_for_another_usage() -> None:
    """The usage row and the budget's settle price one exchange's usage twice, so recent answers
    are kept; a new usage (even at a freed object's address) is priced afresh."""
    price = Price(input=D(1), output=D(2))
    for n in range(1, 2000):
        usage = Usage(input_tokens=n, output_tokens=n, total_tokens=2 * n)
        assert compute_cost(usage, price).total == D(3 * n) / 10**6
        assert compute_cost(usage, price).total == D(3 * n) / 10**6
        del usage  # its address is free for the next one
