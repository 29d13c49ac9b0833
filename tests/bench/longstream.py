"""The long-stream workload (issue 18): N streams held open through one gateway worker, each
sending one event per interval from ``pacerd``, timed by ``streamload`` (tests/bench/pacer.py).

For each N a fresh ``gomodel serve --workers 1`` is started, warmed up with a few requests and
left to settle; its RSS then is the rest figure. The same load runs twice in a row: RSS at peak
and after the streams ended, each time. Memory that the first run leaves behind and the second
does not add to is the allocator's high-water mark; memory that grows again is a leak. CPU is
utime + stime of the worker (children included) over the run, divided by the events relayed.

``direct`` runs the same load against ``pacerd`` itself: the floor of lag and TTFB that the
machine, the mock and the client give without a gateway. The stream-length sweep holds N fixed
and varies the events per stream (issue 18 item 5: how cost grows with stream length).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.bench.pacer import LoadResult, pacer_provider, run_load
from tests.bench.procs import RssResult, RssSampler, rss_mb, stop_process, worker_pids
from tests.bench.servers import REPO, Server, free_port, gateway_command, gateway_env, wait_until

__all__ = [
    "AT_ONCE",
    "LongStreamCell",
    "LongStreamPlan",
    "LongStreamResult",
    "StreamRun",
    "run_long_streams",
    "spread_ms",
]

AT_ONCE = 5000  # from this many streams on they are opened all at once, not over SPREAD_MS
SPREAD_MS = 1000.0  # or half a stream's nominal length, if shorter: probes need all N open
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class LongStreamPlan:
    streams: list[int]  # N values
    events: int  # per stream
    interval_ms: float
    sweep_streams: int  # N of the stream-length sweep (0: none)
    sweep_events: list[int]  # its stream lengths, all through one gateway, one run each
    runs: int  # identical runs per N (2: a leak is told from the high-water mark)
    workdir: Path
    settle_s: float = 1.5  # after a run, before the "after" RSS: streams closing, usage flush
    with_litellm: bool = False  # also LiteLLM's proxy, one run per N, up to the N it survives


@dataclass
class StreamRun:
    """One pass of the load through one gateway."""

    load: LoadResult
    rss_peak_mb: float | None
    rss_after_mb: float | None  # settle_s after the last stream ended
    cpu_s: float | None  # the worker's CPU over the run

    @property
    def cpu_ms_per_event(self) -> float | None:
        if self.cpu_s is None or not self.load.events:
            return None
        return self.cpu_s * 1000 / self.load.events

    @property
    def events_per_s(self) -> float:
        return self.load.events / self.load.wall_s if self.load.wall_s else 0.0


@dataclass
class LongStreamCell:
    target: str  # "gomodel", "litellm" or "direct" (pacerd, no gateway)
    streams: int
    events: int
    interval_ms: float
    at_once: bool
    rss_rest_mb: float | None = None
    runs: list[StreamRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def first(self) -> StreamRun | None:
        return self.runs[0] if self.runs else None

    @property
    def rss_per_stream_kb(self) -> float | None:
        """(peak - rest) / N of the first run, in KB (10^3 bytes)."""
        run = self.first
        if run is None or run.rss_peak_mb is None or self.rss_rest_mb is None:
            return None
        return (run.rss_peak_mb - self.rss_rest_mb) * 1000 / self.streams

    @property
    def second_run_adds_mb(self) -> float | None:
        """RSS after the second run minus after the first: ~0 for a high-water mark."""
        if len(self.runs) < 2:
            return None
        first, second = self.runs[0].rss_after_mb, self.runs[1].rss_after_mb
        return None if first is None or second is None else second - first


@dataclass
class LongStreamResult:
    events: int
    interval_ms: float
    cells: list[LongStreamCell] = field(default_factory=list)  # N values, gomodel and direct
    sweep: list[LongStreamCell] = field(default_factory=list)  # one N, several lengths

    def cell(self, target: str, streams: int) -> LongStreamCell | None:
        return next((c for c in self.cells if (c.target, c.streams) == (target, streams)), None)


def spread_ms(streams: int, events: int, interval_ms: float) -> float:
    """Over how long the streams' start times are spread (0: all at once)."""
    return 0.0 if streams >= AT_ONCE else min(SPREAD_MS, events * interval_ms / 2)


def cpu_seconds(pids: list[int]) -> float | None:
    """utime + stime + cutime + cstime of ``pids`` from /proc, None if one is gone."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rfind(")") + 2 :].split()
        total += sum(int(v) for v in fields[11:15])  # fields 14-17 of proc(5)
    return total / CLK_TCK


def _ready(client: httpx.Client) -> bool:
    if client.get("/ready").status_code != 200:
        return False
    listed = client.get("/v1/models")
    return listed.status_code == 200 and "gpt-4o-mini" in listed.text


@contextmanager
def _gateway(
    pacer_url: str, streams: int, workdir: Path, name: str
) -> Iterator[tuple[str, list[int]]]:
    """One ``gomodel serve --workers 1`` with room for ``streams`` client requests and as many
    provider connections (both limits default to 1,000), probes and warm-up besides."""
    room = str(2 * streams + 100)
    env = {
        **os.environ,
        **gateway_env(pacer_url, workdir),
        "SQLITE_PATH": str(workdir / f"{name}.db"),
        "HTTP_MAX_CONNECTIONS": room,
        "MAX_CONCURRENT_REQUESTS": room,
    }
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            gateway_command(port, 1),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server("gomodel", 1, f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until(server, _ready)
        yield server.url, worker_pids(process.pid)
    finally:
        stop_process(process)


@contextmanager
def _litellm(
    pacer_url: str, streams: int, workdir: Path, name: str
) -> Iterator[tuple[str, list[int]]]:
    """LiteLLM's proxy, one worker, as tests/bench/litellm.py configures it for the bench."""
    from tests.bench import litellm

    python = litellm.ensure_installed(REPO / ".bench")
    port = free_port()
    own = workdir / name
    with litellm.litellm_proxy(python, pacer_url, port, 1, own) as process:
        pids = litellm.server_pids(own / "litellm.log") or [process.pid]
        yield f"http://127.0.0.1:{port}", pids[-1:]


SERVERS: dict[str, Callable[..., AbstractContextManager[tuple[str, list[int]]]]] = {
    "gomodel": _gateway,
    "litellm": _litellm,
}


DEADLINE_MS_PER_EVENT = 1.0  # allowance for a saturated worker: 2-3x its measured cost


def _deadline(streams: int, events: int, interval_ms: float, spread_ms: float) -> float:
    """Time the load may take: twice the streams' nominal length, a margin, and 1 ms per event
    for a worker that cannot keep up (it shows as late events; past this, as timed-out
    streams)."""
    nominal = 2 * events * interval_ms + spread_ms + streams * events * DEADLINE_MS_PER_EVENT
    return nominal / 1000 + 30


def _one_run(
    url: str, pids: list[int], streams: int, events: int, interval: float, settle_s: float
) -> StreamRun:
    spread = spread_ms(streams, events, interval)
    rss = RssResult(concurrency=streams)
    cpu_before = cpu_seconds(pids) if pids else None
    with RssSampler(pids[0], rss, interval=0.1) if pids else _nothing():
        load = run_load(
            url,
            streams,
            events,
            spread_ms=spread,
            deadline_s=_deadline(streams, events, interval, spread),
        )
    cpu_after = cpu_seconds(pids) if pids else None
    cpu = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    peak = rss.max_worker_mb if pids else None
    if pids:
        time.sleep(settle_s)
    after = rss_mb(pids[0]) if pids else None
    return StreamRun(load, peak, after, cpu)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _describe(cell: LongStreamCell, run: StreamRun) -> str:
    load = run.load
    rss = (
        ""
        if run.rss_peak_mb is None
        else f" RSS rest {cell.rss_rest_mb:.1f} peak {run.rss_peak_mb:.1f} after "
        f"{run.rss_after_mb or 0:.1f} MB;"
    )
    cpu = "" if run.cpu_ms_per_event is None else f" {run.cpu_ms_per_event:.3f} ms CPU/event;"
    return (
        f"  {cell.target:<8} N={cell.streams:<5} E={cell.events:<4}{rss}{cpu} lag p50 "
        f"{load.lag_ms.p50:.1f} p99 {load.lag_ms.p99:.1f} max {load.lag_ms.max:.0f} ms; probe "
        f"TTFB p99 {load.probe_ttfb_ms.p99:.1f} ms; stream TTFB p99 {load.stream_ttfb_ms.p99:.0f} "
        f"ms; {load.completed}/{load.streams} completed, "
        f"{load.refused} refused, {load.reset} reset, {load.timed_out} timed out"
    )


def _gateway_cells(
    pacer_url: str,
    plan: LongStreamPlan,
    streams: int,
    lengths: list[int],
    runs: int,
    say: Callable[[str], None],
    target: str = "gomodel",
) -> list[LongStreamCell]:
    """One fresh server: ``runs`` runs of N streams for each length in turn. A cell's rest
    figure is the RSS just before its first run."""
    cells = []
    name = f"longstream-{target}-n{streams}"
    name += f"-e{lengths[0]}" if len(lengths) == 1 else "-sweep"
    with SERVERS[target](pacer_url, streams, plan.workdir, name) as (url, pids):
        run_load(url, 10, 2, spread_ms=0, deadline_s=30)  # warm-up: first-use costs
        time.sleep(plan.settle_s)
        for events in lengths:
            cell = LongStreamCell(target, streams, events, plan.interval_ms, streams >= AT_ONCE)
            cell.rss_rest_mb = rss_mb(pids[0])
            for _ in range(runs):
                run = _one_run(url, pids, streams, events, plan.interval_ms, plan.settle_s)
                cell.runs.append(run)
                say(_describe(cell, run))
            cells.append(cell)
    return cells


def _direct_cell(
    pacer_url: str, plan: LongStreamPlan, streams: int, say: Callable[[str], None]
) -> LongStreamCell:
    cell = LongStreamCell("direct", streams, plan.events, plan.interval_ms, streams >= AT_ONCE)
    run = _one_run(pacer_url, [], streams, plan.events, plan.interval_ms, 0)
    cell.runs.append(run)
    say(_describe(cell, run))
    return cell


def _litellm_cells(
    pacer_url: str, plan: LongStreamPlan, say: Callable[[str], None]
) -> list[LongStreamCell]:
    """LiteLLM at each N in turn, once, until an N loses more than a tenth of its streams."""
    cells: list[LongStreamCell] = []
    for streams in sorted(plan.streams):
        try:
            cells += _gateway_cells(pacer_url, plan, streams, [plan.events], 1, say, "litellm")
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            say(f"  litellm N={streams} failed: {exc}")
            cell = LongStreamCell("litellm", streams, plan.events, plan.interval_ms, False)
            cell.notes.append(f"not measured: {exc}"[:2000])
            cells.append(cell)
            break
        run = cells[-1].first
        if run is None or run.load.lost > streams / 10:
            break  # the N it survives was the one before
    return cells


def run_long_streams(plan: LongStreamPlan, say: Callable[[str], None]) -> LongStreamResult:
    """Every N through a fresh gateway (``plan.runs`` times) and directly, then the sweep."""
    result = LongStreamResult(plan.events, plan.interval_ms)
    plan.workdir.mkdir(parents=True, exist_ok=True)
    with pacer_provider(plan.events, plan.interval_ms) as pacer_url:
        say(
            f"long streams: pacerd on {pacer_url}, {plan.events} events per stream, "
            f"one every {plan.interval_ms:g} ms"
        )
        for streams in plan.streams:
            result.cells.append(_direct_cell(pacer_url, plan, streams, say))
            try:
                cells = _gateway_cells(pacer_url, plan, streams, [plan.events], plan.runs, say)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                # One N failing (a gateway that died under 5,000 streams) is a finding.
                cell = LongStreamCell(
                    "gomodel", streams, plan.events, plan.interval_ms, streams >= AT_ONCE
                )
                cell.notes.append(f"not measured: {exc}"[:2000])
                say(f"  gomodel N={streams} failed: {exc}")
                cells = [cell]
            result.cells += cells
        if plan.with_litellm:
            result.cells += _litellm_cells(pacer_url, plan, say)
        if plan.sweep_streams and plan.sweep_events:
            result.sweep = _gateway_cells(
                pacer_url, plan, plan.sweep_streams, plan.sweep_events, 1, say
            )
    return result
