"""Everything one run measured, looked up by (workload, concurrency, target, workers), and its
JSON form."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.bench.control_check import ControlCheck
from tests.bench.disconnect import DisconnectResult
from tests.bench.longstream import LongStreamResult
from tests.bench.procs import RssResult
from tests.bench.servers import REPO, LogSummary
from tests.bench.soak import SoakResult
from tests.bench.tls import TlsCell
from tests.bench.ttfb import TtfbResult
from tests.bench.turns import TurnRatio
from tests.bench.verify import Check
from tests.bench.wrk import WrkResult

__all__ = ["Cell", "Results", "ServerRun", "TtfbCell", "machine_info"]

TARGETS = ("direct", "gomodel", "hello", "litellm")


@dataclass
class Cell:
    workload: str
    concurrency: int
    target: str  # direct | gomodel | hello | litellm
    workers: int | None  # None for direct: workers do not apply
    wrk: WrkResult
    cpu_s: float | None = None  # the server tree's CPU seconds during the measured run

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_s is None or not self.wrk.requests:
            return None
        return self.cpu_s / self.wrk.requests * 1e6


@dataclass
class TtfbCell:
    workload: str
    concurrency: int
    target: str
    workers: int | None
    ttfb: TtfbResult


@dataclass
class ServerRun:
    """One system under test at one worker count: its checks, memory and log."""

    target: str
    workers: int
    checks: list[Check] = field(default_factory=list)
    rss: RssResult | None = None
    log: LogSummary | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Results:
    options: dict[str, Any]
    machine: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    ttfb: list[TtfbCell] = field(default_factory=list)
    servers: list[ServerRun] = field(default_factory=list)
    startup_s: dict[str, list[float]] = field(default_factory=dict)  # target -> samples
    disconnect: DisconnectResult | None = None
    soak: SoakResult | None = None
    long_streams: LongStreamResult | None = None
    charts: list[str] = field(default_factory=list)  # PNG file names beside the report
    charts_note: str = ""  # why there are none
    control: list[ControlCheck] = field(default_factory=list)  # tests/bench/control.py
    tls: list[TlsCell] = field(default_factory=list)  # the TLS upstream workload (tls.py)
    turns: list[TurnRatio] = field(default_factory=list)  # control plane in turns (turns.py)
    wall_seconds: float = 0.0
    loadavg_end: float = 0.0  # 1-minute load average when the run ended

    @property
    def workloads(self) -> list[str]:
        return list(self.options["workloads"])

    @property
    def concurrencies(self) -> list[int]:
        return list(self.options["concurrency"])

    @property
    def worker_counts(self) -> list[int]:
        return list(self.options["workers"])

    def cell(
        self, workload: str, concurrency: int, target: str, workers: int | None
    ) -> Cell | None:
        for cell in self.cells:
            if (cell.workload, cell.concurrency, cell.target) == (
                workload,
                concurrency,
                target,
            ) and (target == "direct" or cell.workers == workers):
                return cell
        return None

    def rps(
        self, workload: str, concurrency: int, target: str, workers: int | None
    ) -> float | None:
        cell = self.cell(workload, concurrency, target, workers)
        return None if cell is None else cell.wrk.rps

    def ttfb_of(
        self, workload: str, concurrency: int, target: str, workers: int | None
    ) -> TtfbResult | None:
        for cell in self.ttfb:
            if (cell.workload, cell.concurrency, cell.target) == (
                workload,
                concurrency,
                target,
            ) and (target == "direct" or cell.workers == workers):
                return cell.ttfb
        return None

    def turn(self, variant: str, workload: str, concurrency: int, workers: int) -> TurnRatio | None:
        for turns in self.turns:
            if (turns.variant, turns.workload, turns.concurrency, turns.workers) == (
                variant,
                workload,
                concurrency,
                workers,
            ):
                return turns
        return None

    def server(self, target: str, workers: int) -> ServerRun | None:
        return next((s for s in self.servers if (s.target, s.workers) == (target, workers)), None)

    def to_json(self, extra: dict[str, Any]) -> bytes:
        doc = {**dataclasses.asdict(self), **extra}
        return orjson.dumps(
            doc, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS
        )


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=REPO)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine_info(wrk_version: str) -> dict[str, Any]:
    commit = _run(["git", "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    curl = _run(["curl", "--version"]).splitlines()
    return {
        "cpu_count": os.cpu_count(),
        "loadavg": os.getloadavg(),  # 1, 5, 15 minutes: others' load skews every figure
        "cpu_model": _cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": commit,
        "git_dirty": dirty,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "wrk": wrk_version,
        "curl": curl[0] if curl else "",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
