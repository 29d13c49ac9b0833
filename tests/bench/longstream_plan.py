"""The long-stream options of ``python -m tests.bench`` and the plan they make.

Default shape: 20 events per stream, one a second, start times spread over a second: the shape
of issue 18's own table, so at N=1,000 a worker relays 1,000 events/s. At the ~0.35-0.5 ms of
worker CPU per relayed event measured so far one worker relays at most ~2,000-3,000 events/s,
so a faster cadence (the issue's example of 200 events every 50 ms is 20,000 events/s at
N=1,000) measures an overloaded worker, not the cost of holding streams open: the lag is then
the queue. ``--stream-events 200 --stream-interval-ms 50`` gives that shape when wanted. The
length sweep holds the cadence and N=500 and varies the number of events.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tests.bench.longstream import LongStreamPlan

__all__ = ["add_long_stream_options", "long_stream_options", "long_stream_plan"]

FULL = LongStreamPlan([100, 1000, 5000], 20, 1000.0, 500, [5, 20, 60], 2, Path())
QUICK = LongStreamPlan([100, 1000], 10, 1000.0, 200, [5, 20], 2, Path())
SMOKE = LongStreamPlan([20], 10, 20.0, 20, [5, 10], 2, Path(), settle_s=0.5)


def _streams(text: str) -> list[int]:
    """``100,1000,5000``; ``0`` leaves the phase out."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if values == [0]:
        return []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1 (or 0: none), got {text!r}")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _positive_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of ms, got {text!r}")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of ms, got {text!r}")
    return value


def add_long_stream_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--long-streams",
        type=_streams,
        help="open streams per gateway worker, each N run twice (default 100,1000,5000; "
        "5,000 and more are opened at once; 0: none)",
    )
    parser.add_argument(
        "--stream-events",
        type=_positive_int,
        help=f"content events per long stream (default {FULL.events})",
    )
    parser.add_argument(
        "--stream-interval-ms",
        type=_positive_ms,
        help=f"ms between a long stream's events (default {FULL.interval_ms:g})",
    )


def long_stream_plan(args: argparse.Namespace, workdir: Path) -> LongStreamPlan | None:
    base = SMOKE if args.smoke else QUICK if args.quick else FULL
    streams = base.streams if args.long_streams is None else args.long_streams
    if not streams:
        return None
    return LongStreamPlan(
        streams=streams,
        events=args.stream_events or base.events,
        interval_ms=args.stream_interval_ms or base.interval_ms,
        sweep_streams=base.sweep_streams if args.long_streams is None else 0,
        sweep_events=base.sweep_events,
        runs=base.runs,
        workdir=workdir,
        settle_s=base.settle_s,
        with_litellm=bool(args.with_litellm),
    )


def long_stream_options(plan: LongStreamPlan | None) -> dict[str, Any] | None:
    """The plan as the results' JSON records it."""
    if plan is None:
        return None
    return {**vars(plan), "workdir": str(plan.workdir)}
