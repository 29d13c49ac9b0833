"""Start-up time: from spawning the server to its first ``GET /health`` answered 200.

A raw socket connects and sends the request every 5 ms, so the figure is the server's, not a
client library's back-off.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.bench.procs import stop_process
from tests.bench.servers import REPO, free_port

__all__ = ["measure_startup"]

POLL = 0.005
TIMEOUT = 60.0


def _health_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def startup_seconds(command: Callable[[int], list[str]], env: dict[str, str], log: Path) -> float:
    """Seconds from ``Popen`` to the first 200 from ``/health`` of ``command(port)``."""
    port = free_port()
    with log.open("ab") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            command(port),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        while not _health_ok(port):
            if process.poll() is not None:
                raise RuntimeError(f"{command(port)} exited with {process.returncode}; see {log}")
            if time.perf_counter() - start > TIMEOUT:
                raise RuntimeError(f"{command(port)} did not answer /health in {TIMEOUT:g} s")
            time.sleep(POLL)
        return time.perf_counter() - start
    finally:
        stop_process(process)


def measure_startup(
    command: Callable[[int], list[str]], env: dict[str, str], log: Path, repeats: int
) -> list[float]:
    return [startup_seconds(command, env, log) for _ in range(repeats)]
