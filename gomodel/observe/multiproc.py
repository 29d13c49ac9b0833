"""Where worker processes keep their metric files, and how the files of dead workers are
cleaned (prometheus_client's multiprocess mode: one set of files per process, summed by the
scrape of any worker).

The directory, in order:

1. ``PROMETHEUS_MULTIPROC_DIR`` when it is set (the operator's choice; empty it before the
   gateway starts, as prometheus_client asks). ``gomodel serve --workers N`` sets it for its
   workers to a fresh private directory (``mkdtemp``, mode 0700) and removes that directory
   when it exits, so every start counts from zero;
2. in a worker spawned by some other master (``hypercorn --workers N gomodel.asgi:app``), a
   directory named after the master: ``$TMPDIR/gomodel-metrics-<uid>-<master pid>-<master
   start time>``, mode 0700, which every worker of that master finds by itself. Directories of
   masters that are gone (or of an earlier process with a reused pid: the start time differs)
   are removed by the next worker that starts;
3. otherwise (one process) none: values live in the process.

Counters and histograms of a dead worker stay in their files and keep counting in the sums, so
totals never go backwards when a worker restarts. Gauges of the ``live*`` modes (in-flight
requests, pool connections, queue depths) must leave with their process: a worker removes its
own when it stops, and a worker starting, and every scrape, removes those of processes that
are gone (a worker killed outright, or one the master has not reaped yet). A worker that
starts also removes live gauges left under its own pid by an earlier process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV", "PREFIX", "for_workers", "master_directory", "sweep", "worker_directory"]

ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "gomodel-metrics-"
_LIVE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")


def worker_directory(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The directory this process writes its metrics to, or ``None`` for in-process values."""
    configured = environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    parent = multiprocessing.parent_process()
    if parent is None or parent.pid is None:
        return None
    return master_directory(parent.pid)


def master_directory(master: int, base: Path | None = None) -> Path:
    """The directory shared by the workers of process ``master``, created if needed; stale
    directories of masters that are gone are removed."""
    base = base if base is not None else Path(tempfile.gettempdir())
    path = base / f"{PREFIX}{os.getuid()}-{master}-{_start_time(master) or 0}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} is not a private directory of this user; set {ENV}")
    _remove_stale(base, keep=path)
    return path


def for_workers() -> Path:
    """A fresh private directory for the workers of this process (``gomodel serve``)."""
    return Path(tempfile.mkdtemp(prefix=PREFIX))


def sweep(directory: Path, *, starting: bool = False) -> list[int]:
    """Remove the live-gauge files of processes that are gone (and, when ``starting``, this
    process's own leftovers); returns the pids cleaned."""
    me = os.getpid()
    cleaned: set[int] = set()
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        match = _LIVE.fullmatch(name)
        if match is None:
            continue
        pid = int(match[1])
        if (pid == me and starting) or (pid != me and not _alive(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)
            cleaned.add(pid)
    return sorted(cleaned)


def leave(directory: Path) -> None:
    """This process stops: its live gauges go (its counters stay in the sums)."""
    me = os.getpid()
    for name in os.listdir(directory):
        match = _LIVE.fullmatch(name)
        if match is not None and int(match[1]) == me:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _stat_fields(pid)
    return state is None or state[0] != "Z"  # a zombie is dead, only not reaped yet


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/<pid>/stat`` after the command name (state first), where there is a /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _remove_stale(base: Path, keep: Path) -> None:
    pattern = re.compile(rf"{PREFIX}{os.getuid()}-(\d+)-(\d+)")
    for entry in base.glob(f"{PREFIX}{os.getuid()}-*"):
        match = pattern.fullmatch(entry.name)
        if match is None or entry == keep:
            continue
        pid, started = int(match[1]), match[2]
        if not _alive(pid) or (_start_time(pid) or "0") != started:
            shutil.rmtree(entry, ignore_errors=True)
