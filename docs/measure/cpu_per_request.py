"""The gateway's CPU time per request, per bench workload (docs/benchmarks.md).

Throughput on a shared machine moves by tens of percent between runs; the CPU time the serving
process spends per request moves far less, so it compares the fast path with translation when
a quiet machine is not to be had. Not part of the test suite or of ``nox -s bench``.

    python docs/measure/cpu_per_request.py stream,translated,messages,messages_translated

It starts the bench's C mock and ``gomodel serve --workers 1`` in front of it (usage recorded to
SQLite, as in the bench), warms every workload up, then posts each workload ``N`` times in
turn, for ``ROUNDS`` rounds (interleaved, so a slow moment of the machine hits every workload
alike), and reads the process's user + system time from ``/proc/<pid>/stat`` around each batch.
The SQLite writer thread is in the same process, so its time is counted too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.mock import mock_provider  # noqa: E402
from tests.bench.servers import gateway_env  # noqa: E402
from tests.bench.workloads import WORKLOADS  # noqa: E402

N = 200
ROUNDS = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_ready(url: str) -> None:
    for _ in range(400):
        try:
            if httpx.get(url + "/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the gateway did not become ready")


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, mock_provider(Path(tmp)) as mock:
        port = _free_port()
        env = {**os.environ, **gateway_env(mock, Path(tmp)), "LOG_LEVEL": "warning"}
        env["AUTH_KEYS_ENABLED"] = "false"
        command = [sys.executable, "-m", "gomodel", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--workers", "1"]
        server = subprocess.Popen(command, env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(url)
            spent = dict.fromkeys(names, 0.0)
            with httpx.Client(base_url=url, timeout=10) as client:
                for name in names:
                    for _ in range(50):
                        client.post(WORKLOADS[name].path, content=WORKLOADS[name].payload())
                for _ in range(ROUNDS):
                    for name in names:
                        workload = WORKLOADS[name]
                        body = workload.payload()
                        before = _cpu_seconds(server.pid)
                        for _ in range(N):
                            response = client.post(workload.path, content=body)
                            if response.status_code != 200:
                                raise RuntimeError(f"{name}: {response.status_code}")
                        spent[name] += _cpu_seconds(server.pid) - before
            for name in names:
                per_request = spent[name] / (N * ROUNDS) * 1000
                print(f"{name:<20} {per_request:.2f} ms CPU per request")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main((sys.argv[1] if len(sys.argv) > 1 else ",".join(WORKLOADS)).split(","))
