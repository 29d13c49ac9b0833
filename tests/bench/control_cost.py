"""What the control plane costs, measured in turns so that a shared machine's drift cancels:
``python -m tests.bench.control_cost [--rounds 5] [--duration 3] [--workers 2]``.

``nox -s bench`` measures each server after the other, so a load spike from someone else
lands on one of them and the ratios swing (on the shared 2-core machine plain gomodel's chat
went from 92 to 230 req/s between runs minutes apart). Here plain gomodel, ``gomodel-limits``
and ``gomodel-full`` (tests/bench/control.py; with ``--apart`` also the managed key alone and
the limits counted in the process instead of Redis) run at once against one mock, and each round
measures every one of them on chat and stream at c=1 and c=50 in a rotated order; each
figure is the median over rounds of the variant's ratio to plain *in the same round*:
throughput, CPU per request (the server's process tree, utime + stime) and the p50 it adds.
The control planes are verified at the end as in the bench. Measures and prints; asserts
nothing; not part of the test suite.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from tests.bench.control import (
    CONTROL_WORKLOADS,
    KEY_ONLY,
    LIMITS_MEMORY,
    VARIANT_NAMES,
    ControlPlane,
    control_body,
    redis_url,
)
from tests.bench.control_check import ControlCheck
from tests.bench.mock import mock_provider
from tests.bench.servers import Server, gateway_server
from tests.bench.turns import measure_cell
from tests.bench.verify import check_workload
from tests.bench.workloads import WORKLOADS

Figures = tuple[float, float, float]  # req/s, CPU µs per request, p50 ms
CONCURRENCY = (1, 50)


def _cell(server: Server, workload: str, body: bytes, c: int, duration: float) -> Figures:
    path = WORKLOADS[workload].path
    result, per_request = measure_cell(server, path, body, c, duration, warmup=0.5)
    if result.error_count:
        refused = [
            line
            for line in (server.log_path.read_text().splitlines() if server.log_path else ())
            if " status=" in line and " status=200 " not in line and " status=499 " not in line
        ]
        shown = "\n".join(refused[:5])
        raise SystemExit(f"{server.target} {workload} c={c}: errors {result.errors}\n{shown}")
    return result.rps, per_request or 0.0, result.p50_ms


def measure(
    rounds: int, duration: float, workers: int, workdir: Path, variants: tuple[str, ...]
) -> None:
    names = list(CONTROL_WORKLOADS)
    figures: dict[tuple[str, str, int], list[Figures]] = {}
    with ExitStack() as stack:
        mock_url = stack.enter_context(mock_provider(workdir))
        servers = {"gomodel": stack.enter_context(gateway_server(mock_url, workers, workdir))}
        planes = {
            v: ControlPlane(v, redis_url(), workers, ControlCheck(v, workers))
            for v in (*variants, *VARIANT_NAMES)
        }
        for variant, plane in planes.items():
            servers[variant] = stack.enter_context(plane.server(mock_url, workdir))
        bodies = {
            target: {
                n: WORKLOADS[n].payload() if target == "gomodel" else control_body(WORKLOADS[n])
                for n in names
            }
            for target in servers
        }
        routes: dict[str, dict[str, str]] = {}
        for target, server in servers.items():
            for n in names:
                check = check_workload(
                    server.url,
                    WORKLOADS[n],
                    target=target,
                    workers=workers,
                    headers=server.headers,
                    body=bodies[target][n],
                )
                routes.setdefault(target, {})[n] = check.route or ""
        order = list(servers)
        for r in range(rounds):
            turn = order[r % len(order) :] + order[: r % len(order)]
            for target in turn:
                for n in names:
                    for c in CONCURRENCY:
                        got = _cell(servers[target], n, bodies[target][n], c, duration)
                        figures.setdefault((target, n, c), []).append(got)
            print(f"round {r + 1}/{rounds} done", flush=True)
        for variant in VARIANT_NAMES:
            planes[variant].verify(servers[variant], routes[variant])
    _print(figures, rounds)
    for plane in (planes[v] for v in VARIANT_NAMES):
        state = "verified" if plane.check.verified else f"NOT verified: {plane.check.problems}"
        print(f"{plane.variant}: {state}")


def _print(figures: dict[tuple[str, str, int], list[Figures]], rounds: int) -> None:
    print(f"\nmedian over {rounds} rounds of each round's ratio to plain gomodel (min-max)")
    print(
        f"{'variant':15} {'workload':8} {'c':>3} {'req/s':>7} {'÷plain':>17} "
        f"{'CPU µs/req':>10} {'CPU ÷plain':>17} {'added p50 ms':>20}"
    )

    def spread(values: list[float], fmt: str) -> str:
        return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"

    for (target, workload, c), own in figures.items():
        plain = figures[("gomodel", workload, c)]
        rps = [o[0] / p[0] for o, p in zip(own, plain, strict=True) if p[0]] or [0.0]
        cpu = [o[1] / p[1] for o, p in zip(own, plain, strict=True) if p[1]] or [0.0]
        added = [o[2] - p[2] for o, p in zip(own, plain, strict=True)]
        print(
            f"{target:15} {workload:8} {c:3d} {statistics.median(o[0] for o in own):7.0f} "
            f"{spread(rps, '.2f'):>17} {statistics.median(o[1] for o in own):10.0f} "
            f"{spread(cpu, '.2f'):>17} {spread(added, '+.2f'):>20}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--apart",
        action="store_true",
        help=f"also {KEY_ONLY} (the managed key, no rules) and {LIMITS_MEMORY} (the limits "
        "counted in the process, not Redis): what each part costs",
    )
    args = parser.parse_args()
    variants = (KEY_ONLY, LIMITS_MEMORY) if args.apart else ()
    workdir = Path(tempfile.mkdtemp(prefix="bench-control-"))  # kept: the servers' logs
    print(f"logs in {workdir}", flush=True)
    measure(args.rounds, args.duration, args.workers, workdir, variants)


if __name__ == "__main__":
    main()
