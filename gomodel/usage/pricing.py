"""Prices per million tokens, and the cost of one request's usage, in exact decimals.

The price table ships with the package (``prices.json``, public list prices, dated) and the
config file's ``prices:`` section overrides or extends it::

    prices:
      openai:
        gpt-4o: {input: 2.5, cached_input: 1.25, output: 10}
      ollama:
        llama3.1: {input: 0, output: 0}      # self-hosted: say it is free

Counts follow OpenAI's semantics (see :class:`gomodel.usage.extract.Usage`): cache reads and
cache writes are *included* in ``input_tokens``, reasoning tokens in ``output_tokens``. With rates
in USD per million tokens::

    input cost  = ( (input - cached - cache_write) * input
                  + cached      * (cached_input     or input)
                  + cache_write * (cache_write      or input) ) / 1e6
    output cost = ( (output - reasoning) * output
                  + reasoning   * (reasoning_output or output) ) / 1e6
    total       = input cost + output cost

How this maps SPEC §7.2's per-provider rules:

* openai, azure, openrouter, groq, deepseek, zai, gemini: cached and reasoning tokens are
  "included in base", exactly the formula above (gemini's ``thought_tokens`` are reasoning).
* anthropic: the Messages API reports cache reads and writes *on top of* ``input_tokens``. Our
  translation folds them into ``input_tokens`` (and ``row_from_record`` does the same for
  passthrough bodies), so "added on top" there is "included" here: the same bill.
* xai: reasoning tokens are reported *on top of* ``completion_tokens``. That shows in the counts
  (``total == input + output + reasoning``), and then they are added on top here too.
* A special rate that is missing bills those tokens at the base rate (SPEC: "treated as covered
  by the base rate").

No price means every cost is ``None``, never a fake zero; a model known to be free (a ``0``
price, OpenRouter's ``:free`` variants) costs exactly zero. A side whose base rate is missing
while it has tokens to bill is ``None``, and so is the total. ``Cost.caveat`` says why.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import decimal
import importlib.resources
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

import attrs
import orjson

from gomodel.errors import ConfigError
from gomodel.usage.extract import Usage

__all__ = ["FREE", "RATE_FIELDS", "Cost", "Price", "PriceTable", "compute_cost"]

RATE_FIELDS = ("input", "cached_input", "cache_write", "output", "reasoning_output")

# Exact: the products have at most ~20 significant digits; nothing here ever rounds.
_EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation])

# A trailing snapshot tag: -2024-07-18, -20250514, -06-05 and -09-2025 (gemini previews), -001,
# -latest.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{2}-\d{2}|\d{2}-\d{4}|\d{3}|latest)$")


_FOUND_MAX = 4096  # lookups remembered per table


@attrs.frozen(slots=True)
class Price:
    """USD per million tokens. ``None``: no such rate (special rates then fall back to base)."""

    input: Decimal | None = None
    output: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    reasoning_output: Decimal | None = None

    @property
    def free(self) -> bool:
        return self.input == 0 and self.output == 0


FREE = Price(input=Decimal(0), output=Decimal(0))


@attrs.frozen(slots=True)
class Cost:
    """USD. ``None``: unknown (no price, or no rate for tokens that were used)."""

    input: Decimal | None
    output: Decimal | None
    total: Decimal | None
    caveat: str = ""  # why a cost is unknown or approximate; "; "-joined, sorted


UNKNOWN = Cost(None, None, None, "unknown price")


def _rate(value: object, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ConfigError(where, f"expected a number, got {value!r}")
    try:
        rate = Decimal(str(value).strip())  # str(0.1) == "0.1": no binary float residue
    except decimal.InvalidOperation:
        raise ConfigError(where, f"expected a number, got {value!r}")
    if not rate.is_finite() or rate < 0:
        raise ConfigError(where, f"expected a price >= 0, got {value!r}")
    return rate


def _price(raw: object, where: str) -> Price:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, f"expected a mapping of rates, got {raw!r}")
    unknown = sorted(str(k) for k in raw if k not in RATE_FIELDS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", f"unknown rate, expected one of {', '.join(RATE_FIELDS)}"
        )
    rates = {k: _rate(v, f"{where}.{k}") for k, v in raw.items() if v is not None}
    return Price(**rates)


def _names(model: str) -> Iterator[str]:
    """The names a model's price may be under, most specific first."""
    base = model.removeprefix("models/")  # gemini's native ids
    for name in dict.fromkeys((model, base, _SNAPSHOT.sub("", base))):
        yield name
        if name.startswith("claude-") and "." in name:
            yield name.replace(".", "-")  # OpenRouter spells claude-3-7-sonnet claude-3.7-sonnet


@attrs.frozen
class PriceTable:
    """``{provider_type: {model: Price}}`` plus the rules that find a model's entry."""

    prices: Mapping[str, Mapping[str, Price]] = attrs.field(factory=dict)
    # A provider type that bills from another's list (azure: openai's).
    shares_table_with: Mapping[str, str] = attrs.field(factory=dict)
    # Aggregators' ``vendor/model`` ids that are billed at the vendor's list price.
    vendor_namespaces: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    # Aggregators' model suffix for free variants (OpenRouter's ``:free``).
    free_variants: Mapping[str, str] = attrs.field(factory=dict)
    as_of: str = ""
    # lookup()'s answers: every request prices its row, mostly for the same few models, and a
    # lookup tries several spellings through a regex (docs/benchmarks.md). Bounded: model names
    # come from clients and providers.
    _found: dict[tuple[str, str], Price | None] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    @classmethod
    def from_package(
        cls, overrides: Mapping[str, Mapping[str, Mapping[str, str | float]]] | None = None
    ) -> PriceTable:
        """The shipped table, with ``overrides`` (the config file's ``prices:``) on top.

        An override replaces the model's whole entry. Raises :class:`ConfigError` on a bad one.
        """
        data = orjson.loads(
            importlib.resources.files("gomodel.usage").joinpath("prices.json").read_bytes()
        )
        table = cls.from_mapping(data)
        return table.with_overrides(overrides) if overrides else table

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PriceTable:
        """A table from the ``prices.json`` layout."""
        prices = {
            ptype: {model: _price(raw, f"prices.{ptype}.{model}") for model, raw in models.items()}
            for ptype, models in data.get("prices", {}).items()
        }
        return cls(
            prices=prices,
            shares_table_with=dict(data.get("shares_table_with", {})),
            vendor_namespaces={k: dict(v) for k, v in data.get("vendor_namespaces", {}).items()},
            free_variants=dict(data.get("free_variants", {})),
            as_of=str(data.get("as_of", "")),
        )

    def with_overrides(
        self, overrides: Mapping[str, Mapping[str, Mapping[str, Any]]]
    ) -> PriceTable:
        """This table with each overridden model's entry replaced (or added)."""
        if not isinstance(overrides, Mapping):
            raise ConfigError("prices", f"expected a mapping of provider types, got {overrides!r}")
        prices = {ptype: dict(models) for ptype, models in self.prices.items()}
        for ptype, models in overrides.items():
            if not isinstance(models, Mapping):
                raise ConfigError(
                    f"prices.{ptype}", f"expected a mapping of models, got {models!r}"
                )
            for model, raw in models.items():
                prices.setdefault(str(ptype), {})[str(model)] = _price(
                    raw, f"prices.{ptype}.{model}"
                )
        return attrs.evolve(self, prices=prices)

    def lookup(self, provider_type: str, model: str) -> Price | None:
        """The price of ``model`` served by a provider of ``provider_type``, or ``None``.

        Tries, in order: the exact id, the id without ``models/`` and without a snapshot suffix
        (``-2024-07-18``, ``-20250514``, ``-001``, ``-latest``), first in the provider type's own
        table, then in the one it shares (azure: openai). For an aggregator: its free variant
        (``deepseek/deepseek-r1:free``), then ``vendor/model`` at the vendor's price.
        """
        key = (provider_type, model)
        try:
            return self._found[key]
        except KeyError:
            pass
        price = self._lookup(provider_type, model)
        if len(self._found) < _FOUND_MAX:
            self._found[key] = price
        return price

    def _lookup(self, provider_type: str, model: str) -> Price | None:
        ptype = provider_type
        seen: set[str] = set()
        while ptype and ptype not in seen:
            seen.add(ptype)
            models = self.prices.get(ptype, {})
            for name in _names(model):
                if (price := models.get(name)) is not None:
                    return price
            ptype = self.shares_table_with.get(ptype, "")
        suffix = self.free_variants.get(provider_type)
        if suffix and model.endswith(suffix):
            return FREE
        namespace, slash, name = model.partition("/")
        vendor = self.vendor_namespaces.get(provider_type, {}).get(namespace)
        if slash and vendor and vendor != provider_type and ":" not in name:
            return self._lookup(vendor, name)
        return None


def _or(special: Decimal | None, base: Decimal | None) -> Decimal | None:
    """A special rate, or the base rate when there is none (SPEC §7.2)."""
    return base if special is None else special


def _tokens_cost(parts: list[tuple[int, Decimal | None]]) -> Decimal | None:
    """sum(tokens * rate) / 1e6; ``None`` if tokens are to be billed at a missing rate."""
    total = Decimal(0)
    for tokens, rate in parts:
        if tokens == 0:
            continue
        if rate is None:
            return None
        total = _EXACT.add(total, _EXACT.multiply(Decimal(tokens), rate))
    return total.scaleb(-6, _EXACT)


def _has_audio(raw: Mapping[str, Any]) -> bool:
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        details = raw.get(key)
        if isinstance(details, Mapping):
            audio = details.get("audio_tokens")
            if isinstance(audio, int) and not isinstance(audio, bool) and audio > 0:
                return True
    return False


# Recent answers of compute_cost by the identity of its arguments (both frozen): an exchange's
# usage is priced for its usage row and again to settle its budget, with other requests'
# exchanges in between. Each entry keeps its arguments alive, so an id is never reused inside.
_RECENT: dict[tuple[int, int], tuple[Usage, Price, Cost]] = {}
_RECENT_SIZE = 256


def compute_cost(usage: Usage, price: Price | None) -> Cost:
    """The cost of ``usage`` at ``price`` (formula in the module docstring); exact."""
    if price is None:
        return UNKNOWN
    key = (id(usage), id(price))
    recent = _RECENT.get(key)
    if recent is not None:
        return recent[2]
    cost = _compute_cost(usage, price)
    if len(_RECENT) >= _RECENT_SIZE:
        _RECENT.clear()
    _RECENT[key] = (usage, price, cost)
    return cost


def _compute_cost(usage: Usage, price: Price) -> Cost:
    caveats: list[str] = []
    cached, written = usage.cached_tokens, usage.cache_write_tokens
    if cached + written <= usage.input_tokens:
        uncached = usage.input_tokens - cached - written
    else:  # cannot be included: the provider counted them on top (Anthropic's native counts)
        uncached = usage.input_tokens
        caveats.append("cache tokens exceed input tokens; billed on top")
    reasoning = usage.reasoning_tokens
    counted = usage.input_tokens + usage.output_tokens
    on_top = reasoning > 0 and usage.total_tokens == counted + reasoning
    if on_top or reasoning > usage.output_tokens:  # xAI: reasoning reported on top of output
        plain = usage.output_tokens
    else:
        plain = usage.output_tokens - reasoning
    input_cost = _tokens_cost(
        [
            (uncached, price.input),
            (cached, _or(price.cached_input, price.input)),
            (written, _or(price.cache_write, price.input)),
        ]
    )
    output_cost = _tokens_cost(
        [
            (plain, price.output),
            (reasoning, _or(price.reasoning_output, price.output)),
        ]
    )
    if input_cost is None:
        caveats.append("no input price")
    if output_cost is None:
        caveats.append("no output price")
    if _has_audio(usage.raw):
        caveats.append("audio tokens billed at the text rate")
    total = None
    if input_cost is not None and output_cost is not None:
        total = _EXACT.add(input_cost, output_cost)
    return Cost(input_cost, output_cost, total, "; ".join(sorted(caveats)))
