"""The LiteLLM proxy as the benchmark's peer: installed in its own virtualenv, run as a subprocess.

LiteLLM never enters our environment. :func:`ensure_installed` builds ``<root>/litellm-venv`` with
a pinned ``litellm[proxy]``, and this module talks to it only through its CLI and over HTTP.

How the peer is set up: the way a competent operator would tune it for throughput, on the same
terms as gomodel in the bench.

* **Packages**: ``litellm[proxy]==1.106.2``, plus two that its Docker image or uvicorn's
  ``[standard]`` extra bring and the pip extra does not:

  - ``opentelemetry-sdk`` (the image ships it). Without it, the auth step retries a failing
    ``import litellm.integrations.otel.logger`` on every request: about 6 % of a worker's CPU
    in a profile, and 1-2 ms per non-streaming request.
  - ``httptools``: uvicorn's C HTTP parser, which it picks over h11 when installed.
* **Server**: uvicorn, LiteLLM's default and the one its docs recommend, with the uvloop event
  loop and ``--num_workers N``, the same N as gomodel. For N > 1 the CLI calls
  ``uvicorn.run(workers=N)``: one supervisor owns the socket and N spawned worker processes each
  run the whole app. Gunicorn (``--run_gunicorn``) and Granian (``--run_granian``) are also in
  the CLI but are not the default.
* **``--timeout_worker_healthcheck 60``**: with uvicorn's default of 5 s, the supervisor killed
  and respawned a starting worker every time. Two workers importing LiteLLM at once on two cores
  take longer than 5 s to answer the first ping, and a worker saturated under load could be
  killed the same way.
* **Upstream client**: the default, aiohttp with a connection pool kept across requests.
* **No database** (no ``DATABASE_URL``): no spend logs, no key table, no batch writers.
* **No master key**, since gomodel runs without auth in the bench. LiteLLM refuses to start
  without one unless ``general_settings.dangerously_permit_weak_or_unset_master_key`` is true, so
  that is set. Every request is then an internal user with no key lookup.
* **No callbacks, no cache, no fallbacks, no retries**: ``num_retries: 0`` (in both
  ``litellm_settings`` and ``router_settings``), so a failure shows in the numbers.
* **Minimal logging**: ``LITELLM_LOG=ERROR``, ``set_verbose: false``, ``json_logs: false``, and
  uvicorn's access log off. Uvicorn's lifecycle lines (``Started server process``, ``Application
  startup complete``) stay at INFO through ``--log_config``, so we can tell when all N workers are
  up. They are printed once per worker, never per request.
* **Offline start**: the model cost map, Anthropic beta headers, blog posts, autorouter presets
  and policy templates come from the copies bundled in the package (``LITELLM_LOCAL_*=True``).
  tiktoken's encodings are bundled too, and LiteLLM points ``TIKTOKEN_CACHE_DIR`` at them itself.
  Checked with ``strace -f -e trace=connect``: with these settings, startup connects to nothing
  but loopback. ``LITELLM_MODE=PRODUCTION`` stops it loading a ``.env`` from its working
  directory.
* The child gets a small, explicit environment, not ours, so a stray ``DATABASE_URL``,
  ``LITELLM_MASTER_KEY``, ``REDIS_*`` or provider key in the caller's shell cannot change the run.

The workloads (:data:`MODELS`), as LiteLLM 1.106.2 handles them against the mock:

* ``chat`` / ``stream``: ``openai/gpt-4o-mini`` -> ``POST {mock}/v1/chat/completions``. The
  stream passes ``stream_options`` through and ends with ``data: [DONE]``.
* ``translated``: ``anthropic/claude-sonnet-4-5`` -> ``POST {mock}/anthropic/v1/messages``.
  LiteLLM appends ``/v1/messages`` to the ``api_base`` and translates the reply (or the events)
  into OpenAI chat.
* ``responses``: ``POST /v1/responses`` with ``gpt-4o-mini`` goes natively to
  ``POST {mock}/v1/responses``; it is not bridged to chat. LiteLLM re-encodes the events as
  ``data:`` lines with no ``event:`` lines, rewrites the response id, and appends
  ``data: [DONE]``. It fails the stream (``response.failed``) if the provider's last event is not
  terminated by a blank line.
* ``messages`` / ``messages_translated``: ``POST /v1/messages`` (LiteLLM's Anthropic-format
  endpoint) with ``claude-sonnet-4-5`` and ``gpt-4o-mini``. How LiteLLM serves them was not
  measured against this version; a check that fails is noted in the report and the workload
  measured anyway, as for every LiteLLM run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = [
    "LITELLM_VERSION",
    "MODELS",
    "REQUIREMENTS",
    "ensure_installed",
    "litellm_proxy",
    "server_pids",
]

LITELLM_VERSION = "1.106.2"
#: what ``pip install`` gets: LiteLLM pinned, and the two extras explained in the module docstring,
#: pinned to the versions that resolved with it (opentelemetry-api 1.45.2 comes with litellm).
REQUIREMENTS = (
    f"litellm[proxy]=={LITELLM_VERSION}",
    "opentelemetry-sdk==1.45.2",
    "httptools==0.9.0",
)
_MARKER = ".gomodel-bench-installed"

#: workload -> the ``model`` field of the request body sent to the proxy
MODELS: dict[str, str] = {
    "chat": "gpt-4o-mini",
    "stream": "gpt-4o-mini",
    "translated": "claude-sonnet-4-5",
    "responses": "gpt-4o-mini",
    "messages": "claude-sonnet-4-5",
    "messages_translated": "gpt-4o-mini",
}

STARTUP_TIMEOUT = 120.0
STOP_GRACE = 10.0
#: uvicorn's supervisor kills a worker that has not answered its ping within this many seconds
WORKER_HEALTHCHECK_TIMEOUT = 60

_STARTED = "Application startup complete."
_LOG_TAIL = 4000


def _say(message: str) -> None:
    print(f"[bench/litellm] {message}", file=sys.stderr, flush=True)


def ensure_installed(root: Path) -> Path:
    """The python of ``root / "litellm-venv"`` with the pinned LiteLLM, installed on first use.

    A marker file holding the pinned requirements makes later calls return right away; a venv
    with other versions or a half-finished install is recreated.
    """
    venv = root / "litellm-venv"
    python = venv / "bin" / "python"
    marker = venv / _MARKER
    wanted = "\n".join(REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    _say(f"creating {venv} and installing {' '.join(REQUIREMENTS)} (about a minute)")
    # sys.executable may itself be a venv's python: venv then bases the new one on the base
    # interpreter, so the two environments share nothing but the stdlib.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    # pip's progress goes to our stderr, and our stdout stays free for the bench's table.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", *REQUIREMENTS],
        check=True,
        stdout=sys.stderr,
    )
    marker.write_text(wanted)
    _say(f"installed LiteLLM {LITELLM_VERSION} in {time.monotonic() - started:.0f} s")
    return python


def _config(mock_url: str) -> dict[str, Any]:
    base = mock_url.rstrip("/")
    return {
        "model_list": [
            {
                "model_name": "gpt-4o-mini",
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"{base}/v1",
                    "api_key": "bench",
                },
            },
            {
                "model_name": "claude-sonnet-4-5",
                "litellm_params": {
                    # LiteLLM appends /v1/messages to the Anthropic api_base.
                    "model": "anthropic/claude-sonnet-4-5",
                    "api_base": f"{base}/anthropic",
                    "api_key": "bench",
                },
            },
        ],
        "litellm_settings": {
            "set_verbose": False,
            "json_logs": False,
            "num_retries": 0,
            "request_timeout": 600,
            "cache": False,
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
        },
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": 0,
        },
        "general_settings": {
            # No master key (gomodel runs without auth in the bench), and no database.
            "dangerously_permit_weak_or_unset_master_key": True,
            "disable_spend_logs": True,
            "disable_error_logs": True,
            "background_health_checks": False,
        },
    }


# Uvicorn's lifecycle lines at INFO (to count the workers that are up), no access log.
_UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}


def _environment(workdir: Path) -> dict[str, str]:
    """The child's whole environment: a few basics from ours, then LiteLLM's switches."""
    env = {
        key: os.environ[key]
        for key in ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SSL_CERT_FILE")
        if key in os.environ
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": str(workdir),
            "PYTHONUNBUFFERED": "1",
            "LITELLM_MODE": "PRODUCTION",
            "LITELLM_LOG": "ERROR",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
            "LITELLM_LOCAL_BLOG_POSTS": "True",
            "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
            "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
        }
    )
    return env


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies do not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command's closing paren: state, ppid, pgrp, ...
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group, then SIGKILL to what is left after the grace period."""
    pgid = proc.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        proc.poll()
        if not _group_alive(pgid):
            break
        time.sleep(0.1)
    else:
        _say(f"litellm (pgid {pgid}) still running after {STOP_GRACE:.0f} s: SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait()


def _tail(log_path: Path) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-_LOG_TAIL:]


def _serves_chat(client: httpx.Client, url: str) -> bool:
    body = {
        "model": MODELS["chat"],
        "messages": [{"role": "user", "content": "ready?"}],
    }
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    try:
        choices = response.json().get("choices")
    except ValueError:
        return False
    return bool(choices)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, workers: int, log_path: Path) -> None:
    """Until all ``workers`` finished startup and one chat completion came back through the mock."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    deadline = time.monotonic() + STARTUP_TIMEOUT
    served = False
    with httpx.Client(timeout=10.0) as client:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"litellm exited with {proc.returncode} before serving; "
                    f"end of {log_path}:\n{_tail(log_path)}"
                )
            up = _log_count(log_path, _STARTED)
            if up >= workers:
                served = served or _serves_chat(client, url)
                if served:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"litellm not serving after {STARTUP_TIMEOUT:.0f} s ({up}/{workers} workers "
                    f"started, chat served: {served}); end of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.25)


def _log_count(log_path: Path, needle: str) -> int:
    try:
        return log_path.read_text(errors="replace").count(needle)
    except OSError:
        return 0


def server_pids(log_path: Path) -> list[int]:
    """The worker pids that uvicorn logged as started (``Started server process [PID]``)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return []
    return [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", text)]


@contextlib.contextmanager
def litellm_proxy(
    python: Path, mock_url: str, port: int, workers: int, workdir: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """LiteLLM's proxy on ``127.0.0.1:port`` with ``workers`` workers in front of the mock.

    Yields once every worker has started and a chat completion came back through the mock. On
    exit the whole process group (supervisor and workers) is stopped. Output goes to
    ``workdir / "litellm.log"``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "litellm-config.yaml"
    config_path.write_text(yaml.safe_dump(_config(mock_url), sort_keys=False))
    log_config_path = workdir / "litellm-uvicorn-log.json"
    log_config_path.write_text(json.dumps(_UVICORN_LOG_CONFIG, indent=2))
    log_path = workdir / "litellm.log"
    command = [
        str(python.parent / "litellm"),
        "--config", str(config_path),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--num_workers", str(workers),
        "--log_config", str(log_config_path),
        "--timeout_worker_healthcheck", str(WORKER_HEALTHCHECK_TIMEOUT),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=_environment(workdir),
            start_new_session=True,
        )
        try:
            _wait_ready(proc, port, workers, log_path)
            _say(
                f"litellm {LITELLM_VERSION} ready on :{port} with {workers} worker(s) "
                f"in {time.monotonic() - started:.1f} s"
            )
            yield proc
        finally:
            _stop(proc)
