"""Throughput and latency with wrk: a generated Lua script posts the body and reports JSON.

wrk counts a non-2xx/3xx answer as a ``status`` error and a connection the server dropped as a
``read`` error; both are kept, so a failing workload shows its errors instead of looking fast.
"""

from __future__ import annotations

import math
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

__all__ = ["WrkResult", "require_wrk", "run_wrk", "wrk_version"]

ERROR_KINDS = ("connect", "read", "write", "status", "timeout")

_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(%(out)s, "w"))
  f:write(string.format(
    '{"requests":%%.0f,"duration_us":%%.0f,"bytes":%%.0f,' ..
    '"errors":{"connect":%%.0f,"read":%%.0f,"write":%%.0f,"status":%%.0f,"timeout":%%.0f},' ..
    '"latency_us":{"p50":%%.0f,"p90":%%.0f,"p99":%%.0f,"max":%%.0f,"mean":%%.1f}}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
  f:close()
end
"""


@dataclass
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    errors: dict[str, int] = field(default_factory=dict)
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    bytes: int = 0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def require_wrk() -> None:
    """Exit with status 2 and the install command when wrk is not on PATH."""
    if shutil.which("wrk") is None:
        print(
            "bench: wrk is not installed; install it with `apt-get install wrk` "
            "(Debian/Ubuntu) or see https://github.com/wg/wrk",
            file=sys.stderr,
        )
        raise SystemExit(2)


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0].strip() if text else ""


def _lua_string(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    out = []
    for byte in raw:
        char = chr(byte)
        if char in '"\\' or not 32 <= byte < 127:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def lua_script(body: bytes, headers: dict[str, str], out: Path) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body)}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + "\n" + _DONE % {"out": _lua_string(str(out))}


def run_wrk(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    duration: float,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> WrkResult:
    """Run wrk for ``duration`` seconds (sub-second runs end with SIGINT, which wrk honours)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script, out = Path(tmp) / "post.lua", Path(tmp) / "result.json"
        script.write_text(lua_script(body, headers or {}, out))
        whole = max(1, math.ceil(duration))
        args = [
            "wrk",
            f"-t{min(2, concurrency)}",
            f"-c{concurrency}",
            f"-d{whole + (0 if whole == duration else 1)}s",
            f"--timeout={timeout:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if whole != duration:
            time.sleep(duration)
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=duration + 60)
        if not out.exists():
            raise RuntimeError(
                f"wrk wrote no result (exit {process.returncode}): "
                f"{(stderr or stdout).decode(errors='replace').strip()}"
            )
        doc = orjson.loads(out.read_bytes())
    seconds = doc["duration_us"] / 1e6
    latency = doc["latency_us"]
    return WrkResult(
        requests=int(doc["requests"]),
        duration_s=seconds,
        rps=doc["requests"] / seconds if seconds else 0.0,
        errors={kind: int(doc["errors"][kind]) for kind in ERROR_KINDS},
        p50_ms=latency["p50"] / 1000,
        p90_ms=latency["p90"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        bytes=int(doc["bytes"]),
    )
