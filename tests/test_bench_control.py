"""The control-plane variants of the bench (tests/bench/control.py) without Redis: skipped
with a note, reported as skipped, their targets n/a, nothing started and nothing crashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import run
from tests.bench.control_check import ControlCheck
from tests.bench.report import markdown
from tests.bench.results import Cell, Results
from tests.bench.servers import free_port
from tests.bench.targets import control_targets
from tests.bench.ttfb import curl_config
from tests.bench.turns import TurnRatio
from tests.bench.wrk import WrkResult


def _results() -> Results:
    options = {
        "duration": 0.5,
        "warmup": 0.0,
        "concurrency": [1, 10],
        "workers": [1],
        "workloads": ["chat", "stream"],
        "with_litellm": False,
        "smoke": True,
    }
    machine = {
        "date": "-",
        "git_commit": "",
        "cpu_count": 2,
        "cpu_model": "-",
        "python": "-",
        "wrk": "-",
        "loadavg": (0.0, 0.0, 0.0),
    }
    return Results(options=options, machine=machine)


def test_unreachable_redis_skips_the_variants(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BENCH_REDIS_URL", f"redis://127.0.0.1:{free_port()}")  # nobody listens
    plan = run.Plan(0.5, 0.0, [1, 10], [1], ["chat", "stream"], False, (1, 1), 0, 0, 0, tmp_path)
    results = _results()
    run._control(results, plan, "http://127.0.0.1:1", 1)  # the mock is never reached
    assert [(c.variant, c.verified) for c in results.control] == [
        ("gomodel-limits", False),
        ("gomodel-full", False),
    ]
    assert all("does not answer" in (c.skipped or "") for c in results.control)
    assert results.cells == [] and results.servers == []
    report = markdown(results)
    assert "gomodel-limits 1 worker: **skipped**: Redis at redis://127.0.0.1:" in report
    assert all(t.verdict == "n/a" and "skipped" in t.note for t in control_targets(results))


def test_curl_sends_the_servers_headers(tmp_path: Path) -> None:
    body = tmp_path / "b.json"
    plain = curl_config("http://h/v1/chat/completions", body, 2)
    keyed = curl_config("http://h/v1/chat/completions", body, 2, {"Authorization": "Bearer k"})
    assert "Authorization" not in plain
    assert 'header = "Authorization: Bearer k"' in keyed
    assert keyed.replace('header = "Authorization: Bearer k"\n', "") == plain


def test_targets_are_judged_in_turns() -> None:
    """Measured minutes apart, limits look slow (a load spike hit them); in turns with plain
    they are not: the verdict is the turns' median, the lines measured apart only inform."""
    results = _results()
    wrk = {
        name: WrkResult(requests=100, duration_s=1.0, rps=rps, p50_ms=1.0)
        for name, rps in (("plain", 100.0), ("limits", 60.0))
    }
    for c in (1, 10):
        results.cells.append(Cell("chat", c, "gomodel", 1, wrk["plain"], 0.1))
        results.cells.append(Cell("chat", c, "gomodel-limits", 1, wrk["limits"], 0.1))
    results.control.append(ControlCheck("gomodel-limits", 1))
    results.turns.append(
        TurnRatio("gomodel-limits", "chat", 10, 1, [0.86, 0.97, 0.91], [1.1, 1.0, 1.2], [0, 1, 2])
    )
    lines = [t for t in control_targets(results) if t.name.startswith("gomodel-limits chat")]
    assert [(t.measured, t.deciding) for t in lines] == [(0.6, False), (0.6, False), (0.91, True)]
    assert lines[-1].verdict == "met"
    report = markdown(results)
    assert "| gomodel-limits | chat | 10 | 1 | 3 | 0.910 (0.860 to 0.970) |" in report
    # Without turns (an older run), the top concurrency measured apart decides.
    results.turns.clear()
    lines = [t for t in control_targets(results) if t.name.startswith("gomodel-limits chat")]
    assert [t.deciding for t in lines] == [False, True] and lines[-1].verdict == "missed"
