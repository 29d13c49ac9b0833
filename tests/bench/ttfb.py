"""Time to first byte of streamed answers, measured with curl (wrk cannot).

One curl process posts the same body ``samples`` times, each transfer writing its status and
``time_starttransfer``: on one kept-alive connection at concurrency 1, with ``--parallel`` and
``--parallel-max C`` above. The gateway sends its response headers together with the first
event, so this is the time to the first event.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.bench.stats import percentile

__all__ = ["TtfbResult", "measure_ttfb"]


@dataclass
class TtfbResult:
    samples: int
    failures: int  # transfers without a 200
    p50_ms: float
    p99_ms: float


WRITE_OUT = r"%{http_code} %{time_starttransfer}\n"  # curl makes \n a newline


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def curl_config(
    url: str, body_path: Path, samples: int, headers: Mapping[str, str] | None = None
) -> str:
    """A curl config posting ``body_path`` to ``url`` ``samples`` times, output discarded;
    ``headers`` (a managed key's ``Authorization``) go on every request."""
    lines = [
        "silent",
        "show-error",
        f"header = {_quote('Content-Type: application/json')}",
        *(f"header = {_quote(f'{name}: {value}')}" for name, value in (headers or {}).items()),
        f"data-binary = {_quote('@' + str(body_path))}",
        "write-out = " + _quote(WRITE_OUT),
    ]
    for _ in range(samples):
        lines += [f"url = {_quote(url)}", 'output = "/dev/null"']
    return "\n".join(lines) + "\n"


def measure_ttfb(
    url: str,
    body: bytes,
    *,
    concurrency: int,
    samples: int,
    headers: Mapping[str, str] | None = None,
) -> TtfbResult:
    if shutil.which("curl") is None:
        raise RuntimeError("curl is not installed (apt-get install curl)")
    with tempfile.TemporaryDirectory(prefix="bench-curl-") as tmp:
        body_path, config = Path(tmp) / "body.json", Path(tmp) / "curl.conf"
        body_path.write_bytes(body)
        config.write_text(curl_config(url, body_path, samples, headers))
        args = ["curl", "--config", str(config)]
        if concurrency > 1:
            args += ["--parallel", "--parallel-immediate", "--parallel-max", str(concurrency)]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    times, failures = [], 0
    for line in done.stdout.splitlines():
        code, _, seconds = line.partition(" ")
        if code == "200":
            times.append(float(seconds) * 1000)
        else:
            failures += 1
    failures += max(0, samples - len(times) - failures)
    return TtfbResult(
        samples=len(times),
        failures=failures,
        p50_ms=percentile(times, 50),
        p99_ms=percentile(times, 99),
    )
