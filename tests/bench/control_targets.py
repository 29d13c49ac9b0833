"""The control plane's targets (tests/bench/control.py): issue 14's managed key, budget and rate
limits on Redis, and issue 18's full control plane, against plain gomodel; judged in turns
(tests/bench/turns.py) when the run measured them so."""

from __future__ import annotations

from tests.bench.results import Results
from tests.bench.verdicts import (
    Target,
    per_concurrency,
    rps_ratio,
    target_workers,
    workers_label,
)

__all__ = ["FULL_ADDED_P50_MS", "FULL_RATIO", "LIMITS_RATIO", "control_targets"]

LIMITS_RATIO = 0.85  # issue 14: a managed key, a budget and rate limits on Redis
FULL_RATIO = 0.8  # issue 18: all a production deployment turns on
FULL_ADDED_P50_MS = 0.3


def _unverified(results: Results, variant: str, workers: int) -> str:
    """Why a control-plane variant's figures do not count ("" when they do)."""
    check = next((c for c in results.control if (c.variant, c.workers) == (variant, workers)), None)
    if check is None:
        return "not run"
    if check.skipped:
        return f"skipped: {check.skipped}"
    return f"not verified: {'; '.join(check.problems)}" if check.problems else ""


def control_targets(results: Results) -> list[Target]:
    """The control plane's bill (tests/bench/control.py): throughput against plain gomodel in
    the same run, and the p50 it adds at concurrency 1. A variant that did not verify (errors,
    refusals, nothing in Redis) is n/a with the reason, never met."""
    targets: list[Target] = []
    workers = target_workers(results)
    for variant, workload, threshold, issue in (
        ("gomodel-limits", "chat", LIMITS_RATIO, "issue 14"),
        ("gomodel-full", "chat", FULL_RATIO, "issue 18"),
        ("gomodel-full", "stream", FULL_RATIO, "issue 18"),
    ):
        if workload not in results.workloads:
            continue
        why = _unverified(results, variant, workers)
        name = f"{variant} {workload} >= {threshold:g}x plain gomodel ({issue})"
        value = rps_ratio(results, (workload, variant), (workload, "gomodel"))
        lines = per_concurrency(
            results,
            name,
            f"{variant} / gomodel {workload}",
            (lambda c, w: None) if why else value,
            threshold,
            why,
        )
        top = max(results.concurrencies)
        turns = results.turn(variant, workload, top, workers)
        if turns is not None:  # judged in turns; measured apart, the lines only inform
            for line in lines:
                line.deciding = False
            rounds = f"median of {len(turns.rps)} rounds' ratios" if turns.rps else "no rounds"
            lines.append(
                Target(
                    name,
                    f"in turns with plain gomodel, {workload}, c={top}, "
                    f"{workers_label(workers)} ({rounds})",
                    None if why else turns.rps_median,
                    threshold,
                    "x",
                    higher_is_better=True,
                    deciding=True,
                    note=why,
                )
            )
        targets += lines
    for workload in ("chat", "stream"):
        if workload not in results.workloads or 1 not in results.concurrencies:
            continue
        why = _unverified(results, "gomodel-full", workers)
        full = results.cell(workload, 1, "gomodel-full", workers)
        plain = results.cell(workload, 1, "gomodel", workers)
        added = None if why or full is None or plain is None else full.wrk.p50_ms - plain.wrk.p50_ms
        targets.append(
            Target(
                f"gomodel-full adds <= {FULL_ADDED_P50_MS:g} ms p50 at c=1 (issue 18)",
                f"{workload}, wrk p50 over plain gomodel, c=1, {workers_label(workers)}",
                added,
                FULL_ADDED_P50_MS,
                "ms",
                higher_is_better=False,
                deciding=True,
                note=why,
            )
        )
    return targets
