"""The C mock provider (``mockd.c``): compiled on first use, started with generated payloads.

``mockd`` answers tens of thousands of requests per second on one core from responses it builds
once at start, so what the benchmark measures is the system under test, not the provider.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.bench.payloads import write_payloads

__all__ = ["BUILD_DIR", "build", "build_mockd", "listening", "mock_provider"]

HERE = Path(__file__).parent
BUILD_DIR = Path(__file__).resolve().parents[2] / ".bench" / "build"


class BuildError(RuntimeError):
    pass


def build(name: str, build_dir: Path = BUILD_DIR) -> Path:
    """The compiled ``tests/bench/<name>.c``, rebuilt when the source is newer than the binary.

    The bench's C programs (``mockd``, ``pacerd``, ``streamload``) are one file each, libc only
    (``mockd`` also links OpenSSL for ``--tls``).
    """
    source = HERE / f"{name}.c"
    binary = build_dir / name
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BuildError("no C compiler: install gcc (apt-get install gcc)")
    build_dir.mkdir(parents=True, exist_ok=True)
    partial = build_dir / f"{name}.{os.getpid()}"
    args = [compiler, "-O2", "-Wall", "-Wextra", "-o", str(partial), str(source)]
    if name == "mockd":  # --tls (OpenSSL's headers: apt-get install libssl-dev)
        args += ["-lssl", "-lcrypto"]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"compiling {source.name} failed:\n{done.stderr}")
    partial.replace(binary)  # atomic: a concurrent run sees the old binary or the new one
    return binary


def build_mockd(build_dir: Path = BUILD_DIR) -> Path:
    """The compiled ``mockd``."""
    return build("mockd", build_dir)


@contextmanager
def listening(args: list[str], name: str) -> Iterator[int]:
    """Run one of the bench's C servers, which prints the port it listens on as its first line
    of output; yields the port, kills the server on the way out."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.isdigit():
            process.wait(timeout=5)
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"{name} did not start: {stderr.strip() or line!r}")
        yield int(line)
    finally:
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def mock_provider(
    workdir: Path | None = None, *, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Run ``mockd`` on a free loopback port; yields its root URL ``http://127.0.0.1:<port>``.

    ``tls``: (certificate chain, key) PEM files; the mock then speaks only TLS and the URL is
    ``https://``."""
    binary = build_mockd()
    with tempfile.TemporaryDirectory(prefix="mockd-", dir=workdir) as payload_dir:
        write_payloads(Path(payload_dir))
        args = [str(binary), "0", payload_dir]
        if tls is not None:
            args += ["--tls", str(tls[0]), str(tls[1])]
        with listening(args, "mockd") as port:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
