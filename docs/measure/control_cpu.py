"""What the control plane costs per chat request: plain against a managed key under Redis limits.

Issue 14's bench target is that a gateway with a managed key, a budget and rate limits on Redis
keeps >= 0.85 of the plain chat throughput. Throughput on a shared machine moves by tens of
percent between runs; CPU time per request moves far less, so this compares that (and p50).
Not part of the test suite or of ``nox -s bench``.

    python docs/measure/control_cpu.py [--rounds 5] [--duration 4] [--concurrency 50,1]
                                       [--only plain,key,limits] [--profile DIR] [--base DIR]

It starts the bench's C mock and one ``gomodel serve --workers 1`` per variant, side by side:

* ``plain``: no master key, no managed keys, no limits (the bench's chat workload);
* ``key``: a master key and a managed key (user path ``/bench/team``), no limits;
* ``limits``: the same key, and on ``/bench/team`` a daily budget and rpm / tpm / concurrent
  limits far above anything a run reaches, counted in Redis (``REDIS_URL``, a key prefix of its
  own, deleted at the end).

Every variant is posted the same chat body (``max_tokens: 256``, so the budget needs no rewrite
and the fast path stays) with wrk, at each concurrency, the variants taking turns for several
rounds so that a busy moment of the machine hits all alike. Per run it reads user + system time
of the server's process tree from ``/proc`` before and after, and prints the median over the
rounds of CPU ms per request, p50 and requests/s, then the ratios to ``plain``.

``--base DIR`` adds ``limits@base``: the limits variant served from another tree's ``gomodel``
package (``git archive <commit> gomodel | tar -x -C DIR``), to compare a change with what it
changes in one run rather than across runs of a noisy machine.

``--engine`` measures the limit engine alone instead, without a gateway around it: one
process per run does ``reserve`` + settle (detached where the tree has ``settle_detached``)
of four counters (rpm, tpm, concurrent, a daily budget) on the real Redis, at each
concurrency, and prints its CPU microseconds per admission (``time.process_time``) and wall
microseconds per admission, this tree against ``--base`` in alternating rounds. Without the
rest of a request around it, the engine's share is not lost in the machine's noise.

``--profile DIR`` runs each server under ``cProfile`` (``python -m cProfile``; the hook lives
here, not in the product) and writes ``DIR/<variant>.prof`` when it stops; profiled runs are
slower, so read their shape, not their figures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.mock import mock_provider  # noqa: E402
from tests.bench.procs import descendants, stop_process  # noqa: E402
from tests.bench.servers import free_port, gateway_env  # noqa: E402
from tests.bench.workloads import WORKLOADS  # noqa: E402
from tests.bench.wrk import WrkResult, require_wrk, run_wrk  # noqa: E402

VARIANTS = ("plain", "key", "limits")
USER_PATH = "/bench/team"
# Far above what any run reaches (a run is a few thousand requests), all below the engine's 2**51.
LIMITS = "rpm=1000000000,tpm=1000000000000,concurrent=100000"
BUDGET = "daily=1000000"
REDIS_URL = os.environ.get("GOMODEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Variant:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path | None = None
    headers: dict[str, str] = field(default_factory=dict)
    errors: int = 0
    cpu: dict[int, list[float]] = field(default_factory=dict)  # concurrency: ms per request
    p50: dict[int, list[float]] = field(default_factory=dict)
    rps: dict[int, list[float]] = field(default_factory=dict)


def _cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` and every process below it (threads are counted in
    their process's figures)."""
    total = 0
    for each in (pid, *descendants(pid)):
        try:
            stat = Path(f"/proc/{each}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _env(name: str, mock: str, workdir: Path, master: str, prefix: str) -> dict[str, str]:
    env = {**os.environ, **gateway_env(mock, workdir / name), "LOG_LEVEL": "warning"}
    name = name.split("@")[0]  # limits@base: the limits variant of another tree
    if name == "plain":
        env["AUTH_KEYS_ENABLED"] = "false"
        env["BUDGETS_ENABLED"] = env["RATE_LIMITS_ENABLED"] = "false"
        return env
    env["GOMODEL_MASTER_KEY"] = master
    if name == "key":
        env["BUDGETS_ENABLED"] = env["RATE_LIMITS_ENABLED"] = "false"
        return env
    env["REDIS_URL"] = REDIS_URL
    env["REDIS_KEY_LIMITS"] = prefix
    scope = USER_PATH.strip("/").replace("/", "__").upper()
    env[f"SET_BUDGET_{scope}"] = BUDGET
    env[f"SET_RATE_LIMIT_{scope}"] = LIMITS
    return env


def _wait_ready(variant: Variant) -> None:
    with httpx.Client(base_url=variant.url, timeout=5) as client:
        for _ in range(600):
            if variant.process.poll() is not None:
                raise RuntimeError(f"{variant.name}: the gateway exited")
            try:
                if client.get("/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise RuntimeError(f"{variant.name}: the gateway did not become ready")


def _make_key(variant: Variant, master: str) -> None:
    response = httpx.post(
        f"{variant.url}/admin/api/v1/auth-keys",
        headers={"Authorization": f"Bearer {master}"},
        json={"name": "bench", "user_path": USER_PATH},
        timeout=10,
    )
    if response.status_code != 201:
        raise RuntimeError(f"{variant.name}: creating the key: {response.status_code}")
    variant.headers = {"Authorization": f"Bearer {response.json()['value']}"}


@contextmanager
def _server(
    name: str,
    mock: str,
    workdir: Path,
    master: str,
    prefix: str,
    profile: Path | None,
    root: Path = ROOT,
) -> Iterator[Variant]:
    port = free_port()
    (workdir / name).mkdir(parents=True, exist_ok=True)
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile / f"{name.replace('@', '-')}.prof")]
    command += ["-m", "gomodel", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1"]
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(
        command,
        env=_env(name, mock, workdir, master, prefix),
        cwd=root,  # `python -m gomodel` imports the package of the working directory
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    variant = Variant(name, f"http://127.0.0.1:{port}", process, workdir / f"{name}.log")
    try:
        _wait_ready(variant)
        if name != "plain":
            _make_key(variant, master)
        yield variant
    finally:
        stop_process(process)
        log.close()


def _check(variant: Variant, body: bytes) -> None:
    """One request by hand: a 200, and (limits) the rate-limit headers that prove it counted."""
    response = httpx.post(
        f"{variant.url}/v1/chat/completions", content=body, headers=variant.headers, timeout=10
    )
    if response.status_code != 200:
        raise RuntimeError(f"{variant.name}: {response.status_code} {response.text[:300]}")
    if variant.name.startswith("limits") and "x-ratelimit-limit-requests" not in response.headers:
        raise RuntimeError("limits: the request was not counted (no x-ratelimit-* headers)")
    route = response.headers.get("x-gomodel-route", "")
    if not route.startswith("passthrough"):
        raise RuntimeError(f"{variant.name}: not the fast path (route {route!r})")


def _run(variant: Variant, body: bytes, concurrency: int, duration: float) -> WrkResult:
    before = _cpu_seconds(variant.process.pid)
    result = run_wrk(
        f"{variant.url}/v1/chat/completions",
        body,
        concurrency=concurrency,
        duration=duration,
        headers=variant.headers,
    )
    spent = _cpu_seconds(variant.process.pid) - before
    if not result.requests:
        raise RuntimeError(f"{variant.name} c={concurrency}: no requests")
    if result.error_count:  # counted and shown; their requests are in the figures
        variant.errors += result.error_count
        tail = variant.log.read_text(errors="replace").splitlines()[-5:] if variant.log else []
        print(f"{variant.name} c={concurrency}: errors {result.errors}", file=sys.stderr)
        print("\n".join("    " + line[:300] for line in tail), file=sys.stderr)
    variant.cpu.setdefault(concurrency, []).append(spent / result.requests * 1000)
    variant.p50.setdefault(concurrency, []).append(result.p50_ms)
    variant.rps.setdefault(concurrency, []).append(result.rps)
    return result


def _spread(values: list[float]) -> str:
    """The median and, as a noise figure, the range of the rounds around it."""
    low, high = min(values), max(values)
    return f"{statistics.median(values):7.3f} [{low:.3f}-{high:.3f}]"


def _report(variants: list[Variant], levels: list[int]) -> None:
    base = next((v for v in variants if v.name == "plain"), None)
    for level in levels:
        print(f"\nc={level}  (median [min-max] over {len(variants[0].cpu[level])} rounds)")
        print(f"  {'variant':<11} {'CPU ms/req':>22} {'p50 ms':>22} {'req/s':>10}")
        for v in variants:
            rps = statistics.median(v.rps[level])
            cpu, p50 = _spread(v.cpu[level]), _spread(v.p50[level])
            errors = f"  ({v.errors} errors)" if v.errors else ""
            print(f"  {v.name:<11} {cpu:>22} {p50:>22} {rps:10.0f}{errors}")
        if base is None:
            continue
        for v in variants:
            if v is base:
                continue
            # Ratios per round (the variants ran back to back), then their median.
            cpu = [a / b for a, b in zip(v.cpu[level], base.cpu[level], strict=True)]
            rps = [a / b for a, b in zip(v.rps[level], base.rps[level], strict=True)]
            p50 = [a - b for a, b in zip(v.p50[level], base.p50[level], strict=True)]
            print(
                f"  {v.name}/plain: CPU x{statistics.median(cpu):.3f} "
                f"[{min(cpu):.3f}-{max(cpu):.3f}], req/s x{statistics.median(rps):.3f}, "
                f"p50 {statistics.median(p50):+.3f} ms [{min(p50):+.3f}..{max(p50):+.3f}]"
            )


def _clean_redis(prefix: str) -> None:
    """Delete the run's counters (they would expire anyway, an hour after their window)."""
    cli = ["redis-cli", "-u", REDIS_URL]
    try:
        found = subprocess.run(
            [*cli, "--scan", "--pattern", f"{prefix}*"], capture_output=True, check=True
        ).stdout.split()
        for start in range(0, len(found), 500):
            subprocess.run([*cli, "DEL", *found[start : start + 500]], capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"note: could not delete the Redis keys under {prefix}: {exc}", file=sys.stderr)


_ENGINE = """
import secrets, sys, time
from datetime import UTC, datetime
import trio
import gomodel.limits.redis_store as rs
from gomodel.limits import Demand, Limit, Metric, Period
from gomodel.redis import RedisSettings, open_redis

conc, count, url, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
scope = "path:/bench/team"
limits = [
    Limit(scope, Metric.REQUESTS, 10**12, Period.MINUTE),
    Limit(scope, Metric.TOKENS, 10**14, Period.MINUTE),
    Limit(scope, Metric.CONCURRENT, 10**6),
    Limit(scope, Metric.COST, 10**15, Period.DAY),
]
demand = Demand(input_tokens=300, max_output_tokens=256, input_cost=45000, output_token_cost=600)

async def main():
    async with open_redis(RedisSettings.from_url(url, timeout=5.0)) as client:  # a busy machine
        store = rs.RedisLimits(client, prefix=prefix)
        detached = hasattr(store, "settle_detached")

        async def one(k):
            for _ in range(k):
                now = datetime.now(UTC)
                answer = await store.reserve(limits, demand, now=now)
                if detached:
                    store.settle_detached(answer.reservation, lambda r: None, now=now, tokens=400)
                else:
                    await store.settle(answer.reservation, now=now, tokens=400)

        for k in (20, count // conc):  # a warm-up, then the run
            cpu, wall = time.process_time(), time.perf_counter()
            async with trio.open_nursery() as nursery:
                for _ in range(conc):
                    nursery.start_soon(one, k)
            await trio.sleep(0.05)  # the last detached settles
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print((cpu / count) * 1e6, (wall / count) * 1e6)

trio.run(main)
"""


def _engine(trees: dict[str, Path], levels: list[int], rounds: int, prefix: str) -> None:
    """The limit engine alone, per tree, alternating: CPU and wall microseconds per admission."""
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for round_ in range(rounds):
        for level in levels:
            for name, tree in trees.items() if round_ % 2 == 0 else reversed(trees.items()):
                args = [sys.executable, "-c", _ENGINE, str(level), "2000", REDIS_URL, prefix]
                done = subprocess.run(args, cwd=tree, capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"engine run in {tree} failed:\n{done.stderr[-2000:]}")
                cpu, wall = (float(x) for x in done.stdout.split())
                results.setdefault((name, level), []).append((cpu, wall))
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)
    for level in levels:
        print(f"\nengine, c={level}  (median [min-max] over {rounds} rounds)")
        for name in trees:
            cpu = [c for c, _ in results[(name, level)]]
            wall = [w for _, w in results[(name, level)]]
            print(f"  {name:<6} CPU us/admission {_spread(cpu)}  wall us {_spread(wall)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="50,1")
    parser.add_argument("--only", default="plain,limits", help=f"of {','.join(VARIANTS)}")
    parser.add_argument("--profile", type=Path, help="write cProfile output here")
    parser.add_argument("--base", type=Path, help="also run limits from this tree's gomodel")
    parser.add_argument("--engine", action="store_true", help="the limit engine alone")
    options = parser.parse_args()
    names = [n for n in options.only.split(",") if n]
    if not names or any(n not in VARIANTS for n in names):
        parser.error(f"--only takes names of {VARIANTS}")
    levels = [int(c) for c in options.concurrency.split(",")]
    if options.engine:
        trees = {"this": ROOT, **({"base": options.base} if options.base else {})}
        engine_prefix = f"gomodel:bench:{secrets.token_hex(6)}:"
        try:
            _engine(trees, levels, options.rounds, engine_prefix)
        finally:
            _clean_redis(engine_prefix)
        return
    require_wrk()
    master = "bench-master-" + secrets.token_hex(16)
    prefix = f"gomodel:bench:{secrets.token_hex(6)}:"
    body = orjson.dumps({**WORKLOADS["chat"].body, "max_tokens": 256})
    if options.profile is not None:
        options.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="control-cpu-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        mock = stack.enter_context(mock_provider(workdir))
        stack.callback(_clean_redis, prefix)
        variants = [
            stack.enter_context(_server(n, mock, workdir, master, prefix, options.profile))
            for n in names
        ]
        if options.base is not None:
            base = _server("limits@base", mock, workdir, master, prefix, None, options.base)
            variants.append(stack.enter_context(base))
        for v in variants:
            _check(v, body)
            run_wrk(
                f"{v.url}/v1/chat/completions", body, concurrency=50, duration=2, headers=v.headers
            )  # warm-up: connections, caches, the scripts loaded
        for round_ in range(options.rounds):
            order = variants if round_ % 2 == 0 else variants[::-1]
            for level in levels:
                for v in order:
                    _run(v, body, level, options.duration)
            print(f"round {round_ + 1}/{options.rounds} done", file=sys.stderr)
        _report(variants, levels)


if __name__ == "__main__":
    main()
