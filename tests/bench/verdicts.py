"""A target and its verdict, and the helpers that put one line per concurrency: what the bench's
targets (targets.py, control_targets.py) are made of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.bench.results import Results
from tests.bench.stats import ratio

__all__ = [
    "EitherTarget",
    "Target",
    "deciding_concurrency",
    "gap",
    "per_concurrency",
    "rps_ratio",
    "target_workers",
    "workers_label",
]


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


@dataclass
class EitherTarget(Target):
    """Met when this one is, or when ``otherwise`` is (a target with two ways to meet it)."""

    otherwise: list[Target] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        mine = super().verdict
        if mine == "met" or any(t.verdict == "met" for t in self.otherwise):
            return "met"
        return mine if all(t.verdict == "n/a" for t in self.otherwise) else "missed"


def gap(measured: float | None, threshold: float) -> str:
    if measured is None or measured <= threshold or threshold <= 0:
        return ""
    return f"{measured / threshold:.1f}x the threshold"


def workers_label(count: int) -> str:
    return f"{count} worker{'s' if count > 1 else ''}"


def target_workers(results: Results) -> int:
    counts = results.worker_counts
    return 2 if 2 in counts else max(counts)


def deciding_concurrency(results: Results) -> int:
    levels = results.concurrencies
    return 50 if 50 in levels else max(levels)


def rps_ratio(
    results: Results, top: tuple[str, str], bottom: tuple[str, str]
) -> Callable[[int, int], float | None]:
    """(workload, target) over (workload, target): req/s at concurrency c with w workers."""

    def value(c: int, w: int) -> float | None:
        return ratio(results.rps(top[0], c, top[1], w), results.rps(bottom[0], c, bottom[1], w))

    return value


def per_concurrency(
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
