"""How cost grows, as pictures: throughput and RSS against concurrency and against stream
length, PNGs written beside the report (issue 18 item 5).

Against concurrency, two kinds of load share one axis: wrk's chat cells (c = 1 ... 50
connections, each sending requests back to back; req/s) and the long streams (N = 100 ...
5,000 open streams; relayed events/s), all through one gateway worker. matplotlib is the
``bench`` extra; without it the report says the charts were skipped and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.bench.longstream import LongStreamCell
from tests.bench.results import Results

__all__ = ["write_charts"]

WORKERS = 1  # the long streams run one worker; the wrk cells shown beside them the same


def _first(cells: list[LongStreamCell], target: str = "gomodel") -> list[LongStreamCell]:
    return [c for c in cells if c.target == target and c.first is not None]


def _concurrency(results: Results, plt: Any, path: Path) -> bool:
    chat = [
        (c.concurrency, c.wrk.rps)
        for c in sorted(results.cells, key=lambda c: c.concurrency)
        if (c.workload, c.target, c.workers) == ("chat", "gomodel", WORKERS)
    ]
    long = results.long_streams
    streams = _first(long.cells) if long else []
    direct = _first(long.cells, "direct") if long else []
    if not chat and not streams:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    if chat:
        left.plot([c for c, _ in chat], [r for _, r in chat], "o-", label="chat, wrk (req/s)")
    if streams:
        left.plot(
            [c.streams for c in streams],
            [c.runs[0].events_per_s for c in streams],
            "s-",
            label="long streams (relayed events/s)",
        )
    if direct:
        left.plot(
            [c.streams for c in direct],
            [c.runs[0].events_per_s for c in direct],
            "x--",
            label="long streams, no gateway",
        )
    left.set(xscale="log", xlabel="concurrent requests / open streams", ylabel="per second")
    left.set_title(f"Throughput, gomodel {WORKERS} worker")
    left.legend(fontsize=8)
    run = results.server("gomodel", WORKERS)
    if run is not None and run.rss is not None and run.rss.workers_mb:
        right.plot([run.rss.concurrency], [run.rss.max_worker_mb], "o", label="chat etc., wrk")
    if streams:
        xs = [c.streams for c in streams]
        right.plot(xs, [c.runs[0].rss_peak_mb for c in streams], "s-", label="long streams, peak")
        right.plot(xs, [c.runs[-1].rss_after_mb for c in streams], "v:", label="after (last run)")
        right.plot(xs, [c.rss_rest_mb for c in streams], "^:", label="at rest")
    right.set(xscale="log", xlabel="concurrent requests / open streams", ylabel="RSS (MB)")
    right.set_title("Worker RSS")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def _length(results: Results, plt: Any, path: Path) -> bool:
    long = results.long_streams
    sweep = _first(long.sweep) if long else []
    if not sweep:
        return False
    xs = [c.events for c in sweep]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(xs, [c.runs[0].events_per_s for c in sweep], "s-", label="relayed events/s")
    cpu = [c.runs[0].cpu_ms_per_event for c in sweep]
    if all(v is not None for v in cpu):
        twin = left.twinx()
        twin.plot(xs, cpu, "x--", color="tab:red", label="worker CPU ms / event")
        twin.set_ylabel("CPU ms per event")
        twin.legend(fontsize=8, loc="lower right")
    left.set(xscale="log", xlabel="events per stream", ylabel="events/s")
    left.set_title(f"Throughput, {sweep[0].streams} streams, {WORKERS} worker")
    left.legend(fontsize=8, loc="upper left")
    right.plot(xs, [c.runs[0].rss_peak_mb for c in sweep], "s-", label="peak")
    right.plot(xs, [c.runs[0].rss_after_mb for c in sweep], "v:", label="after")
    right.plot(xs, [c.rss_rest_mb for c in sweep], "^:", label="before")
    right.set(xscale="log", xlabel="events per stream", ylabel="RSS (MB)")
    right.set_title("Worker RSS (one gateway, lengths in turn)")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True


def write_charts(results: Results, out: Path) -> tuple[list[str], str]:
    """Write ``<out stem>-concurrency.png`` and ``<out stem>-length.png`` beside ``out``;
    returns the file names written and, when none could be, why."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib is not installed (pip install -e '.[bench]'): no charts"
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, draw in (("concurrency", _concurrency), ("length", _length)):
        path = out.with_name(f"{out.stem}-{suffix}.png")
        if draw(results, plt, path):
            written.append(path.name)
    return written, "" if written else "nothing to draw"
