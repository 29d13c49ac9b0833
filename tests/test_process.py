"""What ``gomodel serve`` sets about its own process (gomodel/process.py): each default it
replaces fails at scale (docs/decisions.md, "The serving process").

Each test runs the gateway in a child process: the settings are process-wide, and a frozen
collector in the test process would keep garbage forever.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gomodel.process import GC_THRESHOLDS, listen_backlog, raise_fd_limit

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lower_fd_limit() -> None:  # runs in the child before exec
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


@contextmanager
def _serve(tmp_path: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    env = {**os.environ, "SQLITE_PATH": str(tmp_path / "usage.db"), "GOMODEL_LOG_LEVEL": "warn"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gomodel", "serve", "--port", str(port), *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_lower_fd_limit,
    )
    try:
        for _ in range(600):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "gomodel serve exited"
            time.sleep(0.05)
        yield process, port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _soft_open_files(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_raises_the_open_file_limit_and_listens_with_the_kernels_backlog(
    tmp_path: Path, workers: str
) -> None:
    """A soft limit of 256 would refuse the 128th stream (two sockets each); hypercorn's backlog
    of 100 resets a burst of connections."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard > 256, "the machine's hard limit is too low to tell"
    with _serve(tmp_path, "--workers", workers) as (process, port):
        assert _soft_open_files(process.pid) == min(hard, 1 << 20)
        ss = shutil.which("ss")
        assert ss is not None, "ss (iproute2) is needed: .ci/run installs it"
        listed = subprocess.run(
            [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
        ).stdout.split()
        # A listening socket's Send-Q column is its backlog.
        assert int(listed[2]) == listen_backlog() > 100


def test_serve_freezes_its_start_up_objects_and_collects_less_often(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import gc, os, sys, trio
        from gomodel.cli import _gateway
        from gomodel.config import load_config

        async def main():
            config = load_config(os.environ, overrides={"port": int(sys.argv[1])})
            async with trio.open_nursery() as nursery:
                await nursery.start(_gateway(config))
                print(gc.get_freeze_count() > 10_000, gc.get_threshold())
                nursery.cancel_scope.cancel()

        trio.run(main)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(_free_port())],
        cwd=REPO,
        env={**os.environ, "SQLITE_PATH": str(tmp_path / "usage.db")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip().split(maxsplit=1) == ["True", f"{GC_THRESHOLDS}"]


def test_raise_fd_limit_keeps_a_limit_already_at_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        pytest.skip("the test process's own soft limit is below the hard one")
    assert raise_fd_limit() == soft
