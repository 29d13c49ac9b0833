"""``python -m tests.bench [--duration S] [--concurrency 1,10,50] [--workers 1,2]
[--workloads chat,stream,translated,responses,messages,messages_translated] [--with-litellm]
[--smoke] [--quick] [--soak S] [--long-streams 100,1000,5000] [--stream-events E]
[--stream-interval-ms MS] [--out PATH]``.

Exit status: 0 whenever the bench ran, whatever the numbers; 1 when it could not measure (a
workload failed its check, a server did not start); 2 for bad arguments or a missing wrk.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.bench.charts import write_charts
from tests.bench.longstream_plan import (
    add_long_stream_options,
    long_stream_options,
    long_stream_plan,
)
from tests.bench.report import markdown, table_rows
from tests.bench.results import Results, machine_info
from tests.bench.run import Plan, run
from tests.bench.servers import REPO
from tests.bench.targets import evaluate
from tests.bench.verify import BenchError
from tests.bench.workloads import WORKLOADS, workload_names
from tests.bench.wrk import require_wrk, wrk_version

__all__ = ["main"]

DEFAULT_OUT = REPO / ".bench" / "results.json"


def _ints(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def _workloads(text: str) -> list[str]:
    try:
        return workload_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 5)")
    parser.add_argument("--concurrency", type=_ints, help="connections (default 1,10,50)")
    parser.add_argument("--workers", type=_ints, help="gateway worker counts (default 1,2)")
    parser.add_argument(
        "--workloads", type=_workloads, help=f"default {','.join(WORKLOADS)}", default=None
    )
    parser.add_argument(
        "--with-litellm", action="store_true", help="also measure LiteLLM's proxy (installs it)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick check that the harness works: 0.5 s runs, c=1,10, 1 worker, no warm-up",
    )
    parser.add_argument(
        "--soak",
        type=float,
        help="seconds of the soak (tests/bench/soak.py): streams with clients leaving and "
        "provider faults, then what is left; default 60, 0 with --smoke (0: no soak)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a subset of the whole bench in a few minutes: 2 s runs, c=1,50, 1 worker, "
        "long streams N=100,1000 with 20 events, no soak",
    )
    add_long_stream_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results (default "
        ".bench/results.json); the markdown report goes beside it as .md",
    )
    return parser


def plan_from(args: argparse.Namespace) -> Plan:
    smoke, quick = bool(args.smoke), bool(args.quick) and not args.smoke
    out: Path = args.out.resolve()
    workdir = out.parent / f"{out.stem}-work"
    default_duration = 0.5 if smoke else 2.0 if quick else 5.0
    return Plan(
        duration=args.duration if args.duration is not None else default_duration,
        warmup=0.0 if smoke else 0.5 if quick else 1.0,
        concurrency=args.concurrency or ([1, 10] if smoke else [1, 50] if quick else [1, 10, 50]),
        workers=args.workers or ([1] if smoke or quick else [1, 2]),
        workloads=args.workloads or list(WORKLOADS),
        with_litellm=bool(args.with_litellm),
        ttfb_samples=(10, 20) if smoke else (50, 100) if quick else (200, 500),
        disconnects=5 if smoke else 20 if quick else 50,
        soak=args.soak if args.soak is not None else (0.0 if smoke or quick else 60.0),
        startup_repeats=3,
        workdir=workdir,
        long_streams=long_stream_plan(args, workdir / "longstream"),
        turns=2 if smoke or quick else 3,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        print("bench: --duration must be positive", file=sys.stderr)
        return 2
    if args.soak is not None and args.soak < 0:
        print("bench: --soak must be 0 or more", file=sys.stderr)
        return 2
    require_wrk()
    plan = plan_from(args)
    out: Path = args.out.resolve()
    shutil.rmtree(plan.workdir, ignore_errors=True)  # server logs and usage DB of the last run
    plan.workdir.mkdir(parents=True)
    options = {
        "duration": plan.duration,
        "warmup": plan.warmup,
        "concurrency": plan.concurrency,
        "workers": plan.workers,
        "workloads": plan.workloads,
        "with_litellm": plan.with_litellm,
        "smoke": bool(args.smoke),
        "quick": bool(args.quick),
        "long_streams": long_stream_options(plan.long_streams),
        "ttfb_samples": list(plan.ttfb_samples),
        "disconnects": plan.disconnects,
        "turns": plan.turns,
        "soak": plan.soak,
        "startup_repeats": plan.startup_repeats,
        "workdir": str(plan.workdir),
    }
    results = Results(options=options, machine=machine_info(wrk_version()))
    try:
        run(results, plan)
    except (BenchError, RuntimeError) as exc:
        print(f"\nbench: cannot measure: {exc}", file=sys.stderr)
        return 1
    results.charts, results.charts_note = write_charts(results, out)
    report = markdown(results)
    targets = [{**vars(t), "verdict": t.verdict, "rule": t.rule} for t in evaluate(results)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(results.to_json({"table": table_rows(results), "targets": targets}))
    out.with_suffix(".md").write_text(report)
    print(report)
    print(f"results: {out}, {out.with_suffix('.md')}; logs in {plan.workdir}", file=sys.stderr)
    return 0
