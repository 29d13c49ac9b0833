"""Process trees from /proc: which processes serve, their resident memory, stopping them.

With ``--workers 1`` the gateway serves in the process it was started as; with more, hypercorn
spawns one child per worker (and multiprocessing a resource tracker, which is not a worker). The
workers are the leaves of the tree under the started process, helpers left out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "RssResult",
    "RssSampler",
    "cpu_seconds",
    "descendants",
    "rss_mb",
    "stop_process",
    "worker_pids",
]

_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.semaphore_tracker")


def _ppids() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Every process below ``root``, found through each process's parent id, recursively."""
    children: dict[int, list[int]] = {}
    for pid, ppid in _ppids().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _is_helper(pid: int) -> bool:
    command = _cmdline(pid)
    return any(helper in command for helper in _HELPERS)


def worker_pids(root: int) -> list[int]:
    """The serving processes: the leaves of the tree under ``root`` (``root`` when alone)."""
    tree = [root, *(pid for pid in descendants(root) if not _is_helper(pid))]
    parents = _ppids()
    with_children = {parents.get(pid) for pid in tree}
    leaves = [pid for pid in tree if pid not in with_children]
    return leaves or [root]


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (10^6 bytes), None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and every live process below it (utime and stime
    of /proc/<pid>/stat): a server's own work, whatever else the machine runs meanwhile."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


@dataclass
class RssResult:
    """The largest RSS each process reached while sampled; workers and the rest apart."""

    concurrency: int
    samples: int = 0
    workers_mb: dict[int, float] = field(default_factory=dict)
    parent_mb: float | None = None  # the started process, when it is not itself a worker
    helpers_mb: dict[int, float] = field(default_factory=dict)

    @property
    def max_worker_mb(self) -> float:
        return max(self.workers_mb.values(), default=0.0)


class RssSampler:
    """Samples the tree under ``root`` every ``interval`` seconds in a thread, while entered."""

    def __init__(self, root: int, result: RssResult, interval: float = 0.25) -> None:
        self.root, self.result, self.interval = root, result, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        workers = worker_pids(self.root)
        result = self.result
        result.samples += 1
        for pid in [self.root, *descendants(self.root)]:
            mb = rss_mb(pid)
            if mb is None:
                continue
            if pid in workers:
                result.workers_mb[pid] = max(mb, result.workers_mb.get(pid, 0.0))
            elif pid == self.root:
                result.parent_mb = max(mb, result.parent_mb or 0.0)
            else:
                result.helpers_mb[pid] = max(mb, result.helpers_mb.get(pid, 0.0))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def stop_process(process: subprocess.Popen[bytes], timeout: float = 40.0) -> None:
    """SIGTERM ``process``, then SIGKILL whatever of its tree is left after ``timeout``."""
    tree = {pid: _cmdline(pid) for pid in descendants(process.pid)}
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    deadline = time.monotonic() + 5
    for pid, command in tree.items():  # workers exit with their parent; never leave one behind
        while time.monotonic() < deadline and _cmdline(pid) == command:
            time.sleep(0.02)
        if command and _cmdline(pid) == command:  # the same process, not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
