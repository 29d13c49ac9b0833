"""The systems under test as real processes: the gateway, the hello-world floor, LiteLLM.

Each is started on a free loopback port with its output in a log file, waited for until it
serves, and stopped (SIGTERM, then SIGKILL for anything left of its process tree) on exit.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gomodel.serve import GRACEFUL_TIMEOUT, KEEP_ALIVE_TIMEOUT
from tests.bench.payloads import ANTHROPIC_MODEL, OPENAI_MODEL
from tests.bench.procs import stop_process
from tests.bench.workloads import FAILOVER_MODEL

__all__ = [
    "VARIANTS",
    "LogSummary",
    "Server",
    "free_port",
    "gateway_command",
    "gateway_env",
    "gateway_server",
    "hello_command",
    "hello_server",
    "litellm_server",
]

READY_TIMEOUT = 60.0
REPO = Path(__file__).resolve().parents[2]


@dataclass
class LogSummary:
    """What a server wrote to its log: request lines by status and termination, and problems."""

    lines: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    terminations: dict[str, int] = field(default_factory=dict)
    warnings: int = 0
    errors: int = 0
    examples: list[str] = field(default_factory=list)  # the first few warnings and errors


@dataclass
class Server:
    target: str  # "gomodel", "hello" or "litellm"
    workers: int
    url: str  # http://127.0.0.1:<port>
    process: subprocess.Popen[bytes]
    log_path: Path | None  # None: the server keeps its own log
    log: LogSummary | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(mock_url: str, workdir: Path) -> dict[str, str]:
    """A deployment-like environment: usage recorded to SQLite, default log level.

    The failover workload's virtual model tries a vLLM deployment that is down (the mock's
    ``/failing/`` answers 503) before OpenAI. Circuit breakers are off, so every one of its
    requests pays the failed attempt and the failover (with them on, the down deployment
    would be skipped after five failures)."""
    failover = [
        {
            "source": FAILOVER_MODEL,
            "strategy": "priority",
            "targets": [f"vllm/{OPENAI_MODEL}", f"openai/{OPENAI_MODEL}"],
        }
    ]
    return {
        "OPENAI_API_KEY": "bench",
        "OPENAI_BASE_URL": f"{mock_url}/v1",
        "ANTHROPIC_API_KEY": "bench",
        "ANTHROPIC_BASE_URL": f"{mock_url}/anthropic/v1",
        "VLLM_BASE_URL": f"{mock_url}/failing/v1",
        "VIRTUAL_MODELS": json.dumps(failover),
        "CIRCUIT_BREAKER_ENABLED": "false",
        "SQLITE_PATH": str(workdir / "usage.db"),
        "USAGE_SPILL_DIR": str(workdir),
    }


def gateway_command(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gomodel",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def hello_command(port: int, workers: int) -> list[str]:
    """``python -m hypercorn`` mirroring ``gomodel serve --workers N`` (gomodel/serve.py).

    ``gomodel serve`` serves in its own process for one worker and spawns N worker processes
    otherwise; hypercorn's ``--workers 0`` is the former. Keep-alive and graceful timeouts are
    the gateway's defaults; neither writes an access log.
    """
    return [
        sys.executable,
        "-m",
        "hypercorn",
        "--worker-class",
        "trio",
        "--workers",
        str(0 if workers == 1 else workers),
        "--keep-alive",
        f"{KEEP_ALIVE_TIMEOUT:g}",
        "--graceful-timeout",
        f"{GRACEFUL_TIMEOUT:g}",
        "--bind",
        f"127.0.0.1:{port}",
        "tests.bench.hello:app",
    ]


def _spawn(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _log_note(path: Path | None, lines: int = 30) -> str:
    """``; log <path>:`` and the log's last lines, for an error message."""
    if path is None:
        return ""
    try:
        tail = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        tail = ""
    return f"; log {path}:\n{tail}"


def wait_until(
    server: Server, ready: Callable[[httpx.Client], bool], timeout: float = READY_TIMEOUT
) -> None:
    """Poll ``ready`` until it is true; fail with the log's tail if the server dies or stalls."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.url, timeout=5) as client:
        while True:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.target} exited with status {server.process.returncode} before "
                    f"serving{_log_note(server.log_path)}"
                )
            try:
                if ready(client):
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{server.target} not ready after {timeout:g} s{_log_note(server.log_path)}"
                )
            time.sleep(0.05)


def _gateway_ready(client: httpx.Client) -> bool:
    if client.get("/ready").status_code != 200:
        return False
    listed = client.get("/v1/models")
    if listed.status_code != 200:
        return False
    try:
        data = listed.json().get("data", [])
        ids = {str(model.get("id", "")).rsplit("/", 1)[-1] for model in data}
    except (ValueError, AttributeError):
        return False
    return {OPENAI_MODEL, ANTHROPIC_MODEL} <= ids


_REQUEST_LINE = re.compile(r" status=(\d+) termination=(\w+)")


def summarize_log(path: Path) -> LogSummary:
    summary = LogSummary()
    statuses: Counter[str] = Counter()
    terminations: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return summary
    for line in text.splitlines():
        summary.lines += 1
        if match := _REQUEST_LINE.search(line):
            statuses[match[1]] += 1
            terminations[match[2]] += 1
        problem = " WARNING " in line or " ERROR " in line or line.startswith("Traceback")
        summary.warnings += " WARNING " in line
        summary.errors += " ERROR " in line or line.startswith("Traceback")
        if problem and len(summary.examples) < 5:
            summary.examples.append(line[:300])
    summary.statuses, summary.terminations = dict(statuses), dict(terminations)
    return summary


@contextmanager
def _running(server: Server, ready: Callable[[httpx.Client], bool]) -> Iterator[Server]:
    try:
        wait_until(server, ready)
        yield server
    finally:
        stop_process(server.process)
        if server.log_path is not None:
            server.log = summarize_log(server.log_path)


# The observability variants: the same gateway with one feature on (docs/observability.md).
VARIANTS: dict[str, dict[str, str]] = {
    "gomodel-metrics": {"METRICS_ENABLED": "true", "METRICS_TOKEN": "bench-metrics"},
    "gomodel-audit": {
        "LOGGING_ENABLED": "true",
        "LOGGING_LOG_BODIES": "true",
        "LOGGING_LOG_HEADERS": "true",
    },
}


@contextmanager
def gateway_server(
    mock_url: str,
    workers: int,
    workdir: Path,
    target: str = "gomodel",
    *,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``gomodel serve --workers N`` against the mock; ready once /ready says so and the model
    catalog lists both benchmark models. ``target`` names a variant of :data:`VARIANTS`;
    ``extra_env`` adds to its environment (the TLS workload's ``SSL_CERT_FILE``)."""
    port = free_port()
    log_path = workdir / f"{target}-w{workers}.log"
    env = {**gateway_env(mock_url, workdir), **VARIANTS.get(target, {}), **(extra_env or {})}
    if target != "gomodel":  # a database of its own: the plain run's rows do not slow it
        env["SQLITE_PATH"] = str(workdir / f"{target}.db")
    process = _spawn(gateway_command(port, workers), env, log_path)
    server = Server(target, workers, f"http://127.0.0.1:{port}", process, log_path)
    with _running(server, _gateway_ready) as running:
        yield running


@contextmanager
def hello_server(workers: int, workdir: Path) -> Iterator[Server]:
    port = free_port()
    log_path = workdir / f"hello-w{workers}.log"
    process = _spawn(hello_command(port, workers), {}, log_path)
    server = Server("hello", workers, f"http://127.0.0.1:{port}", process, log_path)
    with _running(server, lambda client: client.get("/").status_code == 200) as running:
        yield running


@contextmanager
def litellm_server(mock_url: str, workers: int, workdir: Path) -> Iterator[Server]:
    """LiteLLM's proxy via ``tests/bench/litellm.py`` (imported only when asked for)."""
    from tests.bench import litellm

    python = litellm.ensure_installed(REPO / ".bench")
    port = free_port()
    own = workdir / f"litellm-w{workers}"
    own.mkdir(exist_ok=True)
    server: Server | None = None
    try:
        with litellm.litellm_proxy(python, mock_url, port, workers, own) as process:
            log_path = own / "litellm.log"  # where litellm_proxy sends the proxy's output
            server = Server("litellm", workers, f"http://127.0.0.1:{port}", process, log_path)
            yield server
    finally:
        if server is not None and server.log_path is not None:
            server.log = summarize_log(server.log_path)
