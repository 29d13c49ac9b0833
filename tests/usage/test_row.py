"""The stored usage row: built from a request's record, and carried through JSON lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.termination import Termination
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import Price, PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import UsageRow, from_json_line, row_from_record, to_json_line

TABLE = PriceTable.from_package()
NOW = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
ROW_ID = "6F9619FF-8B86-4011-B42D-00C04FC964FF"
D = Decimal


def record(**changes: object) -> UsageRecord:
    base = UsageRecord(
        request_id="req-1",
        provider="main-openai",
        provider_type="openai",
        requested_model="gpt-4o",
        model="gpt-4o-2024-08-06",
        endpoint="/v1/chat/completions",
        route="rewrite",
        stream=True,
        usage=Usage(input_tokens=1000, output_tokens=500, total_tokens=1500, raw={"x": 1}),
        complete=True,
        status=200,
        termination=Termination.COMPLETED,
        provider_id="chatcmpl-1",
    )
    return attrs.evolve(base, **changes)


def row(rec: UsageRecord, **kwargs: object) -> UsageRow:
    return row_from_record(rec, prices=TABLE, now=NOW, row_id=ROW_ID, **kwargs)  # type: ignore[arg-type]


def test_row_from_record_maps_every_field() -> None:
    """Names, counts, the priced cost, timings and the canonical id and UTC time."""
    got = row(record(), latency_ms=12.5, ttfb_ms=3.0, overhead_ms=0.75, user_path="/team/a")
    assert got == UsageRow(
        id=ROW_ID.lower(),
        timestamp=datetime(2025, 3, 1, 10, 30, 15, 123456, tzinfo=UTC),
        request_id="req-1",
        provider="main-openai",
        provider_type="openai",
        requested_model="gpt-4o",
        model="gpt-4o-2024-08-06",
        endpoint="/v1/chat/completions",
        route="rewrite",
        stream=True,
        user_path="/team/a",
        status=200,
        termination="completed",
        complete=True,
        input_tokens=1000,
        output_tokens=500,
        total_tokens=1500,
        input_cost=D("0.0025"),
        output_cost=D("0.005"),
        total_cost=D("0.0075"),
        latency_ms=12.5,
        ttfb_ms=3.0,
        overhead_ms=0.75,
        provider_id="chatcmpl-1",
        raw_usage={"x": 1},
    )
    assert got.timestamp.utcoffset() == timedelta(0)
    assert got.total_cost is not None and got.total_cost.as_tuple().exponent == -9


def test_no_usage_means_zero_counts_and_unknown_cost() -> None:
    """A request whose provider reported nothing: zero tokens, null costs, and the reason."""
    got = row(record(usage=None, complete=False, termination=Termination.CLIENT_DISCONNECT))
    assert (got.input_tokens, got.output_tokens, got.total_tokens) == (0, 0, 0)
    assert (got.input_cost, got.output_cost, got.total_cost) == (None, None, None)
    assert got.cost_caveat == "no usage reported"
    assert (got.termination, got.complete) == ("client_disconnect", False)


def test_incomplete_counts_are_priced_and_flagged() -> None:
    """Partial counts still cost what is known, and the caveat says they are partial."""
    got = row(record(complete=False))
    assert got.total_cost == D("0.0075")
    assert got.cost_caveat.startswith("incomplete counts")


def test_unknown_upstream_model_falls_back_to_the_requested_price() -> None:
    """An upstream id without a price is priced as the model the gateway asked for."""
    got = row(record(model="gpt-4o-custom-build"))
    assert got.total_cost == D("0.0075")
    unknown = row(record(provider_type="ollama", model="llama3", requested_model="llama3"))
    assert unknown.total_cost is None and unknown.cost_caveat == "unknown price"


def test_counts_are_stored_as_built_whatever_the_route() -> None:
    """A Usage is OpenAI-style when built; the row adds nothing on any route (Anthropic's
    cache tokens were once added a second time on the passthrough route)."""
    folded = Usage(
        input_tokens=10_000,
        output_tokens=1000,
        total_tokens=11_000,
        cached_tokens=2000,
        cache_write_tokens=3000,
        raw={"input_tokens": 5000, "cache_read_input_tokens": 2000},
    )
    anthropic = {"provider_type": "anthropic", "model": "claude-sonnet-4-20250514"}
    for route in ("passthrough", "translate"):
        got = row(record(usage=folded, route=route, **anthropic))
        assert (got.input_tokens, got.total_tokens) == (10_000, 11_000)
        assert got.total_cost == D("0.04185")  # as in test_pricing's cache-write case


def test_costs_are_rounded_to_the_nano_dollar() -> None:
    """Sub-nano-dollar costs are rounded half-even, the precision storage keeps."""
    prices = PriceTable(prices={"openai": {"tiny": Price(input=D("0.0005"), output=D(0))}})
    usage = Usage(input_tokens=3, total_tokens=3)  # 1.5e-9 USD
    rec = record(model="tiny", requested_model="tiny", usage=usage)
    got = row_from_record(rec, prices=prices, now=NOW, row_id=ROW_ID)
    assert got.input_cost == D("2E-9")


def test_text_is_made_storable() -> None:
    """NUL characters (refused by PostgreSQL) are replaced; the raw usage is detached JSON."""
    raw = {"n": 1, "nested": {"k": [1, 2]}}
    got = row(record(model="gpt\x00-4o", usage=Usage(input_tokens=1, total_tokens=1, raw=raw)))
    assert got.model == "gpt\ufffd-4o"
    assert row(record(model="gpt-\ud800")).model == "gpt-?"  # a lone surrogate: not UTF-8
    assert row(record(provider_id="caf\u00e9")).provider_id == "caf\u00e9"
    assert got.raw_usage == raw and got.raw_usage is not raw


def test_bad_arguments_are_refused() -> None:
    """A naive time or a row id that is not a UUID is a bug in the caller."""
    with pytest.raises(ValueError, match="timezone-aware"):
        row_from_record(record(), prices=TABLE, now=datetime(2025, 1, 1), row_id=ROW_ID)
    with pytest.raises(ValueError):
        row_from_record(record(), prices=TABLE, now=NOW, row_id="not-a-uuid")


def test_json_line_round_trip() -> None:
    """A line ends in a newline and gives back the same row, exact decimals included."""
    got = row(record(), latency_ms=1 / 3, user_path="/a")
    line = to_json_line(got)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = from_json_line(line)
    assert back == got
    assert str(back.total_cost) == str(got.total_cost)
    assert back.timestamp.tzinfo is not None
    empty = row(record(usage=None))
    assert from_json_line(to_json_line(empty)) == empty


def test_damaged_json_line_raises() -> None:
    """A truncated line is an error, not a silently different row."""
    line = to_json_line(row(record()))
    with pytest.raises(ValueError):
        from_json_line(line[: len(line) // 2])


_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
_cost = st.none() | st.decimals(min_value=0, max_value=10**6, places=9, allow_nan=False)
_ms = st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False)


@given(
    st.builds(
        UsageRow,
        id=st.uuids().map(str),
        timestamp=st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
        ),
        request_id=_text,
        provider=_text,
        provider_type=_text,
        requested_model=_text,
        model=_text,
        endpoint=_text,
        route=_text,
        stream=st.booleans(),
        user_path=_text,
        status=st.integers(100, 599),
        termination=st.sampled_from([t.value for t in Termination]),
        complete=st.booleans(),
        input_tokens=st.integers(0, 2**40),
        input_cost=_cost,
        output_cost=_cost,
        total_cost=_cost,
        cost_caveat=_text,
        latency_ms=_ms,
        ttfb_ms=_ms,
        overhead_ms=_ms,
        provider_id=st.none() | _text,
        raw_usage=st.dictionaries(_text, st.integers(-(2**53), 2**53) | _text, max_size=4),
    )
)
def test_any_row_round_trips(original: UsageRow) -> None:
    """Every row survives a JSON line unchanged."""
    assert from_json_line(to_json_line(original)) == original
