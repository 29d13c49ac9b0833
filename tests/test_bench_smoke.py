"""``python -m tests.bench --smoke`` still runs and still measures what it claims to.

No performance threshold: only what a user would notice if the harness rotted (a crash, an
empty or failing cell, a figure missing from the report).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent

Smoke = tuple[dict[str, Any], str]  # the JSON results and the markdown report

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("wrk", "curl", "gcc"))
    or not Path("/usr/include/openssl/ssl.h").exists(),  # the C mock links OpenSSL (--tls)
    reason="the bench needs wrk, curl, gcc and OpenSSL's headers "
    "(apt-get install wrk curl gcc libssl-dev)",
)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Smoke:
    out = tmp_path_factory.mktemp("bench") / "r.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stderr[-4000:]}"
    results = json.loads(out.read_text())
    results["_out"] = str(out)
    return results, out.with_suffix(".md").read_text()


def test_every_cell_measured_without_errors(smoke: Smoke) -> None:
    results, _ = smoke
    options = results["options"]
    cells = {
        (c["workload"], c["concurrency"], c["target"], c["workers"]): c for c in results["cells"]
    }
    expected = []
    for workload in options["workloads"]:
        for concurrency in options["concurrency"]:
            expected.append((workload, concurrency, "direct", None))
            for workers in options["workers"]:
                expected.append((workload, concurrency, "gomodel", workers))
                if workload == "chat":
                    expected.append((workload, concurrency, "hello", workers))
                    expected.append((workload, concurrency, "gomodel-metrics", workers))
                    expected.append((workload, concurrency, "gomodel-audit", workers))
    assert set(options["workloads"]) == {
        "chat",
        "failover",
        "stream",
        "translated",
        "responses",
        "messages",
        "messages_translated",
    }
    for key in expected:
        assert key in cells, f"no measurement for {key}"
        wrk = cells[key]["wrk"]
        assert wrk["requests"] > 0, key
        assert not any(wrk["errors"].values()), (key, wrk["errors"])


def test_streams_have_ttfb(smoke: Smoke) -> None:
    results, _ = smoke
    options = results["options"]
    ttfb = {
        (t["workload"], t["concurrency"], t["target"], t["workers"]): t for t in results["ttfb"]
    }
    for workload in ("stream", "translated", "responses", "messages", "messages_translated"):
        for concurrency in options["concurrency"]:
            keys = [(workload, concurrency, "direct", None)]
            keys += [(workload, concurrency, "gomodel", w) for w in options["workers"]]
            for key in keys:
                assert key in ttfb, f"no TTFB for {key}"
                assert ttfb[key]["ttfb"]["samples"] > 0 and ttfb[key]["ttfb"]["failures"] == 0


def test_routes_memory_startup_disconnects(smoke: Smoke) -> None:
    results, _ = smoke
    gateway = [s for s in results["servers"] if s["target"] == "gomodel"]
    assert gateway
    for run in gateway:
        assert run["rss"]["samples"] > 0 and max(run["rss"]["workers_mb"].values()) > 0
        routes = {check["workload"]: check["route"] for check in run["checks"]}
        assert routes["stream"] == "passthrough"
        assert routes["translated"].startswith("translate")
        assert routes["messages"] == "passthrough"
        assert routes["messages_translated"].startswith("translate")
        assert routes["failover"].endswith("target=openai/gpt-4o-mini; pick=failover")
    assert all(s > 0 for s in results["startup_s"]["gomodel"])
    assert all(s > 0 for s in results["startup_s"]["hello"])
    assert results["disconnect"]["samples"] > 0


def test_control_plane_variants_measured_and_verified(smoke: Smoke) -> None:
    """gomodel-limits and gomodel-full ran chat and stream with a managed key whose spend and
    limits /v1/usage shows, with counters in Redis, without an error or a refusal."""
    results, report = smoke
    options = results["options"]
    cells = {
        (c["workload"], c["concurrency"], c["target"], c["workers"]): c for c in results["cells"]
    }
    ttfb = {(t["workload"], t["concurrency"], t["target"], t["workers"]) for t in results["ttfb"]}
    checks = {(c["variant"], c["workers"]): c for c in results["control"]}
    for variant in ("gomodel-limits", "gomodel-full"):
        for workers in options["workers"]:
            check = checks[(variant, workers)]
            assert check["skipped"] is None and check["problems"] == [], check
            assert check["spend_usd"] > 0 and check["budget_spent_usd"] > 0, check
            assert check["user_path"] == "/bench/team" and check["key_id"], check
            assert check["rate_limits"]["rpm"] > 0 and check["redis_keys"] > 0, check
            assert check["routes"] == {"chat": "passthrough", "stream": "passthrough"}, check
            assert check["statuses"].get("200", 0) > 0 and "429" not in check["statuses"]
            for workload in ("chat", "stream"):
                for concurrency in options["concurrency"]:
                    key = (workload, concurrency, variant, workers)
                    assert key in cells, f"no measurement for {key}"
                    wrk = cells[key]["wrk"]
                    assert wrk["requests"] > 0 and not any(wrk["errors"].values()), (key, wrk)
                    assert cells[key]["cpu_s"] > 0, key
                    assert ("stream", concurrency, variant, workers) in ttfb
        full = checks[("gomodel-full", options["workers"][0])]
        assert full["metrics_ok"] is True and full["audit_entries"] > 0, full
    # Then each in turns with a plain gomodel of its own, at the top concurrency.
    turns = {(t["variant"], t["workload"], t["workers"]): t for t in results["turns"]}
    top = max(options["concurrency"])
    for variant in ("gomodel-limits", "gomodel-full"):
        for workers in options["workers"]:
            for workload in ("chat", "stream"):
                got = turns[(variant, workload, workers)]
                assert got["concurrency"] == top and options["turns"] == 2, got
                assert len(got["rps"]) == len(got["cpu"]) == 2 and all(got["rps"]), got
    assert "In turns with a plain gomodel of their own" in report
    assert "| gomodel-limits | chat | 10 | 1 | 2 |" in report
    assert "in turns with plain gomodel, chat, c=10, 1 worker (median of 2 rounds' ratios)" in (
        report
    )
    assert "## Control plane" in report
    assert "gomodel-limits chat >= 0.85x plain gomodel (issue 14)" in report
    assert "gomodel-full stream >= 0.8x plain gomodel (issue 18)" in report
    assert "gomodel-full adds <= 0.3 ms p50 at c=1 (issue 18)" in report


def test_markdown_report(smoke: Smoke) -> None:
    _, report = smoke
    assert "## Throughput" in report
    assert "## Observability cost" in report
    assert "chat with metrics on >= 0.95x plain chat" in report
    assert "chat with the audit log on (bodies included) >= 0.85x plain chat" in report
    assert "## Time to first byte" in report
    assert "## Targets" in report
    assert "added TTFB over direct" in report and "RSS <=" in report and "startup <" in report
    assert "fast-path Messages >= 1.3x translated Messages throughput" in report


def test_long_streams_all_complete_with_lag_figures(smoke: Smoke) -> None:
    results, _ = smoke
    long = results["long_streams"]
    gateway = [c for c in long["cells"] if c["target"] == "gomodel"]
    direct = [c for c in long["cells"] if c["target"] == "direct"]
    assert [c["streams"] for c in gateway] == [c["streams"] for c in direct] == [20]
    assert [c["events"] for c in long["sweep"]] == [5, 10]
    assert len(gateway[0]["runs"]) == 2  # the same load twice: a leak told from a high mark
    for cell in gateway + direct + long["sweep"]:
        for run in cell["runs"]:
            load = run["load"]
            assert load["completed"] == load["streams"] == cell["streams"], load
            assert load["events"] == cell["streams"] * cell["events"]
            lag = load["lag_ms"]
            assert lag["count"] == load["events"] and lag["max"] >= lag["p99"] >= lag["p50"]
            assert load["probes_sent"] >= 1 and load["probes_failed"] == 0
            assert load["probe_ttfb_ms"]["count"] == load["probes_ok"]
            assert load["stream_ttfb_ms"]["count"] == load["streams"]
    for cell in gateway + long["sweep"]:
        assert cell["rss_rest_mb"] > 0
        for run in cell["runs"]:
            assert run["rss_peak_mb"] > 0 and run["rss_after_mb"] > 0 and run["cpu_s"] > 0


def test_long_streams_in_report(smoke: Smoke) -> None:
    results, report = smoke
    assert "## Long streams" in report and "## How cost grows" in report
    assert "long streams: RSS per open stream <= 30 KB" in report
    assert "long streams: 0 connections refused or reset" in report
    out = Path(results["_out"])
    if results["charts"]:  # matplotlib installed (the bench extra)
        assert {"r-concurrency.png", "r-length.png"} <= set(results["charts"])
        assert all((out.parent / name).stat().st_size > 0 for name in results["charts"])
        assert "![r-length.png](r-length.png)" in report
    else:
        assert "matplotlib" in results["charts_note"] and "matplotlib" in report


def test_tls_upstream_measured_with_reused_connections(smoke: Smoke) -> None:
    """Both sides of every TLS cell measured without errors; the TLS gateway opened each
    upstream connection once (one handshake per connection, at most one per client) and
    served far more requests than it made handshakes."""
    results, report = smoke
    options = results["options"]
    cells = {(c["workload"], c["concurrency"], c["workers"]): c for c in results["tls"]}
    for workload in ("chat", "stream"):
        for concurrency in options["concurrency"]:
            for workers in options["workers"]:
                cell = cells[(workload, concurrency, workers)]
                for side in ("plain", "tls"):
                    wrk = cell[side]["wrk"]
                    assert wrk["requests"] > 0, (workload, concurrency, side)
                    assert not any(wrk["errors"].values()), (workload, side, wrk["errors"])
                    assert cell[side]["cpu_us_per_request"] > 0
                tls = cell["tls"]
                assert tls["upstream_requests"] >= tls["wrk"]["requests"] > 0
                assert tls["handshakes"] <= concurrency * workers
                assert tls["handshakes"] * 4 < tls["upstream_requests"]
                assert cell["plain"]["handshakes"] == 0
    assert "## TLS upstream" in report and "handshakes / 1,000 req" in report
