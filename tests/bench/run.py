"""The order of a run: the mock first, then one system under test at a time.

mock -> direct runs -> gomodel (each worker count; then chat with metrics on, and with the
audit log on; then chat and stream with the control plane on, tests/bench/control.py, each
variant then measured in turns with a plain gomodel of its own, tests/bench/turns.py)
-> hello (each) -> LiteLLM (each, if asked) -> TLS upstream (a plain and a TLS gateway side by
side per worker count, tests/bench/tls.py) -> start-up times -> the in-process disconnect
measurement -> the soak (its own gateway and mock, tests/bench/soak.py) -> the long streams
(pacerd and a fresh gateway per N, tests/bench/longstream.py). Each server is started once per
worker count, verified, measured (wrk per workload and concurrency, RSS sampled during the
highest concurrency, then TTFB for streams) and stopped before the next one starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from tests.bench.control import (
    CONTROL_WORKLOADS,
    VARIANT_NAMES,
    ControlPlane,
    control_body,
    redis_problem,
    redis_url,
    stop_on_errors,
)
from tests.bench.control_check import ControlCheck
from tests.bench.disconnect import measure_disconnects
from tests.bench.longstream import LongStreamPlan, run_long_streams
from tests.bench.mock import mock_provider
from tests.bench.procs import RssResult, RssSampler, cpu_seconds
from tests.bench.results import Cell, Results, ServerRun, TtfbCell
from tests.bench.servers import (
    VARIANTS,
    Server,
    gateway_command,
    gateway_env,
    gateway_server,
    hello_command,
    hello_server,
    litellm_server,
)
from tests.bench.soak import run_soak
from tests.bench.startup import measure_startup
from tests.bench.targets import workers_label
from tests.bench.tls import run_tls
from tests.bench.ttfb import measure_ttfb
from tests.bench.turns import measure_turns
from tests.bench.verify import BenchError, check_workload
from tests.bench.workloads import GATEWAY_ONLY, WORKLOADS, Workload
from tests.bench.wrk import run_wrk

__all__ = ["Plan", "run"]

# The plain gomodel that the control-plane variants take turns with: a log and a database of
# its own (not the plain run's).
TURNS_PLAIN = "gomodel-turns"


@dataclass
class Plan:
    duration: float
    warmup: float
    concurrency: list[int]
    workers: list[int]
    workloads: list[str]
    with_litellm: bool
    ttfb_samples: tuple[int, int]  # at concurrency 1, above 1
    disconnects: int
    soak: float  # seconds; 0: none
    startup_repeats: int
    workdir: Path
    long_streams: LongStreamPlan | None = None  # None: not run
    turns: int = 3  # rounds of each control-plane variant in turns with plain (turns.py)

    def samples(self, concurrency: int) -> int:
        return self.ttfb_samples[0 if concurrency == 1 else 1]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _measure(
    results: Results,
    plan: Plan,
    workload: Workload,
    concurrency: int,
    *,
    target: str,
    workers: int | None,
    url: str,
    body: bytes,
    pid: int | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    if plan.warmup > 0:
        run_wrk(url, body, concurrency=concurrency, duration=plan.warmup, headers=headers)
    cpu = None if pid is None else cpu_seconds(pid)
    result = run_wrk(url, body, concurrency=concurrency, duration=plan.duration, headers=headers)
    cpu = None if pid is None or cpu is None else cpu_seconds(pid) - cpu
    results.cells.append(Cell(workload.name, concurrency, target, workers, result, cpu))
    errors = f", {result.error_count} ERRORS {result.errors}" if result.error_count else ""
    where = target if workers is None else f"{target} {workers}w"
    say(
        f"  {where:<11} {workload.name:<10} c={concurrency:<3} {result.rps:>9,.0f} req/s  "
        f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms{errors}"
    )
    stop_on_errors(target, f"{workload.name} c={concurrency}", result.error_count)


def _ttfb(
    results: Results,
    plan: Plan,
    workload: Workload,
    *,
    target: str,
    workers: int | None,
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    where = target if workers is None else f"{target} {workers}w"
    for c in plan.concurrency:
        ttfb = measure_ttfb(url, body, concurrency=c, samples=plan.samples(c), headers=headers)
        results.ttfb.append(TtfbCell(workload.name, c, target, workers, ttfb))
        say(
            f"  {where:<11} {workload.name:<10} c={c:<3} TTFB p50 {ttfb.p50_ms:.2f} ms  "
            f"p99 {ttfb.p99_ms:.2f} ms ({ttfb.samples} samples, {ttfb.failures} failed)"
        )
        stop_on_errors(target, f"{workload.name} c={c} TTFB", ttfb.failures)


def _direct(results: Results, plan: Plan, mock_url: str) -> None:
    say("direct (the mock provider, no gateway)")
    for name in plan.workloads:
        workload = WORKLOADS[name]
        check_workload(mock_url, workload, target="direct", workers=None, direct=True)
        url, body = mock_url + workload.direct_path, workload.direct_payload()
        for c in plan.concurrency:
            _measure(results, plan, workload, c, target="direct", workers=None, url=url, body=body)
        if workload.stream:
            _ttfb(results, plan, workload, target="direct", workers=None, url=url, body=body)


def _server(
    results: Results,
    plan: Plan,
    server_cm: AbstractContextManager[Server],
    target: str,
    workers: int,
    workload_names: list[str],
    models: dict[str, str],
    bodies: dict[str, bytes] | None = None,
    after: Callable[[Server, ServerRun], None] | None = None,
) -> None:
    """Check, then measure ``workload_names`` on one server; ``bodies`` replace workloads'
    payloads, ``after`` runs once all is measured, before the server stops."""
    bodies = bodies or {}
    payloads = {
        name: bodies.get(name) or WORKLOADS[name].payload(models.get(name))
        for name in workload_names
    }
    say(f"{target}, {workers_label(workers)}")
    run = ServerRun(target, workers)
    results.servers.append(run)
    top = max(plan.concurrency)
    rss = RssResult(concurrency=top)
    with server_cm as server:
        for name in workload_names:
            workload = WORKLOADS[name]
            model = models.get(name)
            try:
                check = check_workload(
                    server.url,
                    workload,
                    target=target,
                    workers=workers,
                    model=model,
                    check_text=target != "hello",
                    headers=server.headers,
                    body=bodies.get(name),
                )
            except BenchError as exc:
                if target != "litellm":
                    raise
                run.notes.append(f"check failed, measured anyway: {exc}")
                say(f"  note: {exc}")
            else:
                run.checks.append(check)
                if check.route_ok is False:
                    run.notes.append(
                        f"{name}: X-GoModel-Route {check.route!r}, expected {workload.route}..."
                    )
        for name in workload_names:
            workload = WORKLOADS[name]
            url, body = server.url + workload.path, payloads[name]
            for c in plan.concurrency:
                sampler = RssSampler(server.process.pid, rss) if c == top else nullcontext()
                with sampler:
                    _measure(
                        results,
                        plan,
                        workload,
                        c,
                        target=target,
                        workers=workers,
                        url=url,
                        body=body,
                        pid=server.process.pid,
                        headers=server.headers,
                    )
        run.rss = rss
        for name in workload_names:
            workload = WORKLOADS[name]
            if workload.stream and target != "hello":
                url, body = server.url + workload.path, payloads[name]
                _ttfb(
                    results,
                    plan,
                    workload,
                    target=target,
                    workers=workers,
                    url=url,
                    body=body,
                    headers=server.headers,
                )
        if after is not None:
            after(server, run)
    run.log = server.log


def _control(results: Results, plan: Plan, mock_url: str, workers: int) -> None:
    """The control-plane variants (tests/bench/control.py), chat and stream, beside plain; then
    each in turns with a plain gomodel of its own (tests/bench/turns.py) at the top
    concurrency, which the targets are judged on."""
    names = [name for name in CONTROL_WORKLOADS if name in plan.workloads]
    if not names:
        return
    url = redis_url()
    problem = redis_problem(url)
    if problem is not None:
        for variant in VARIANT_NAMES:
            check = ControlCheck(
                variant, workers, skipped=f"Redis at {url} does not answer ({problem})"
            )
            results.control.append(check)
            say(f"{variant}, {workers_label(workers)}: skipped: {check.skipped}")
        return
    with gateway_server(mock_url, workers, plan.workdir, TURNS_PLAIN) as plain:
        for variant in VARIANT_NAMES:
            check = ControlCheck(variant, workers)
            results.control.append(check)
            plane = ControlPlane(variant, url, workers, check)
            bodies = {name: control_body(WORKLOADS[name]) for name in names}

            def after(server: Server, run: ServerRun, plane: ControlPlane = plane) -> None:
                for name in names:
                    workload = WORKLOADS[name]
                    turns = measure_turns(
                        (plain, control_body(workload)),  # the same request through both
                        (server, control_body(workload)),
                        workload=name,
                        path=workload.path,
                        concurrency=max(plan.concurrency),
                        workers=workers,
                        rounds=plan.turns,
                        duration=plan.duration,
                        warmup=plan.warmup,
                    )
                    results.turns.append(turns)
                    median = turns.rps_median
                    say(
                        f"  {server.target:<11} {name:<10} in turns: "
                        f"{'n/a' if median is None else f'x{median:.3f}'} plain req/s over "
                        f"{len(turns.rps)} rounds"
                    )
                plane.verify(server, {c.workload: c.route or "" for c in run.checks})

            server = plane.server(mock_url, plan.workdir)
            try:
                _server(results, plan, server, variant, workers, names, {}, bodies, after)
            except BenchError as exc:  # VariantFailed among them: stopped, reported
                check.problems.append(str(exc))
            for note in check.problems:
                say(f"  {variant}: PROBLEM: {note}")


def _litellm_models() -> dict[str, str]:
    from tests.bench import litellm

    return dict(litellm.MODELS)


def _startup(results: Results, plan: Plan, mock_url: str) -> None:
    say(f"start-up time, {plan.startup_repeats} times each")
    env = {**os.environ, **gateway_env(mock_url, plan.workdir)}
    gateway = measure_startup(
        lambda port: gateway_command(port, 1),
        env,
        plan.workdir / "startup-gomodel.log",
        plan.startup_repeats,
    )
    hello = measure_startup(
        lambda port: hello_command(port, 1),
        dict(os.environ),
        plan.workdir / "startup-hello.log",
        plan.startup_repeats,
    )
    results.startup_s = {"gomodel": gateway, "hello": hello}
    say(
        f"  gomodel {', '.join(f'{s:.3f}' for s in gateway)} s; hello "
        f"{', '.join(f'{s:.3f}' for s in hello)} s"
    )


def _all(results: Results, plan: Plan, mock_url: str) -> None:
    _direct(results, plan, mock_url)
    for w in plan.workers:
        server = gateway_server(mock_url, w, plan.workdir)
        _server(results, plan, server, "gomodel", w, plan.workloads, {})
        if "chat" in plan.workloads:  # what metrics and the audit log cost, beside plain chat
            for variant in VARIANTS:
                server = gateway_server(mock_url, w, plan.workdir, variant)
                _server(results, plan, server, variant, w, ["chat"], {})
        _control(results, plan, mock_url, w)
    if "chat" in plan.workloads:
        for w in plan.workers:
            _server(results, plan, hello_server(w, plan.workdir), "hello", w, ["chat"], {})
    if plan.with_litellm:
        models = _litellm_models()
        peer_workloads = [name for name in plan.workloads if name not in GATEWAY_ONLY]
        for w in plan.workers:
            server = litellm_server(mock_url, w, plan.workdir)
            try:
                _server(results, plan, server, "litellm", w, peer_workloads, models)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                # The peer failing must not cost the gateway's figures: note it, go on.
                say(f"  litellm {w}w failed: {exc}")
                run = results.server("litellm", w) or ServerRun("litellm", w)
                run.notes.append(f"failed, not measured further: {exc}")
                if run not in results.servers:
                    results.servers.append(run)
    _tls(results, plan, mock_url)
    _startup(results, plan, mock_url)


def _tls(results: Results, plan: Plan, mock_url: str) -> None:
    """The TLS upstream workload (tests/bench/tls.py); its TLS side also as gomodel-tls cells."""
    results.tls = run_tls(
        mock_url,
        plan.workdir,
        workers=plan.workers,
        concurrency=plan.concurrency,
        workloads=plan.workloads,
        duration=plan.duration,
        warmup=plan.warmup,
        say=say,
    )
    for cell in results.tls:
        tls = Cell(cell.workload, cell.concurrency, "gomodel-tls", cell.workers, cell.tls.wrk)
        results.cells.append(tls)


def run(results: Results, plan: Plan) -> None:
    started = time.monotonic()
    try:
        with mock_provider(plan.workdir) as mock_url:
            say(f"mock provider (mockd) on {mock_url}")
            _all(results, plan, mock_url)
        say(f"client close -> provider close, {plan.disconnects} streams")
        results.disconnect = measure_disconnects(plan.disconnects)
        if plan.soak > 0:
            say(f"soak, {plan.soak:g} s of streams with clients leaving and provider faults")
            results.soak = run_soak(plan.soak, plan.workdir / "soak")
        if plan.long_streams is not None:
            results.long_streams = run_long_streams(plan.long_streams, say)
    finally:
        results.wall_seconds = time.monotonic() - started
        results.loadavg_end = os.getloadavg()[0]
