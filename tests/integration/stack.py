"""The deployment in docs/deploy/, for real: nginx in front of two gateway replicas that share
PostgreSQL, each replica in front of its own in-process mock provider.

The files in docs/deploy/ are run as they are, with only machine-specific values changed
(:func:`render_nginx_conf`, :func:`unit_command`): ports, paths, the worker user. Replica 0 is
started with the ExecStart= and Environment= lines of ``gomodel@.service`` (``gomodel serve``),
replica 1 with ``hypercorn --config hypercorn.toml``. Each has its own
:class:`~gomodel.testing.MockUpstream`, so a test can tell which replica sent what upstream.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import attrs
import httpx
import psycopg
import pytest
import trio

from gomodel.testing import MockUpstream, RecordedRequest, serve_mock_upstream
from tests.storage.pg import pg_schema

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "docs" / "deploy"
NGINX_CONF = DEPLOY / "nginx.conf"
UNIT = DEPLOY / "gomodel@.service"
HYPERCORN_TOML = DEPLOY / "hypercorn.toml"

MASTER_KEY = "mk"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
# The keep-alive timeouts as documented: nginx's upstream keepalive_timeout in nginx.conf and
# hypercorn's keep_alive_timeout in hypercorn.toml (and gomodel serve's KEEP_ALIVE_TIMEOUT).
NGINX_KEEPALIVE_LINE = "keepalive_timeout 60s;"


def nginx_binary() -> str:
    """The nginx executable; the suite fails (never skips) without one."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "nginx is not installed: install nginx: apt-get install nginx-light", pytrace=False
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_nginx_conf(
    *,
    listen: int,
    upstreams: Sequence[int],
    prefix: Path,
    keepalive_timeout: str | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """docs/deploy/nginx.conf with this machine's ports and paths.

    Only directive lines are touched (comments stay as they are); every replacement must match,
    so a change to the docs file that the suite does not know about fails here.
    ``keepalive_timeout`` replaces the upstream keep-alive timeout (the keep-alive test scales
    it together with the gateway's); ``extra`` are further exact replacements.
    """
    user = "user root;" if os.geteuid() == 0 else "# (not root: no user directive)"
    assert len(upstreams) == 2
    replacements: list[tuple[str, str, bool]] = [  # (old, new, exactly once)
        ("user www-data;", user, True),
        ("/run/nginx.pid", f"{prefix}/nginx.pid", True),
        ("/var/log/nginx/", f"{prefix}/logs/", False),
        ("/var/lib/nginx/", f"{prefix}/tmp/", False),
        ("listen 80;", f"listen 127.0.0.1:{listen};", True),
        ("127.0.0.1:8081", f"127.0.0.1:{upstreams[0]}", True),
        ("127.0.0.1:8082", f"127.0.0.1:{upstreams[1]}", True),
    ]
    if keepalive_timeout is not None:
        replacements.append((NGINX_KEEPALIVE_LINE, f"keepalive_timeout {keepalive_timeout};", True))
    replacements += [(old, new, True) for old, new in extra]
    lines = NGINX_CONF.read_text().splitlines(keepends=True)
    for old, new, once in replacements:
        hits = [i for i, line in enumerate(lines) if not _comment(line) and old in line]
        assert hits, f"docs/deploy/nginx.conf has no {old!r} any more: update {__file__}"
        assert not once or len(hits) == 1, f"docs/deploy/nginx.conf has {old!r} {len(hits)} times"
        for i in hits:
            lines[i] = lines[i].replace(old, new)
    return "".join(lines)


def _comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def nginx_directive(name: str, text: str | None = None) -> list[str]:
    """The arguments of every ``name ...;`` directive line in docs/deploy/nginx.conf."""
    text = NGINX_CONF.read_text() if text is None else text
    found = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].strip().rstrip(";").split()
        if words and words[0] == name:
            found.append(" ".join(words[1:]))
    return found


def unit_settings() -> dict[str, list[str]]:
    """The ``[Service]`` settings of gomodel@.service: name -> values, in order."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service":
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_environment() -> dict[str, str]:
    """The unit's Environment= assignments."""
    env = {}
    for value in unit_settings().get("Environment", []):
        for assignment in shlex.split(value):
            key, _, val = assignment.partition("=")
            env[key] = val
    return env


def unit_command(port: int) -> list[str]:
    """The unit's ExecStart= for instance ``port``, with this interpreter's gomodel."""
    [exec_start] = unit_settings()["ExecStart"]
    program, *args = shlex.split(exec_start.replace("%i", str(port)))
    assert program.endswith("/bin/gomodel"), exec_start
    return [sys.executable, "-m", "gomodel", *args]


def hypercorn_command(port: int, keep_alive: int | None) -> list[str]:
    """hypercorn's command line with docs/deploy/hypercorn.toml, bound to ``port``."""
    args = [sys.executable, "-m", "hypercorn", "--config", str(HYPERCORN_TOML)]
    args += ["--bind", f"127.0.0.1:{port}"]
    if keep_alive is not None:
        args += ["--keep-alive", str(keep_alive)]
    return [*args, "gomodel.asgi:app"]


def clean_environ() -> dict[str, str]:
    """This process's environment without provider settings or a master key."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.pop("GOMODEL_MASTER_KEY", None)
    return env


@attrs.define
class Replica:
    kind: Literal["unit", "hypercorn"]
    port: int
    mock: MockUpstream
    process: trio.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def chats(self) -> list[RecordedRequest]:
        """The chat requests this replica sent to its provider."""
        return [r for r in self.mock.requests if r.path.endswith("/chat/completions")]


@attrs.define
class Nginx:
    port: int
    prefix: Path
    process: trio.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_log(self) -> list[str]:
        path = self.prefix / "logs" / "gomodel-access.log"
        return path.read_text().splitlines() if path.exists() else []

    def error_log(self) -> list[str]:
        path = self.prefix / "logs" / "gomodel-error.log"
        return path.read_text().splitlines() if path.exists() else []


@attrs.define
class Stack:
    nginx: Nginx
    replicas: list[Replica]
    pg_url: str

    @property
    def url(self) -> str:
        return self.nginx.url

    def chats(self) -> list[RecordedRequest]:
        return [r for replica in self.replicas for r in replica.chats()]

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=30, **kwargs)

    async def usage_rows(self, columns: str = "request_id") -> list[tuple[Any, ...]]:
        """Rows of the shared usage table (both replicas write here)."""

        def query() -> list[tuple[Any, ...]]:
            with psycopg.connect(self.pg_url, autocommit=True) as db:
                return db.execute(f"SELECT {columns} FROM usage").fetchall()

        return await trio.to_thread.run_sync(query)

    async def wait_usage_rows(self, count: int) -> list[tuple[Any, ...]]:
        """(request_id, termination, complete, client) of the usage rows, once there are
        ``count`` of them (never more); within 15 s."""
        with trio.fail_after(15):
            while True:
                rows = await self.usage_rows("request_id, termination, complete, client")
                assert len(rows) <= count, rows
                if len(rows) == count:
                    return rows
                await trio.sleep(0.1)

    def logs(self) -> str:
        """The tail of every process's log, for a failure report."""
        parts = []
        files = [r.log for r in self.replicas]
        files += [self.nginx.prefix / "stderr.log", self.nginx.prefix / "logs/gomodel-error.log"]
        for path in files:
            text = path.read_text(errors="replace") if path.exists() else "(none)"
            parts.append(f"==> {path} <==\n{text[-4000:]}")
        return "\n".join(parts)


async def _spawn(args: Sequence[str], log: Path, **kwargs: Any) -> trio.Process:
    with log.open("wb") as out:  # the child has its own copy of the descriptor
        return await trio.lowlevel.open_process(
            list(args), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )


async def stop(process: trio.Process, kill_after: float = 30) -> int:
    """SIGTERM ``process`` and wait for it; SIGKILL after ``kill_after`` seconds. Runs to the
    end even when the caller is cancelled."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(kill_after):
                return await process.wait()
            process.kill()
        return await process.wait()


async def wait_ready(replica: Replica) -> None:
    """Until the replica's own /ready says 200 (asked directly, not through nginx); 30 s."""
    async with httpx.AsyncClient() as client:
        with trio.fail_after(30):
            while True:
                if replica.process.returncode is not None:
                    raise AssertionError(
                        f"replica {replica.kind} exited with {replica.process.returncode}:\n"
                        + replica.log.read_text(errors="replace")[-4000:]
                    )
                try:
                    if (await client.get(replica.url + "/ready")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await trio.sleep(0.05)


@asynccontextmanager
async def running_nginx(
    prefix: Path, upstreams: Sequence[int], **render: Any
) -> AsyncIterator[Nginx]:
    """nginx with docs/deploy/nginx.conf in front of ``upstreams`` until the block ends."""
    binary = nginx_binary()
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render_nginx_conf(listen=port, upstreams=upstreams, prefix=prefix, **render))
    args = [binary, "-p", f"{prefix}/", "-c", str(conf), "-g", "daemon off;"]
    check = await trio.run_process([*args, "-t"], capture_stdout=True, capture_stderr=True)
    assert check.returncode == 0, check.stderr.decode()
    process = await _spawn(args, prefix / "stderr.log")
    try:
        with trio.fail_after(10):
            while True:
                assert process.returncode is None, (prefix / "stderr.log").read_text()
                try:
                    stream = await trio.open_tcp_stream("127.0.0.1", port)
                except OSError:
                    await trio.sleep(0.02)
                    continue
                await stream.aclose()
                break
        yield Nginx(port, prefix, process)
    finally:
        await stop(process, kill_after=10)


@asynccontextmanager
async def deploy(
    tmp_path: Path,
    nursery: trio.Nursery,
    *,
    stream_gap: float = 0.0,
    env: Mapping[str, str] | None = None,
    keep_alive: float | None = None,
    nginx_keepalive_timeout: str | None = None,
    kinds: tuple[Literal["unit", "hypercorn"], ...] = ("unit", "hypercorn"),
) -> AsyncIterator[Stack]:
    """Two replicas (by default one from the unit, one from hypercorn.toml) on a fresh
    PostgreSQL schema, behind nginx.

    ``keep_alive`` sets the replicas' keep-alive timeout (KEEP_ALIVE_TIMEOUT for gomodel serve,
    ``--keep-alive``, whole seconds, for hypercorn); ``nginx_keepalive_timeout`` the upstream
    one in nginx.conf.
    """
    with pg_schema() as pg_url:
        replicas: list[Replica] = []
        try:
            for i, kind in enumerate(kinds):
                mock = MockUpstream(models=("gpt-4o",), stream_gap=stream_gap)
                upstream = await nursery.start(serve_mock_upstream, mock)
                port = free_port()
                workdir = tmp_path / f"replica-{i}-{kind}"
                workdir.mkdir()
                replica_env = {
                    **clean_environ(),
                    "OPENAI_API_KEY": "k",
                    "OPENAI_BASE_URL": upstream,
                    "GOMODEL_MASTER_KEY": MASTER_KEY,
                    "STORAGE_TYPE": "postgresql",
                    "POSTGRES_URL": pg_url,
                    "USAGE_SPILL_DIR": str(tmp_path / "spill"),
                    "USAGE_FLUSH_INTERVAL": "0.2",
                    **unit_environment(),  # also for the hypercorn replica: the same env file
                    **(env or {}),
                }
                if kind == "unit":
                    args = unit_command(port)
                    if keep_alive is not None:
                        replica_env["KEEP_ALIVE_TIMEOUT"] = str(keep_alive)
                else:
                    assert keep_alive is None or keep_alive == int(keep_alive), keep_alive
                    args = hypercorn_command(port, None if keep_alive is None else int(keep_alive))
                process = await _spawn(args, workdir / "replica.log", cwd=workdir, env=replica_env)
                replicas.append(Replica(kind, port, mock, process, workdir / "replica.log"))
            for replica in replicas:  # ready before nginx can mark one as failed
                await wait_ready(replica)
            async with running_nginx(
                tmp_path / "nginx",
                [r.port for r in replicas],
                keepalive_timeout=nginx_keepalive_timeout,
            ) as nginx:
                stack = Stack(nginx, replicas, pg_url)
                try:
                    yield stack
                except BaseException:
                    print(stack.logs())
                    raise
        finally:
            for replica in replicas:
                await stop(replica.process)
