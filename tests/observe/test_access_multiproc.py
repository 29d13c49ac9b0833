"""Who may read the metrics, and the multiprocess directory's bookkeeping."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gomodel.errors import AuthenticationFailed, PermissionDenied
from gomodel.observe import multiproc
from gomodel.observe.access import check_metrics_access

TOKENS = [b"metrics-token", b"master-key"]


@pytest.mark.parametrize("token", TOKENS)
def test_either_token_reads(token: bytes) -> None:
    check_metrics_access(b"Bearer " + token, "10.0.0.9:5000", TOKENS)


@pytest.mark.parametrize("header", [None, b"Basic x", b"Bearer sk_gom_abc", b"Bearer metrics-toke"])
def test_anything_else_is_401(header: bytes | None) -> None:
    with pytest.raises(AuthenticationFailed):
        check_metrics_access(header, "127.0.0.1:5000", TOKENS)


@pytest.mark.parametrize("peer", ["127.0.0.1:80", "[::1]:80", "::1:80", "127.8.0.1:1"])
def test_no_token_loopback_only(peer: str) -> None:
    check_metrics_access(None, peer, [])


@pytest.mark.parametrize("peer", ["10.0.0.1:80", "192.168.1.2:5", None, "garbage"])
def test_no_token_elsewhere_403(peer: str | None) -> None:
    with pytest.raises(PermissionDenied):
        check_metrics_access(b"Bearer anything", peer, [])


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_sweep_removes_live_gauges_of_dead_processes_only(tmp_path: Path) -> None:
    dead, me = _dead_pid(), os.getpid()
    names = [
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"counter_{dead}.db",  # counts of a dead worker stay in the sums
        f"histogram_{dead}.db",
        f"gauge_livesum_{me}.db",
        f"gauge_livesum_{os.getppid()}.db",  # alive
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert multiproc.sweep(tmp_path) == [dead]
    left = {p.name for p in tmp_path.iterdir()}
    assert left == set(names) - {f"gauge_livesum_{dead}.db", f"gauge_livemax_{dead}.db"}
    assert multiproc.sweep(tmp_path, starting=True) == [me]  # a new process with an old pid
    multiproc.leave(tmp_path)
    assert f"gauge_livesum_{me}.db" not in {p.name for p in tmp_path.iterdir()}


def test_master_directory_private_and_stale_ones_removed(tmp_path: Path) -> None:
    stale = tmp_path / f"{multiproc.PREFIX}{os.getuid()}-{_dead_pid()}-123"
    stale.mkdir()
    reused = tmp_path / f"{multiproc.PREFIX}{os.getuid()}-{os.getppid()}-1"  # wrong start time
    reused.mkdir()
    path = multiproc.master_directory(os.getppid(), tmp_path)
    assert path.is_dir() and (path.stat().st_mode & 0o777) == 0o700
    assert not stale.exists() and not reused.exists()
    assert multiproc.master_directory(os.getppid(), tmp_path) == path  # siblings find it


def test_shared_directory_refused_when_not_private(tmp_path: Path) -> None:
    path = multiproc.master_directory(os.getpid(), tmp_path)
    path.chmod(0o777)
    with pytest.raises(RuntimeError, match="not a private directory"):
        multiproc.master_directory(os.getpid(), tmp_path)


def test_one_process_has_no_directory() -> None:
    assert multiproc.worker_directory({}) is None
