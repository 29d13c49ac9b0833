"""What TLS to the provider costs the gateway: CPU per request, TLS against plain TCP.

Not part of the test suite or of ``nox -s bench`` (whose "TLS upstream" table measures the
same, once). Throughput on a shared machine moves by tens of percent between runs; the CPU the
serving process spends per request moves far less, so this compares that.

    python docs/measure/tls_cost.py [--repo PATH ...] [--rounds 5] [--duration 3] [-c 10]

It starts the bench's C mock twice (plain, and ``--tls`` with a certificate from a CA made for
the run) and, for each ``--repo`` (default: this checkout; give two to compare a change with its
base, e.g. ``--repo . --repo /path/to/main``), two ``gomodel serve --workers 1`` run from that
checkout: one in front of each mock, the TLS one trusting the CA through ``SSL_CERT_FILE``.
Then, for ``ROUNDS`` rounds, chat and stream through every gateway in turn (interleaved, so a
slow moment of the machine hits every side alike) with wrk, reading the gateway's user + system
time from ``/proc/<pid>/stat`` around each run. It prints the median CPU per request of every
side, TLS's extra over plain, and the spread of the rounds (how noisy the machine was).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.mock import mock_provider  # noqa: E402
from tests.bench.procs import cpu_seconds, stop_process  # noqa: E402
from tests.bench.servers import free_port, gateway_command, gateway_env  # noqa: E402
from tests.bench.tls import mockd_stats, tls_mock  # noqa: E402
from tests.bench.workloads import WORKLOADS  # noqa: E402
from tests.bench.wrk import run_wrk  # noqa: E402


def _gateway(
    repo: Path, mock_url: str, workdir: Path, name: str, extra: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **gateway_env(mock_url, workdir), **extra}
    env["SQLITE_PATH"] = str(workdir / f"{name}.db")
    with (workdir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            gateway_command(port, 1), cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/ready").status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not become ready; see {workdir / (name + '.log')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, action="append", help="checkout(s) to run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("-c", "--concurrency", type=int, default=10)
    args = parser.parse_args()
    repos = [repo.resolve() for repo in args.repo or [ROOT]]
    workdir = ROOT / ".bench" / "tls-cost"
    workdir.mkdir(parents=True, exist_ok=True)
    gateways: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    samples: dict[tuple[str, str], list[float]] = {}
    with mock_provider(workdir) as plain_url, tls_mock(workdir) as (tls_url, files):
        try:
            for i, repo in enumerate(repos):
                label = f"{i}:{repo.name}"
                gateways[f"{label} plain"] = _gateway(repo, plain_url, workdir, f"p{i}", {})
                trust = {"SSL_CERT_FILE": str(files.ca)}
                gateways[f"{label} tls"] = _gateway(repo, tls_url, workdir, f"t{i}", trust)
            for workload in ("chat", "stream"):
                spec = WORKLOADS[workload]
                for _, url in gateways.values():  # warm-up: pools open, code paths hot
                    run_wrk(
                        url + spec.path, spec.payload(), concurrency=args.concurrency, duration=1
                    )
            handshakes = mockd_stats(tls_url, files.ca)["tls_handshakes"]
            for _ in range(args.rounds):
                for workload in ("chat", "stream"):
                    spec = WORKLOADS[workload]
                    for side, (process, url) in gateways.items():
                        before = cpu_seconds(process.pid)
                        result = run_wrk(
                            url + spec.path,
                            spec.payload(),
                            concurrency=args.concurrency,
                            duration=args.duration,
                        )
                        used = cpu_seconds(process.pid) - before
                        if result.error_count or not result.requests:
                            raise RuntimeError(f"{side} {workload}: {result.errors}")
                        samples.setdefault((side, workload), []).append(
                            1e6 * used / result.requests
                        )
            handshakes = mockd_stats(tls_url, files.ca)["tls_handshakes"] - handshakes
        finally:
            for process, _ in gateways.values():
                stop_process(process)
    print(
        f"c={args.concurrency}, {args.rounds} rounds of {args.duration:g} s, load average "
        f"{os.getloadavg()[0]:.1f}; TLS handshakes while measured: {handshakes - 1}"
    )
    print(f"{'side':<28} {'workload':<8} {'CPU us/req':>10} {'min-max':>13}")
    for (side, workload), values in samples.items():
        low, high = min(values), max(values)
        print(
            f"{side:<28} {workload:<8} {statistics.median(values):>10.0f} {low:>6.0f}-{high:<6.0f}"
        )
    for i, repo in enumerate(repos):
        for workload in ("chat", "stream"):
            plain = statistics.median(samples[(f"{i}:{repo.name} plain", workload)])
            tls = statistics.median(samples[(f"{i}:{repo.name} tls", workload)])
            print(
                f"{i}:{repo.name} {workload}: TLS extra {tls - plain:+.0f} us/request "
                f"({tls / plain:.2f}x plain)"
            )


if __name__ == "__main__":
    main()
