"""The report's control-plane section: the variants' cells beside plain gomodel, then the same
variants in turns (tests/bench/turns.py), then what each variant's check saw."""

from __future__ import annotations

import statistics

from tests.bench.results import Results
from tests.bench.stats import DASH, ratio
from tests.bench.stats import number as _num
from tests.bench.stats import times as _x
from tests.bench.verdicts import workers_label

__all__ = ["control_section"]


def _control_row(results: Results, variant: str, workload: str, c: int, w: int) -> str | None:
    cell = results.cell(workload, c, variant, w)
    if cell is None:
        return None
    plain = results.cell(workload, c, "gomodel", w)
    added = None if plain is None else cell.wrk.p50_ms - plain.wrk.p50_ms
    cpu = cell.cpu_us_per_request
    plain_cpu = None if plain is None else plain.cpu_us_per_request
    errors = ", ".join(f"{n} {kind}" for kind, n in cell.wrk.errors.items() if n)
    cells = [
        variant,
        workload,
        str(c),
        str(w),
        _num(cell.wrk.rps),
        _x(ratio(cell.wrk.rps, None if plain is None else plain.wrk.rps)),
        f"{cell.wrk.p50_ms:.2f}",
        _num(added, "+.2f"),
        _num(cpu),
        _x(ratio(cpu, plain_cpu)),
        f"**{errors}**" if errors else "0",
    ]
    return "| " + " | ".join(cells) + " |"


def _spread(values: list[float], fmt: str) -> str:
    if not values:
        return DASH
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def _turns(results: Results) -> list[str]:
    """The variants in turns with a plain gomodel of their own (tests/bench/turns.py)."""
    if not results.turns:
        return []
    lines = [
        "In turns with a plain gomodel of their own, both up at once, plain and the variant "
        "measured one after the other each round (ABBA), the same request through both: the "
        "median of each round's ratio (lowest to highest). The targets are judged on these; "
        "the table above measured each server minutes apart.",
        "",
        "| variant | workload | c | workers | rounds | ÷ plain | CPU ÷ plain | added p50 ms |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for t in results.turns:
        lines.append(
            f"| {t.variant} | {t.workload} | {t.concurrency} | {t.workers} | {len(t.rps)} "
            f"| {_spread(t.rps, '.3f')} | {_spread(t.cpu, '.3f')} "
            f"| {_spread(t.added_p50_ms, '+.2f')} |"
        )
    lines.append("")
    return lines


def control_section(results: Results) -> list[str]:
    """The control-plane variants beside plain gomodel (tests/bench/control.py)."""
    if not results.control:
        return []
    lines = [
        "## Control plane (wrk, req/s)",
        "",
        "`gomodel-limits`: master key set, every request with a managed key on user path "
        "`/bench/team` under a monthly budget and rpm/tpm/concurrent limits kept in Redis (a "
        "key prefix of the run's own), far above what a run uses; `gomodel-full`: the same "
        "with metrics and the audit log (headers, no bodies) on. Their requests carry "
        '`"max_tokens": 256` (the fast path under a budget). Ratios and added p50 are against '
        "plain gomodel at the same concurrency in this run; CPU is the server's process tree "
        "(user + system) per request.",
        "",
        "| variant | workload | c | workers | req/s | ÷ plain | p50 ms | added p50 ms "
        "| CPU µs/req | CPU ÷ plain | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for check in results.control:
        for workload in ("chat", "stream"):
            for c in results.concurrencies:
                row = _control_row(results, check.variant, workload, c, check.workers)
                if row is not None:
                    lines.append(row)
    lines.append("")
    lines += _turns(results)
    for check in results.control:
        where = f"{check.variant} {workers_label(check.workers)}"
        if check.skipped:
            lines.append(f"* {where}: **skipped**: {check.skipped}")
            continue
        limits = ", ".join(f"{name} {used}" for name, used in sorted(check.rate_limits.items()))
        seen = (
            f"key {check.key_id} on {check.user_path}; /v1/usage: spend "
            f"${check.spend_usd or 0:.6f} (rows), budget spent ${check.budget_spent_usd or 0:.6f}"
            f"; limits used: {limits or 'none'}; {check.redis_keys} Redis keys under the prefix"
        )
        if check.metrics_ok is not None:
            seen += f"; metrics {'answered' if check.metrics_ok else 'FAILED'}"
        if check.audit_entries is not None:
            seen += f"; {check.audit_entries} audit entries read"
        verdict = "verified" if check.verified else "**NOT verified: " + "; ".join(check.problems)
        lines.append(f"* {where}: {verdict}{'' if check.verified else '**'}; {seen}")
    return lines
