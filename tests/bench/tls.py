"""The TLS upstream workload: the gateway in front of ``mockd --tls`` beside the same gateway in
front of the plain mock, chat and stream, in one run.

A CA made for the run with trustme issues the mock's certificate (127.0.0.1 and localhost); the
gateway trusts it through ``SSL_CERT_FILE``, its normal CA setting (docs/deployment.md). Each
(workload, concurrency) is measured plain then TLS, back to back, so a slow moment of the shared
machine hits both alike. Besides wrk's figures each side records the CPU the gateway's processes
spent per request (``/proc/<pid>/stat``, steadier than req/s on a noisy machine) and, from the
mock's ``/_mockd/stats``, how many connections and TLS handshakes the measured run caused: with
connection reuse, about none.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import trustme

from tests.bench.mock import mock_provider
from tests.bench.procs import cpu_seconds
from tests.bench.servers import Server, gateway_server
from tests.bench.workloads import WORKLOADS
from tests.bench.wrk import WrkResult, run_wrk

__all__ = [
    "TLS_WORKLOADS",
    "TlsCell",
    "TlsFiles",
    "TlsSide",
    "make_tls_files",
    "mockd_stats",
    "run_tls",
    "tls_markdown",
]

TLS_WORKLOADS = ("chat", "stream")


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate: what the gateway trusts (SSL_CERT_FILE)
    chain: Path  # the mock's certificate chain
    key: Path  # the mock's private key


def make_tls_files(directory: Path) -> TlsFiles:
    """A fresh CA and a server certificate for 127.0.0.1 and localhost, as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "chain.pem", directory / "key.pem")
    ca.cert_pem.write_to_path(str(files.ca))
    cert.private_key_pem.write_to_path(str(files.key))
    with files.chain.open("wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    return files


def mockd_stats(url: str, ca: Path | None = None) -> dict[str, int]:
    """``/_mockd/stats`` of the mock at ``url`` (https: verified against ``ca``)."""
    verify: ssl.SSLContext | bool = True
    if ca is not None:
        verify = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(verify=verify, timeout=10) as client:
        doc = client.get(f"{url}/_mockd/stats").json()
    return {name: int(value) for name, value in doc.items()}


@dataclass
class TlsSide:
    """One side (plain or TLS) of one cell."""

    wrk: WrkResult
    cpu_us_per_request: float | None
    connections: int  # new upstream connections during the measured run
    handshakes: int  # TLS handshakes during it (0 on the plain side)
    upstream_requests: int

    @property
    def handshakes_per_1000(self) -> float | None:
        if not self.upstream_requests:
            return None
        return 1000 * self.handshakes / self.upstream_requests


@dataclass
class TlsCell:
    workload: str
    concurrency: int
    workers: int
    plain: TlsSide
    tls: TlsSide


def _measure_side(
    server: Server,
    mock_url: str,
    ca: Path | None,
    workload: str,
    concurrency: int,
    duration: float,
    warmup: float,
) -> TlsSide:
    spec = WORKLOADS[workload]
    url, body = server.url + spec.path, spec.payload()
    # Always a little: the pool opens its connections (and handshakes) here, not when measured.
    run_wrk(url, body, concurrency=concurrency, duration=max(warmup, 0.3))
    before, cpu = mockd_stats(mock_url, ca), cpu_seconds(server.process.pid)
    result = run_wrk(url, body, concurrency=concurrency, duration=duration)
    cpu = cpu_seconds(server.process.pid) - cpu
    after = mockd_stats(mock_url, ca)
    return TlsSide(
        wrk=result,
        cpu_us_per_request=1e6 * cpu / result.requests if result.requests else None,
        connections=after["connections"] - before["connections"] - 1,  # the stats request's own
        handshakes=max(0, after["tls_handshakes"] - before["tls_handshakes"] - (ca is not None)),
        upstream_requests=after["requests"] - before["requests"],
    )


@contextmanager
def tls_mock(workdir: Path) -> Iterator[tuple[str, TlsFiles]]:
    """``mockd --tls`` with a certificate from a CA made for this run; its URL and files."""
    files = make_tls_files(workdir / "tls")
    with mock_provider(workdir, tls=(files.chain, files.key)) as url:
        yield url, files


def run_tls(
    plain_mock: str,
    workdir: Path,
    *,
    workers: list[int],
    concurrency: list[int],
    workloads: list[str],
    duration: float,
    warmup: float,
    say: Callable[[str], None],
) -> list[TlsCell]:
    """Plain and TLS gateways side by side for each worker count; both sides of each cell."""
    cells: list[TlsCell] = []
    names = [name for name in TLS_WORKLOADS if name in workloads]
    if not names:
        return cells
    with tls_mock(workdir) as (tls_url, files):
        say(f"TLS upstream: mockd --tls on {tls_url}, gateways trusting the run's CA")
        for w in workers:
            trust = {"SSL_CERT_FILE": str(files.ca)}
            with (
                gateway_server(plain_mock, w, workdir, "gomodel-plain") as plain,
                gateway_server(tls_url, w, workdir, "gomodel-tls", env=trust) as tls,
            ):
                for name in names:
                    for c in concurrency:
                        a = _measure_side(plain, plain_mock, None, name, c, duration, warmup)
                        b = _measure_side(tls, tls_url, files.ca, name, c, duration, warmup)
                        cells.append(TlsCell(name, c, w, a, b))
                        say(f"  {w}w {name:<6} c={c:<3} {_line(a)} | TLS {_line(b)}")
    return cells


def _line(side: TlsSide) -> str:
    cpu = "-" if side.cpu_us_per_request is None else f"{side.cpu_us_per_request:.0f} us/req"
    errors = f", {side.wrk.error_count} ERRORS" if side.wrk.error_count else ""
    return (
        f"{side.wrk.rps:>7,.0f} req/s p50 {side.wrk.p50_ms:.2f} ms {cpu} "
        f"({side.handshakes} handshakes / {side.upstream_requests}){errors}"
    )


def _ratio(top: float | None, bottom: float | None) -> str:
    return "-" if top is None or not bottom else f"{top / bottom:.2f}"


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def tls_markdown(cells: list[TlsCell]) -> list[str]:
    """The report's "TLS upstream" table."""
    if not cells:
        return []
    lines = [
        "## TLS upstream (chat and stream, wrk)",
        "",
        "The gateway in front of `mockd --tls` (a CA made for the run, trusted through "
        "`SSL_CERT_FILE`) beside the same gateway in front of the plain mock, back to back. CPU "
        "is the gateway's processes' user + system time per request; handshakes are the mock's "
        "count during the measured run (connections are reused: about none).",
        "",
        "| workload | c | workers | plain req/s | TLS req/s | TLS÷plain | plain p50 | TLS p50 "
        "| plain CPU µs/req | TLS CPU µs/req | TLS extra µs/req | handshakes / 1,000 req "
        "| errors |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cell in cells:
        p, t = cell.plain, cell.tls
        extra = (
            None
            if p.cpu_us_per_request is None or t.cpu_us_per_request is None
            else t.cpu_us_per_request - p.cpu_us_per_request
        )
        rate = t.handshakes_per_1000
        lines.append(
            f"| {cell.workload} | {cell.concurrency} | {cell.workers} | {p.wrk.rps:,.0f} "
            f"| {t.wrk.rps:,.0f} | {_ratio(t.wrk.rps, p.wrk.rps)} | {p.wrk.p50_ms:.2f} "
            f"| {t.wrk.p50_ms:.2f} | {_cpu(p.cpu_us_per_request)} "
            f"| {_cpu(t.cpu_us_per_request)} | {'-' if extra is None else f'{extra:+.0f}'} "
            f"| {'-' if rate is None else f'{rate:.2f}'} "
            f"| {p.wrk.error_count + t.wrk.error_count} |"
        )
    return lines
