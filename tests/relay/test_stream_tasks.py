"""What an open stream holds: its tasks, and the stall deadline that replaced a watchdog task
(docs/benchmarks.md, "remaining per-request costs")."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from gomodel.termination import Termination
from tests.relay.harness import (
    FakeServer,
    Harness,
    chat_connections,
    data_events,
    open_harness,
)

LONG = [{"role": "user", "content": "x" * 500}]  # the mock streams 5 characters per chunk


def _descendants(task: trio.lowlevel.Task) -> int:
    return 1 + sum(_descendants(child) for n in task.child_nurseries for child in n.child_tasks)


async def _start_stream(h: Harness) -> tuple[FakeServer, trio.lowlevel.Task]:
    before = set(h.nursery.child_tasks)
    server, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
    [task] = [t for t in h.nursery.child_tasks - before if t.name.endswith("run")]
    return server, task


async def test_open_stream_holds_three_tasks_and_leaves_none(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Mid-stream the request runs in its own task plus two (the disconnect watcher and the
    upstream reader; the stall watchdog is a deadline, not a task), and when the client leaves
    nothing of the stream is left running."""
    async with open_harness(tmp_path) as h:
        baseline = set(h.nursery.child_tasks)
        server, task = await _start_stream(h)
        await trio.sleep(3.5)
        assert _descendants(task) == 3
        await server.disconnect()
        await trio.testing.wait_all_tasks_blocked()
        assert (await h.record()).termination is Termination.CLIENT_DISCONNECT
        assert not set(h.nursery.child_tasks) - baseline  # nothing new is left running


async def test_slow_reader_is_not_a_stalled_one(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Every send takes 3 s against a stall timeout of 5 s: the sends add up to far more than
    5 s, but none of them alone reaches it, so the stream is relayed to its end (the deadline is
    lifted after each send)."""
    async with open_harness(tmp_path, {"STREAM_STALL_TIMEOUT": "5"}) as h:
        server, _ = await _start_stream(h)
        server.slow = 3.0
        [conn] = chat_connections(h.mock)
        await h.mock.wait_closed(conn.id)
        await trio.sleep(1_000.0)
        assert server.finished
        record = await h.record()
        assert record.termination is Termination.COMPLETED
        assert data_events(server.body)[-1] == b"[DONE]"
