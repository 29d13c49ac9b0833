"""The goals the numbers are read against. Evaluated, printed, never enforced: the bench exits 0
whatever they say.

Throughput targets are judged at concurrency 50 (the highest run, if 50 was not) with the
gateway's 2 workers (the most run, if 2 was not); every other concurrency is shown beside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.bench.results import Results
from tests.bench.stats import median, ratio

__all__ = ["Target", "deciding_concurrency", "evaluate", "target_workers", "workers_label"]

LITELLM_FACTOR = 10.0
HELLO_FLOOR = 0.6
FAST_PATH_FACTOR = 1.3
ADDED_TTFB_MS = 1.5
RSS_MB = 60.0
STARTUP_S = 1.0
HEADROOM = 5.0
METRICS_RATIO = 0.95
AUDIT_RATIO = 0.85
TLS_RATIO = 0.8  # TLS upstream chat throughput over plain
TLS_HANDSHAKES = 1.0  # per client connection and measured run: set up once, then reused


@dataclass
class Target:
    name: str
    where: str  # e.g. "chat, c=50, 2 workers"
    measured: float | None
    threshold: float
    unit: str  # "x", "ms", "MB", "s"
    higher_is_better: bool
    deciding: bool  # the line the target is judged on
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "n/a"
        if self.higher_is_better:
            met = self.measured >= self.threshold
        elif self.unit == "s":
            met = self.measured < self.threshold
        else:
            met = self.measured <= self.threshold
        return "met" if met else "missed"

    @property
    def rule(self) -> str:
        sign = (">=" if self.higher_is_better else "<=") if self.unit != "s" else "<"
        return f"{sign} {self.threshold:g}{self.unit if self.unit == 'x' else ' ' + self.unit}"


def workers_label(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def target_workers(results: Results) -> int:
    counts = results.worker_counts
    return 2 if 2 in counts else max(counts)


def deciding_concurrency(results: Results) -> int:
    levels = results.concurrencies
    return 50 if 50 in levels else max(levels)


def _rps_ratio(
    results: Results, top: tuple[str, str], bottom: tuple[str, str]
) -> Callable[[int, int], float | None]:
    """(workload, target) over (workload, target): req/s at concurrency c with w workers."""

    def value(c: int, w: int) -> float | None:
        return ratio(results.rps(top[0], c, top[1], w), results.rps(bottom[0], c, bottom[1], w))

    return value


def _per_concurrency(
    results: Results,
    name: str,
    label: str,
    value: Callable[[int, int], float | None],
    threshold: float,
    note: str = "",
) -> list[Target]:
    workers, decide = target_workers(results), deciding_concurrency(results)
    return [
        Target(
            name,
            f"{label}, c={c}, {workers_label(workers)}",
            value(c, workers),
            threshold,
            "x",
            higher_is_better=True,
            deciding=c == decide,
            note=note,
        )
        for c in results.concurrencies
    ]


def evaluate(results: Results) -> list[Target]:
    targets: list[Target] = []
    litellm_note = "" if results.options.get("with_litellm") else "run with --with-litellm"
    for workload in ("chat", "stream"):
        targets += _per_concurrency(
            results,
            f"gomodel >= {LITELLM_FACTOR:g}x LiteLLM throughput",
            workload,
            _rps_ratio(results, (workload, "gomodel"), (workload, "litellm")),
            LITELLM_FACTOR,
            litellm_note,
        )
    targets += _per_concurrency(
        results,
        f"gomodel chat >= {HELLO_FLOOR:g}x hello-world floor",
        "chat",
        _rps_ratio(results, ("chat", "gomodel"), ("chat", "hello")),
        HELLO_FLOOR,
    )
    targets += _per_concurrency(
        results,
        f"fast-path stream >= {FAST_PATH_FACTOR:g}x translated throughput",
        "gomodel stream / translated",
        _rps_ratio(results, ("stream", "gomodel"), ("translated", "gomodel")),
        FAST_PATH_FACTOR,
    )
    for variant, threshold, what in (
        ("gomodel-metrics", METRICS_RATIO, "metrics on"),
        ("gomodel-audit", AUDIT_RATIO, "the audit log on (bodies included)"),
    ):
        targets += _per_concurrency(
            results,
            f"chat with {what} >= {threshold:g}x plain chat",
            f"{variant} / gomodel chat",
            _rps_ratio(results, ("chat", variant), ("chat", "gomodel")),
            threshold,
        )
    targets += _per_concurrency(
        results,
        f"fast-path Messages >= {FAST_PATH_FACTOR:g}x translated Messages throughput",
        "gomodel messages / messages_translated",
        _rps_ratio(results, ("messages", "gomodel"), ("messages_translated", "gomodel")),
        FAST_PATH_FACTOR,
    )
    workers = target_workers(results)
    for workload in ("stream", "translated", "responses", "messages", "messages_translated"):
        gateway = results.ttfb_of(workload, 1, "gomodel", workers)
        direct = results.ttfb_of(workload, 1, "direct", None)
        added = None if gateway is None or direct is None else gateway.p50_ms - direct.p50_ms
        targets.append(
            Target(
                f"added TTFB over direct <= {ADDED_TTFB_MS:g} ms p50",
                f"{workload}, c=1, {workers_label(workers)}",
                added,
                ADDED_TTFB_MS,
                "ms",
                higher_is_better=False,
                deciding=workload == "stream",
            )
        )
    run = results.server("gomodel", workers)
    rss = run.rss if run is not None else None
    targets.append(
        Target(
            f"RSS <= {RSS_MB:g} MB per worker",
            f"gomodel, c={rss.concurrency if rss else '-'}, {workers_label(workers)}, largest",
            rss.max_worker_mb if rss else None,
            RSS_MB,
            "MB",
            higher_is_better=False,
            deciding=True,
        )
    )
    samples = results.startup_s.get("gomodel", [])
    targets.append(
        Target(
            f"startup < {STARTUP_S:g} s",
            f"gomodel serve, 1 worker, median of {len(samples)}",
            median(samples) if samples else None,
            STARTUP_S,
            "s",
            higher_is_better=False,
            deciding=True,
        )
    )
    targets += _tls_targets(results)
    for workload in results.workloads:
        targets += _per_concurrency(
            results,
            f"mock headroom: direct >= {HEADROOM:g}x gomodel",
            workload,
            _rps_ratio(results, (workload, "direct"), (workload, "gomodel")),
            HEADROOM,
            "the mock must not be the bottleneck",
        )
    return targets


def _tls_targets(results: Results) -> list[Target]:
    """The TLS upstream workload (tests/bench/tls.py): chat keeps most of its plain throughput,
    and reused connections make handshakes rare."""
    if not results.tls:
        return []
    workers, decide = target_workers(results), deciding_concurrency(results)
    targets = []
    for cell in results.tls:
        if cell.workers != workers:
            continue
        where = f"{cell.workload}, c={cell.concurrency}, {workers_label(workers)}"
        if cell.workload == "chat":
            targets.append(
                Target(
                    f"TLS upstream chat >= {TLS_RATIO:g}x plain chat",
                    where,
                    ratio(cell.tls.wrk.rps, cell.plain.wrk.rps),
                    TLS_RATIO,
                    "x",
                    higher_is_better=True,
                    deciding=cell.concurrency == decide,
                )
            )
        # wrk ending a run closes the upstream connections of the requests in flight (closing
        # is the gateway's stop signal), so the next run opens up to c again: reuse means no
        # more than that, whatever the run's length.
        targets.append(
            Target(
                f"TLS handshakes <= {TLS_HANDSHAKES:g} per client connection",
                where,
                cell.tls.handshakes / cell.concurrency,
                TLS_HANDSHAKES,
                "per conn",
                higher_is_better=False,
                deciding=cell.concurrency == decide,
            )
        )
    return targets
