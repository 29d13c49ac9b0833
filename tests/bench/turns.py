"""A variant against plain gomodel measured in turns, so that a shared machine's drift lands
on both alike.

The bench measures one server after the other, minutes apart; on the shared 2-core machine a
load spike from someone else then moves a ratio by more than the effect it is meant to show
(plain chat has gone from 92 to 230 req/s between runs minutes apart). Here both servers are up
at once against one mock, and each round measures plain, then the variant (the next round the
other way round: ABBA), at one concurrency; each figure is the median over rounds of the
variant's ratio to plain *in the same round*. The control-plane targets are judged on it.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from tests.bench.control import stop_on_errors
from tests.bench.procs import cpu_seconds
from tests.bench.servers import Server
from tests.bench.verify import BenchError
from tests.bench.wrk import WrkResult, run_wrk

__all__ = ["TurnRatio", "measure_cell", "measure_turns"]


@dataclass
class TurnRatio:
    """One variant's ratios to plain gomodel, round by round."""

    variant: str
    workload: str
    concurrency: int
    workers: int
    rps: list[float] = field(default_factory=list)  # variant req/s / plain req/s
    cpu: list[float] = field(default_factory=list)  # CPU per request, variant / plain
    added_p50_ms: list[float] = field(default_factory=list)

    @property
    def rps_median(self) -> float | None:
        return statistics.median(self.rps) if self.rps else None

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    @property
    def added_p50_median(self) -> float | None:
        return statistics.median(self.added_p50_ms) if self.added_p50_ms else None


Figures = tuple[float, float | None, float]  # req/s, CPU µs per request, p50 ms


def measure_cell(
    server: Server, path: str, body: bytes, concurrency: int, duration: float, warmup: float
) -> tuple[WrkResult, float | None]:
    """One measured wrk run on ``server`` after ``warmup`` seconds of it, and the CPU µs per
    request of the server's process tree meanwhile (None: no request answered)."""
    url = server.url + path
    if warmup > 0:
        run_wrk(url, body, concurrency=concurrency, duration=warmup, headers=server.headers)
    before = cpu_seconds(server.process.pid)
    result = run_wrk(url, body, concurrency=concurrency, duration=duration, headers=server.headers)
    cpu = cpu_seconds(server.process.pid) - before
    return result, cpu / result.requests * 1e6 if result.requests else None


def _figures(
    server: Server, path: str, body: bytes, concurrency: int, duration: float, warmup: float
) -> Figures:
    result, per_request = measure_cell(server, path, body, concurrency, duration, warmup)
    stop_on_errors(server.target, f"turns, c={concurrency}", result.error_count)
    if result.error_count:  # the plain side: its figure would flatter the variant
        raise BenchError(f"{server.target} in turns, c={concurrency}: {result.errors}")
    return result.rps, per_request, result.p50_ms


def measure_turns(
    plain: tuple[Server, bytes],
    variant: tuple[Server, bytes],
    *,
    workload: str,
    path: str,
    concurrency: int,
    workers: int,
    rounds: int,
    duration: float,
    warmup: float,
) -> TurnRatio:
    """``rounds`` rounds of plain and the variant (each server with its own body) one after
    the other, ABBA; raises VariantFailed when the variant's load generator saw errors, and
    BenchError when plain's did."""
    turns = TurnRatio(variant[0].target, workload, concurrency, workers)
    for r in range(rounds):
        order = (plain, variant) if r % 2 == 0 else (variant, plain)
        got = {
            server.target: _figures(server, path, body, concurrency, duration, warmup)
            for server, body in order
        }
        base, own = got[plain[0].target], got[variant[0].target]
        if base[0] > 0:
            turns.rps.append(own[0] / base[0])
        if base[1] and own[1] is not None:
            turns.cpu.append(own[1] / base[1])
        turns.added_p50_ms.append(own[2] - base[2])
    return turns
