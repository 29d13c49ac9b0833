"""The markdown report: throughput and latency, TTFB, memory and start-up, checks, targets."""

from __future__ import annotations

from typing import Any

from tests.bench.control_report import control_section
from tests.bench.longstream_report import cost_growth, long_streams
from tests.bench.results import TARGETS, Cell, Results
from tests.bench.stats import DASH, median, ratio
from tests.bench.stats import number as _num
from tests.bench.stats import times as _x
from tests.bench.targets import Target, evaluate, workers_label
from tests.bench.tls import tls_markdown
from tests.bench.ttfb import TtfbResult

__all__ = ["markdown", "table_rows"]

STREAMS = ("stream", "translated", "responses", "messages", "messages_translated")


def _latencies(cell: Cell | None) -> list[float] | None:
    return None if cell is None else [cell.wrk.p50_ms, cell.wrk.p99_ms]


def table_rows(results: Results) -> list[dict[str, Any]]:
    """One row per workload x concurrency x workers: req/s of every target and the ratios."""
    rows = []
    for workload in results.workloads:
        for c in results.concurrencies:
            for w in results.worker_counts:
                cells = {t: results.cell(workload, c, t, w) for t in TARGETS}
                rps = {t: None if cell is None else cell.wrk.rps for t, cell in cells.items()}
                errors = {
                    t: {kind: n for kind, n in cell.wrk.errors.items() if n}
                    for t, cell in cells.items()
                    if cell is not None and cell.wrk.error_count
                }
                rows.append(
                    {
                        "workload": workload,
                        "concurrency": c,
                        "workers": w,
                        "rps": rps,
                        "gomodel_over_direct": ratio(rps["gomodel"], rps["direct"]),
                        "gomodel_over_hello": ratio(rps["gomodel"], rps["hello"]),
                        "gomodel_over_litellm": ratio(rps["gomodel"], rps["litellm"]),
                        "direct_latency_ms": _latencies(cells["direct"]),
                        "gomodel_latency_ms": _latencies(cells["gomodel"]),
                        "errors": errors,
                    }
                )
    return rows


def _latency(pair: list[float] | None) -> str:
    return DASH if pair is None else f"{pair[0]:.2f} / {pair[1]:.2f}"


def _errors(errors: dict[str, dict[str, int]]) -> str:
    if not errors:
        return "0"
    return "; ".join(
        f"**{target}: " + ", ".join(f"{n} {kind}" for kind, n in kinds.items()) + "**"
        for target, kinds in errors.items()
    )


def _throughput(results: Results) -> list[str]:
    lines = [
        "## Throughput (wrk, req/s)",
        "",
        "`direct` is the mock without a gateway (workers do not apply); `hello` is the "
        "hello-world hypercorn app (non-streaming floor, chat only). Latency is wrk's, in ms.",
        "",
        "| workload | c | workers | direct | gomodel | hello | litellm | gomodel÷direct "
        "| gomodel÷hello | gomodel÷litellm | direct p50 / p99 | gomodel p50 / p99 | errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in table_rows(results):
        rps = row["rps"]
        flagged = {t: _num(v) + (" !" if t in row["errors"] else "") for t, v in rps.items()}
        lines.append(
            f"| {row['workload']} | {row['concurrency']} | {row['workers']} "
            f"| {flagged['direct']} | {flagged['gomodel']} | {flagged['hello']} "
            f"| {flagged['litellm']} | {_x(row['gomodel_over_direct'])} "
            f"| {_x(row['gomodel_over_hello'])} | {_x(row['gomodel_over_litellm'])} "
            f"| {_latency(row['direct_latency_ms'])} | {_latency(row['gomodel_latency_ms'])} "
            f"| {_errors(row['errors'])} |"
        )
    return lines


def _observability(results: Results) -> list[str]:
    """Chat with metrics on and with the audit log on (bodies), beside plain chat."""
    if "chat" not in results.workloads:
        return []
    lines = [
        "## Observability cost (chat, wrk, req/s)",
        "",
        "The same gateway with `METRICS_ENABLED=true`, and with `LOGGING_ENABLED`, "
        "`LOGGING_LOG_BODIES` and `LOGGING_LOG_HEADERS` on, measured right after plain chat.",
        "",
        "| c | workers | plain | metrics | metrics÷plain | audit | audit÷plain |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c in results.concurrencies:
        for w in results.worker_counts:
            plain = results.rps("chat", c, "gomodel", w)
            metrics = results.rps("chat", c, "gomodel-metrics", w)
            audit = results.rps("chat", c, "gomodel-audit", w)
            lines.append(
                f"| {c} | {w} | {_num(plain)} | {_num(metrics)} | {_x(ratio(metrics, plain))} "
                f"| {_num(audit)} | {_x(ratio(audit, plain))} |"
            )
    return lines


def _pair(ttfb: TtfbResult | None) -> tuple[str, str]:
    if ttfb is None:
        return DASH, DASH
    return f"{ttfb.p50_ms:.2f}", f"{ttfb.p99_ms:.2f}"


def _ttfb(results: Results) -> list[str]:
    streams = [w for w in results.workloads if w in STREAMS]
    if not streams:
        return []
    lines = [
        "## Time to first byte, streams (curl, ms)",
        "",
        "| workload | c | workers | direct p50 | direct p99 | gomodel p50 | gomodel p99 "
        "| added p50 | litellm p50 | litellm p99 | failed |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for workload in streams:
        for c in results.concurrencies:
            direct = results.ttfb_of(workload, c, "direct", None)
            for w in results.worker_counts:
                gateway = results.ttfb_of(workload, c, "gomodel", w)
                peer = results.ttfb_of(workload, c, "litellm", w)
                added = (
                    None if direct is None or gateway is None else gateway.p50_ms - direct.p50_ms
                )
                failed = sum(t.failures for t in (direct, gateway, peer) if t is not None)
                cells = [
                    *_pair(direct),
                    *_pair(gateway),
                    _num(added, "+.2f"),
                    *_pair(peer),
                    str(failed),
                ]
                lines.append(f"| {workload} | {c} | {w} | " + " | ".join(cells) + " |")
    return lines


def _other(results: Results) -> list[str]:
    lines = ["## Memory, start-up, disconnects", ""]
    for run in results.servers:
        if run.rss is None:
            continue
        workers = ", ".join(f"{mb:.1f}" for mb in sorted(run.rss.workers_mb.values()))
        parent = "" if run.rss.parent_mb is None else f"; parent {run.rss.parent_mb:.1f} MB"
        lines.append(
            f"* RSS, {run.target} {workers_label(run.workers)}, c={run.rss.concurrency}, "
            f"{run.rss.samples} samples: largest per worker **{run.rss.max_worker_mb:.1f} MB** "
            f"(workers: {workers} MB{parent})"
        )
    for target, samples in results.startup_s.items():
        listed = ", ".join(f"{s:.3f}" for s in samples)
        lines.append(
            f"* Start-up to the first `/health` 200, {target} (1 worker): median "
            f"**{median(samples):.3f} s** ({listed})"
        )
    if results.disconnect is not None:
        d = results.disconnect
        lines.append(
            f"* Client close -> provider connection closed, {d.samples} streams: "
            f"p50 **{d.p50_ms:.2f} ms**, p99 {d.p99_ms:.2f} ms"
        )
    return lines


def _soak(results: Results) -> list[str]:
    soak = results.soak
    if soak is None:
        return []
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(soak.outcomes.items()))
    faults = ", ".join(f"{k} {v}" for k, v in sorted(soak.faults.items()) if k != "none")
    fds = ", ".join(f"{k} {soak.fds_start[k]} -> {soak.fds_end[k]}" for k in soak.fds_end)
    rows = (
        "every one with exactly one row"
        if not (soak.rows_missing or soak.rows_doubled or soak.rows_unknown)
        else (
            f"**{soak.rows_missing} without a row, {soak.rows_doubled} ids with two or more, "
            f"{soak.rows_unknown} rows under unknown ids**"
        )
    )
    return [
        "## Soak",
        "",
        f"* `gomodel serve` (1 worker), {soak.concurrency} clients for {soak.seconds:.0f} s "
        f"after a warm-up: **{soak.soak_streams} streams** ({soak.streams_per_second:.0f}/s; "
        f"{soak.streams} with the warm-up, counted below); "
        f"outcomes: {outcomes}; provider faults injected: {faults}; clients that stayed and "
        f"got something else than their fault gives: {len(soak.unexpected)}",
        f"* Provider requests {soak.upstream_requests}, {rows}; usage rows {soak.usage_rows}",
        f"* Open files after the warm-up -> after the soak (load stopped): {fds}",
        f"* RSS after the warm-up {soak.rss_start_mb:.1f} MB -> after the soak "
        f"**{soak.rss_end_mb:.1f} MB** (peak {soak.rss_peak_mb:.1f} MB)",
        f"* Answers afterwards: {'yes' if soak.answers_after else '**no**'}; exit status after "
        f"SIGTERM {soak.exit_code}; error lines in its log: {len(soak.log_errors)}",
    ]


def _checks(results: Results) -> list[str]:
    lines = ["## Checks", ""]
    for run in results.servers:
        routes = [
            f"{c.workload} `{c.route}`" + (" (unexpected)" if c.route_ok is False else "")
            for c in run.checks
            if c.route is not None
        ]
        if routes:
            lines.append(f"* {run.target} {run.workers}w X-GoModel-Route: {', '.join(routes)}")
        for note in run.notes:
            lines.append(f"* {run.target} {run.workers}w: {note}")
        log = run.log
        if log is not None and (run.target != "hello" or log.warnings or log.errors):
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(log.statuses.items()))
            ends = ", ".join(f"{k}: {v}" for k, v in sorted(log.terminations.items()))
            requests = (
                f"request statuses {statuses}; terminations {ends}"
                if statuses
                else "no request lines"
            )
            lines.append(
                f"* {run.target} {run.workers}w log: {log.lines} lines, {requests}; "
                f"{log.warnings} warnings, {log.errors} errors"
            )
            lines += [f"  * `{example}`" for example in log.examples]
    return lines


def _target_line(target: Target) -> str:
    verdict = f"**{target.verdict}**" if target.deciding else target.verdict
    unit = "x" if target.unit == "x" else f" {target.unit}"
    measured = DASH if target.measured is None else f"{target.measured:.2f}{unit}"
    note = f" ({target.note})" if target.note else ""
    return f"| {target.name} | {target.where}{note} | {measured} | {target.rule} | {verdict} |"


def _targets(targets: list[Target]) -> list[str]:
    judged = [t for t in targets if t.deciding]
    counts = {v: sum(t.verdict == v for t in judged) for v in ("met", "missed", "n/a")}
    return [
        "## Targets",
        "",
        "Judged on the bold lines (throughput at c=50 and the gateway's 2 workers, or the "
        "highest run); the other lines show the same figure elsewhere. Never enforced.",
        "",
        "| target | where | measured | threshold | verdict |",
        "|---|---|--:|---|---|",
        *(_target_line(t) for t in targets),
        "",
        f"Judged: {counts['met']} met, {counts['missed']} missed, {counts['n/a']} n/a.",
    ]


def markdown(results: Results) -> str:
    m, o = results.machine, results.options
    commit = (m.get("git_commit") or "unknown")[:12] + (" (dirty)" if m.get("git_dirty") else "")
    head = [
        "# gomodel benchmark",
        "",
        f"{m['date']}, commit {commit}; {m['cpu_count']} CPUs ({m['cpu_model']}), "
        f"Python {m['python']}, {m['wrk']}, load average {m['loadavg'][0]:.2f} at the start "
        f"and {results.loadavg_end:.2f} at the end. {o['duration']:g} s per run, "
        f"{o['warmup']:g} s warm-up; concurrency {', '.join(map(str, o['concurrency']))}; "
        f"workers {', '.join(map(str, o['workers']))}; {'smoke run; ' if o['smoke'] else ''}"
        f"wall time {results.wall_seconds:.0f} s.",
    ]
    sections = [
        head,
        _throughput(results),
        _observability(results),
        control_section(results),
        _ttfb(results),
        tls_markdown(results.tls),
        _other(results),
        _soak(results),
        long_streams(results),
        cost_growth(results),
        _checks(results),
        _targets(evaluate(results)),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s) + "\n"
