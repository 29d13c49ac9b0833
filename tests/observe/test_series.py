"""The series table, the Metrics attributes and docs/observability.md agree; instruments take
their labels in order and do nothing when metrics are off."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from gomodel.observe.metrics import NO_METRICS, Metrics
from gomodel.observe.series import SERIES
from tests.observe.scrape import parse, total

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def test_every_series_has_an_attribute_and_a_doc_row() -> None:
    fields = {f.name for f in attrs.fields(Metrics)} - {"enabled", "exposition", "model_label"}
    assert fields == {s.attribute for s in SERIES}
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(), re.MULTILINE))
    assert {s.name.removeprefix("gomodel_") for s in SERIES} <= documented


def test_disabled_instruments_do_nothing() -> None:
    NO_METRICS.retries.inc("a", "b")
    NO_METRICS.requests_in_flight.dec("x", "y", "z")
    NO_METRICS.request_duration_seconds.observe(1.0, "x", "y", "z")
    NO_METRICS.flush()
    assert NO_METRICS.exposition is None


def test_buffered_updates_reach_the_scrape_at_flush() -> None:
    metrics = Metrics.create()
    metrics.retries.inc("openai", "status_503")
    metrics.retries.inc("openai", "status_503", amount=2)
    metrics.circuit_breaker_state.set(2, "openai")
    metrics.gateway_overhead_seconds.observe(0.0003, "/v1/chat/completions", "openai", "false")
    metrics.gateway_overhead_seconds.observe(7.0, "/v1/chat/completions", "openai", "false")
    assert metrics.exposition is not None
    assert total(parse(metrics.exposition.render().decode()), "gomodel_retries_total") == 0
    metrics.flush()
    s = parse(metrics.exposition.render().decode())
    assert total(s, "gomodel_retries_total", provider="openai", reason="status_503") == 3
    assert total(s, "gomodel_circuit_breaker_state", provider="openai") == 2
    assert total(s, "gomodel_gateway_overhead_seconds_count") == 2
    assert total(s, "gomodel_gateway_overhead_seconds_bucket", le="0.0005") == 1
    assert total(s, "gomodel_gateway_overhead_seconds_bucket", le="+Inf") == 2
    assert total(s, "gomodel_gateway_overhead_seconds_sum") == pytest.approx(7.0003)
    with pytest.raises(ValueError, match="takes labels"):
        metrics.retries.inc("openai")
