"""What one open stream holds in the gateway: trio tasks and bytes (docs/benchmarks.md).

A long stream costs the gateway what it keeps alive between events, not the CPU of relaying
them; thousands of idle agent streams are bounded by that. Not part of the test suite or of
``nox -s bench``.

    python docs/measure/stream_memory.py [N]            # N open streams (default 300)
    python docs/measure/stream_memory.py 300 --rss      # RSS only, without tracemalloc
    python docs/measure/stream_memory.py 300 --top 15   # also the allocation sites that grew

The gateway runs in this process (hypercorn + ``GatewayApp``, as ``gomodel serve`` serves it,
usage to memory); the mock provider and the clients run in two child processes, so what grows
here is the gateway's. The mock answers each stream with a role chunk and one content chunk at
once, then sends nothing (``Silence``): the stream is open and idle. The clients open ``N``
streams on raw sockets and read each up to its first content; then the script counts the tasks
under trio's root task, the bytes tracemalloc sees and the process's RSS, against the same
figures before (after a warm-up of a few streams). The clients then close their sockets; the
script waits for the gateway to let go and counts again: what is left over is a leak.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import resource
import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

WARMUP = 20
BODY = (
    b'{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},'
    b'"messages":[{"role":"user","content":"hello"}]}'
)


# -- the child processes ---------------------------------------------------------------------


def _mock(count: int) -> None:
    """Serve ``count`` idle streams (then the mock's default answers); print the base URL."""
    from gomodel.testing import MockUpstream, serve_mock_upstream
    from gomodel.testing._reply import Reply, Silence

    def chunk(delta: dict[str, str]) -> dict[str, object]:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        return {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}

    mock = MockUpstream(models=("gpt-4o-mini",))
    reply = Reply.sse([chunk({"role": "assistant", "content": ""}), chunk({"content": "hi"})])
    idle = Reply(reply.status, reply.headers, (*reply.body[:-1], Silence()))
    for _ in range(count):
        mock.script(idle, path="/chat/completions")

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(serve_mock_upstream, mock)
            print(url, flush=True)

    trio.run(serve)


def _clients(port: int, count: int) -> None:
    """Open ``count`` streams, read each to its first content, say so, hold until stdin ends."""
    import socket

    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY)
    )
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(request)
        sockets.append(sock)
    for sock in sockets:
        seen = b""
        while b'"hi"' not in seen:
            data = sock.recv(65536)
            if not data:
                raise SystemExit(f"the gateway closed a stream early: {seen[:300]!r}")
            seen += data
    print("open", flush=True)
    sys.stdin.read()
    for sock in sockets:
        sock.close()


# -- the gateway and the counts --------------------------------------------------------------


def _task_names() -> Counter[str]:
    names: Counter[str] = Counter()
    todo = [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        names[task.name.rsplit(".", 1)[-1]] += 1
        for nursery in task.child_nurseries:
            todo.extend(nursery.child_tasks)
    return names


def _tasks() -> int:
    return sum(_task_names().values())


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def _figures(trace: bool, top: int, *, first: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {"names": _task_names()}
    figures["tasks"] = sum(figures["names"].values())
    if trace and top and first:  # taken before the count, so its own bytes are not counted
        figures["snapshot"] = tracemalloc.take_snapshot()
    gc.collect()
    figures["rss"] = _rss()
    if trace:
        figures["traced"] = tracemalloc.get_traced_memory()[0]
    if trace and top and not first:
        figures["snapshot"] = tracemalloc.take_snapshot()
    return figures


async def _spawn_clients(port: int, count: int) -> trio.Process:
    script = [sys.executable, __file__, "--clients", str(port), str(count)]
    return await trio.lowlevel.open_process(script, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


async def _read_line(process: trio.Process) -> bytes:
    assert process.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        data = await process.stdout.receive_some(4096)
        if not data:
            raise RuntimeError("a child process ended early")
        line += data
    return line


async def _measure(upstream: str, count: int, trace: bool, top: int) -> None:
    from gomodel.app.asgi import GatewayApp
    from gomodel.config import load_config
    from gomodel.serve import serve_gateway
    from gomodel.usage.record import MemoryUsageSink

    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": upstream,
        "MAX_CONCURRENT_REQUESTS": str(count + 100),
        "LOG_LEVEL": "warning",
    }
    config = load_config(env, cwd="/")
    async with trio.open_nursery() as nursery:
        url = await nursery.start(serve_gateway, GatewayApp(config, usage=MemoryUsageSink()))
        port = int(url.rsplit(":", 1)[1])
        for round_count in (WARMUP, count):
            if round_count == count:
                if trace:
                    tracemalloc.start(25 if top else 1)
                before = _figures(trace, top, first=True)
            clients = await _spawn_clients(port, round_count)
            await _read_line(clients)
            if round_count == count:
                during = _figures(trace, top)
            assert clients.stdin is not None
            await clients.stdin.aclose()
            await clients.wait()
            # The gateway lets go of a stream as soon as it sees the client's FIN.
            with trio.move_on_after(30):
                while round_count == count and _tasks() > before["tasks"]:  # noqa: ASYNC110
                    await trio.sleep(0.05)
            await trio.sleep(0.5)
        after = _figures(trace, 0)
        nursery.cancel_scope.cancel()
    _report(count, before, during, after, top)


def _report(
    count: int, before: dict[str, Any], during: dict[str, Any], after: dict[str, Any], top: int
) -> None:
    def per(key: str) -> float:
        return float(during[key] - before[key]) / count

    print(f"{count} open streams")
    left_tasks = after["tasks"] - before["tasks"]
    print(f"  tasks per stream         {per('tasks'):.2f}   (left after: {left_tasks})")
    if "traced" in during:
        left = (after["traced"] - before["traced"]) / 1024
        print(
            f"  traced KiB per stream    {per('traced') / 1024:.1f}   (left after: {left:.0f} KiB)"
        )
    print(f"  RSS KiB per stream       {per('rss') / 1024:.1f}")
    if top:
        grown = during["names"] - before["names"]
        print(
            "  tasks per stream by name: "
            + ", ".join(f"{name} {n / count:.2f}" for name, n in grown.most_common())
        )
    if top and "snapshot" in during:
        print(f"  the {top} allocation sites that grew most (KiB per stream):")
        stats = during["snapshot"].compare_to(before["snapshot"], "lineno")
        for stat in stats[:top]:
            frame = stat.traceback[0]
            where = f"{Path(frame.filename).name}:{frame.lineno}"
            print(f"    {stat.size_diff / 1024 / count:7.2f}  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=300)
    parser.add_argument("--rss", action="store_true", help="RSS only, without tracemalloc")
    parser.add_argument("--top", type=int, default=0, help="list the top allocation sites")
    parser.add_argument("--mock", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mock is not None:
        return _mock(args.mock)
    if args.clients is not None:
        return _clients(*args.clients)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * args.count + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * args.count + 100), hard))
    logging.getLogger("gomodel").setLevel(logging.ERROR)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    mock = subprocess.Popen(
        [sys.executable, __file__, "--mock", str(args.count + WARMUP)], stdout=subprocess.PIPE
    )
    try:
        assert mock.stdout is not None
        upstream = mock.stdout.readline().decode().strip()
        trio.run(_measure, upstream, args.count, not args.rss, args.top)
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    main()
