"""The report's "Long streams" table and its "How cost grows" section (issue 18 items 1, 5)."""

from __future__ import annotations

from tests.bench.longstream import LongStreamCell, LongStreamResult, StreamRun, spread_ms
from tests.bench.results import Results

__all__ = ["cost_growth", "long_streams"]

DASH = "-"


def _f(value: float | None, fmt: str = ".1f") -> str:
    return DASH if value is None else format(value, fmt)


def _row(cell: LongStreamCell, index: int, run: StreamRun) -> str:
    load = run.load
    first = index == 0
    per_stream = _f(cell.rss_per_stream_kb, ".0f") if first else DASH
    adds = _f(cell.second_run_adds_mb, "+.1f") if index == 1 else DASH
    lost = load.refused + load.reset
    counts = (
        f"{load.completed}/{load.streams}; {load.refused} / {load.reset}"
        + (f"; {load.incomplete} cut" if load.incomplete else "")
        + (f"; {load.timed_out} timed out" if load.timed_out else "")
        + (f"; {load.closed_before_response} closed early" if load.closed_before_response else "")
        + (f"; {load.non_200} non-200" if load.non_200 else "")
    )
    if lost:
        counts = f"**{counts}**"
    spread = spread_ms(cell.streams, cell.events, cell.interval_ms)
    start = "at once" if not spread else f"over {spread / 1000:g} s"
    return (
        f"| {cell.target} | {cell.streams:,} | {cell.events} | {start} | {index + 1} "
        f"| {_f(cell.rss_rest_mb) if first else DASH} | {_f(run.rss_peak_mb)} "
        f"| {_f(run.rss_after_mb)} | {adds} | {per_stream} | {_f(run.cpu_ms_per_event, '.3f')} "
        f"| {run.events_per_s:,.0f} | {load.lag_ms.p50:.1f} / {load.lag_ms.p99:.1f} / "
        f"{load.lag_ms.max:.0f} | {load.stream_ttfb_ms.p50:.0f} / {load.stream_ttfb_ms.p99:.0f} "
        f"| {load.probe_ttfb_ms.p50:.1f} / {load.probe_ttfb_ms.p99:.1f} ({load.probes_ok}) "
        f"| {counts} |"
    )


HEADER = [
    "| target | streams | events | opened | run | RSS rest | RSS peak | RSS after "
    "| 2nd run adds | KB / stream | CPU ms / event | events/s | lag p50 / p99 / max (ms) "
    "| stream TTFB p50 / p99 (ms) | new request TTFB p50 / p99 (ms, probes) "
    "| completed; refused / reset |",
    "|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
]


def _rows(cells: list[LongStreamCell]) -> list[str]:
    lines = []
    for cell in cells:
        for index, run in enumerate(cell.runs):
            lines.append(_row(cell, index, run))
        for note in cell.notes:
            lines.append(f"| {cell.target} | {cell.streams:,} | {cell.events} | | | {note} |")
    return lines


def long_streams(results: Results) -> list[str]:
    long: LongStreamResult | None = results.long_streams
    if long is None:
        return []
    lines = [
        "## Long streams",
        "",
        f"`pacerd` sends one content event every {long.interval_ms:g} ms; `streamload` holds "
        "N streams open through one `gomodel serve --workers 1` (a fresh one per N, the same "
        "load run twice) and sends a new non-streamed request every 75 ms while they are open. "
        "`direct` is the same load against `pacerd` itself: the machine's floor. RSS in MB "
        "(worker, VmRSS); KB / stream is (peak - rest) / N of the first run; CPU is the "
        "worker's utime + stime over the run per relayed event; lag is the mock's write to "
        "the client's read.",
        "",
        *HEADER,
        *_rows(long.cells),
    ]
    if long.sweep:
        lines += [
            "",
            f"Stream length, {long.sweep[0].streams:,} streams through one gateway, lengths "
            "in turn (RSS rest: before that length's run):",
            "",
            *HEADER,
            *_rows(long.sweep),
        ]
    return lines


def _growth(cells: list[LongStreamCell], key: str) -> str:
    parts = []
    for cell in cells:
        run = cell.first
        if run is None:
            continue
        label = f"N={cell.streams:,}" if key == "streams" else f"{cell.events} events"
        parts.append(
            f"{label}: {run.events_per_s:,.0f} events/s, {_f(run.cpu_ms_per_event, '.3f')} ms "
            f"CPU per event, RSS peak {_f(run.rss_peak_mb)} MB"
        )
    return "; ".join(parts)


def cost_growth(results: Results) -> list[str]:
    long = results.long_streams
    if long is None and not results.charts and not results.charts_note:
        return []
    lines = ["## How cost grows", ""]
    gateway = [c for c in long.cells if c.target == "gomodel"] if long else []
    if gateway:
        lines.append(f"* Against open streams (1 worker): {_growth(gateway, 'streams')}.")
    if long is not None and long.sweep:
        lines.append(
            f"* Against stream length ({long.sweep[0].streams:,} streams): "
            f"{_growth(long.sweep, 'events')}."
        )
    lines += [f"* ![{name}]({name})" for name in results.charts]
    if results.charts_note:
        lines.append(f"* Charts: {results.charts_note}.")
    return lines
