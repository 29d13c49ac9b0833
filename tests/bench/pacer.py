"""The long-stream workload's C programs: ``pacerd`` (a provider answering at a model's pace)
and ``streamload`` (a client holding N streams open and timing every event).

Both are compiled on first use like ``mockd`` (tests/bench/mock.py). The load client is C for
the same reason the mock is: thousands of sockets read by Python on the same two cores would
measure Python, not the gateway.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from tests.bench.mock import build, listening

__all__ = ["LoadResult", "Spread", "pacer_provider", "run_load"]

PATH = "/v1/chat/completions"
MODEL = "gpt-4o-mini"
PROBE_MS = 75.0


@dataclass
class Spread:
    """Percentiles of one measured figure, in ms."""

    count: int = 0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    mean: float = 0.0


@dataclass
class LoadResult:
    """What ``streamload`` saw: how every stream ended, each event's lag, the probes' TTFB."""

    streams: int
    events_per_stream: int
    started: int
    completed: int  # read to ``data: [DONE]`` and the end of the chunked body
    refused: int  # connection refused (a full listen backlog)
    reset: int  # connection reset, on connect or mid-stream
    incomplete: int  # the stream began and stopped before [DONE]
    closed_before_response: int  # closed before a byte of the answer
    non_200: int
    connect_errors: int
    timed_out: int  # still open when the client's deadline came
    events: int  # content events received, all streams
    probes_sent: int
    probes_ok: int
    probes_failed: int
    wall_s: float
    lag_ms: Spread  # the mock's write -> the client's read, every content event
    probe_ttfb_ms: Spread  # connect -> first byte of a new non-streamed chat request
    stream_ttfb_ms: Spread = field(default_factory=Spread)  # connect -> a stream's first byte

    @property
    def lost(self) -> int:
        """Streams that did not complete, however they ended."""
        return self.streams - self.completed

    @classmethod
    def parse(cls, text: str) -> LoadResult:
        doc: dict[str, Any] = orjson.loads(text)
        for name in ("lag_ms", "probe_ttfb_ms", "stream_ttfb_ms"):
            doc[name] = Spread(**doc[name])
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in known})


@contextmanager
def pacer_provider(events: int, interval_ms: float) -> Iterator[str]:
    """``pacerd`` on a free loopback port; yields its root URL ``http://127.0.0.1:<port>``."""
    binary = build("pacerd")
    with listening([str(binary), "0", str(events), f"{interval_ms:g}"], "pacerd") as port:
        yield f"http://127.0.0.1:{port}"


def run_load(
    url: str,
    streams: int,
    events: int,
    *,
    spread_ms: float,
    deadline_s: float,
    probe_ms: float = PROBE_MS,
) -> LoadResult:
    """Run ``streamload`` against ``url`` (``http://127.0.0.1:<port>``) until every stream ended
    or ``deadline_s`` passed; ``spread_ms`` 0 opens them all at once."""
    port = url.rsplit(":", 1)[1].split("/", 1)[0]
    binary = build("streamload")
    args = [str(binary), port, PATH, MODEL, str(streams), str(events), f"{spread_ms:g}"]
    args += [f"{probe_ms:g}", f"{deadline_s:g}"]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=deadline_s + 30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"streamload failed ({done.returncode}): {done.stderr.strip()}")
    return LoadResult.parse(done.stdout)
