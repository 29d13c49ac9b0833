"""How the long-stream figures are judged and reported (tests/bench/targets.py,
longstream_report.py), from made-up runs: no servers, no timing.

The target at 5,000 streams has two ways to be met (memory back within 10% of rest, or a second
identical run adding nothing: the allocator's high-water mark, not a leak); a report that called
a leak met, or a high-water mark missed, would mislead the reader.
"""

from __future__ import annotations

from tests.bench.longstream import LongStreamCell, LongStreamResult, StreamRun
from tests.bench.longstream_report import cost_growth, long_streams
from tests.bench.pacer import LoadResult, Spread
from tests.bench.results import Results
from tests.bench.targets import evaluate


def _load(streams: int, *, reset: int = 0, lag_p99: float = 2.0) -> LoadResult:
    return LoadResult(
        streams=streams,
        events_per_stream=40,
        started=streams,
        completed=streams - reset,
        refused=0,
        reset=reset,
        incomplete=0,
        closed_before_response=0,
        non_200=0,
        connect_errors=0,
        timed_out=0,
        events=streams * 40,
        probes_sent=10,
        probes_ok=10,
        probes_failed=0,
        wall_s=4.0,
        lag_ms=Spread(streams * 40, 1.0, lag_p99, lag_p99 * 2, 1.2),
        probe_ttfb_ms=Spread(10, 2.0, 8.0, 8.0, 3.0),
    )


def _cell(streams: int, rest: float, afters: list[float], *, reset: int = 0) -> LongStreamCell:
    cell = LongStreamCell("gomodel", streams, 20, 1000.0, streams >= 5000, rss_rest_mb=rest)
    for after in afters:
        cell.runs.append(StreamRun(_load(streams, reset=reset), after + 5, after, 1.0))
    return cell


def _results(*cells: LongStreamCell) -> Results:
    options = {"workloads": [], "concurrency": [1], "workers": [1], "with_litellm": False}
    results = Results(options=options, machine={})
    results.long_streams = LongStreamResult(20, 1000.0, list(cells))
    return results


def _verdict(results: Results, start: str) -> str:
    return next(t.verdict for t in evaluate(results) if t.name.startswith(start))


AFTER = "long streams: RSS after"


def test_memory_back_within_ten_percent_is_met() -> None:
    assert _verdict(_results(_cell(5000, 100.0, [108.0, 130.0])), AFTER) == "met"


def test_a_high_water_mark_is_met_and_a_leak_is_missed() -> None:
    high_water = _results(_cell(5000, 100.0, [160.0, 161.0]))
    leak = _results(_cell(5000, 100.0, [160.0, 190.0]))
    assert _verdict(high_water, AFTER) == "met"
    assert _verdict(leak, AFTER) == "missed"


def test_resets_at_five_thousand_miss_the_target() -> None:
    assert _verdict(_results(_cell(5000, 100.0, [100.0, 100.0])), "long streams: 0 conn") == "met"
    reset = _results(_cell(5000, 100.0, [100.0, 100.0], reset=3))
    assert _verdict(reset, "long streams: 0 conn") == "missed"


def test_thousand_stream_targets_give_the_gap() -> None:
    cell = _cell(1000, 50.0, [80.0, 80.0])  # peak 85: 35 MB over 1,000 streams, 35 KB each
    cell.runs[0].load.lag_ms = Spread(1, 1.0, 25.0, 30.0, 2.0)
    targets = {t.name: t for t in evaluate(_results(cell))}
    rss = targets["long streams: RSS per open stream <= 30 KB"]
    lag = targets["long streams: event lag p99 <= 5 ms"]
    ttfb = targets["long streams: new request TTFB p99 <= 10 ms"]
    assert (rss.verdict, round(rss.measured or 0)) == ("missed", 35)
    assert (lag.verdict, lag.note) == ("missed", "5.0x the threshold")
    assert ttfb.verdict == "met"


def test_report_rows_and_growth() -> None:
    results = _results(_cell(1000, 50.0, [80.0, 82.0], reset=2))
    results.charts_note = "matplotlib is not installed"
    table = "\n".join(long_streams(results))
    assert "| gomodel | 1,000 | 20 | over 1 s | 2 |" in table
    assert "+2.0" in table  # the second run's addition
    assert "**998/1000; 0 / 2**" in table  # resets stand out
    growth = "\n".join(cost_growth(results))
    assert "N=1,000: 10,000 events/s, 0.025 ms CPU per event, RSS peak 85.0 MB" in growth
    assert "matplotlib is not installed" in growth
