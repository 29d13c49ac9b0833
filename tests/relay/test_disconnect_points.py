"""RELIABILITY.md §8 rows 1-3 and 5 as one property: hypothesis draws the moment a client
leaves (waiting for a pool slot, connecting, sending the request, waiting for the answer's
head, after N events, during the last write) and whether it streams, and every time:

* the provider's connection is closed at that very virtual instant (when one was open: nothing
  is sent once the client is gone), and one kept alive only after a complete answer;
* exactly one usage record is written for the request, saying the client left (or, in the last
  write, that the answer was complete);
* no task of the request is left: the run has exactly the tasks it had before, plus those of
  the mock's connections still open.

Each example is its own ``trio.run`` under ``MockClock(autojump_threshold=0)`` (so every time is
exact), with the gateway in memory in front of the mock (tests/relay/harness.py's FakeServer is
the server side). The timeline of a request: connecting 2 s, writing the request 2 s (a slow
link), 3 s until the answer's head, then one event a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.providers.links import Link
from gomodel.providers.transport import UpstreamTransport
from gomodel.termination import Termination
from gomodel.testing import MemoryConnector, MockUpstream, Reply
from gomodel.usage.record import MemoryUsageSink
from tests.conftest import VIRTUAL_TIME_ENV
from tests.relay.harness import FakeServer

CONNECT, SEND, HEAD, EVENTS = 2.0, 2.0, 3.0, 12
PHASES = ["queued", "connecting", "sending", "head", "events", "last write"]


class SlowLink:
    """A connector whose requests take ``delay`` to write (as over a slow link)."""

    def __init__(self, inner: Callable[..., Awaitable[Link]], delay: float) -> None:
        self._inner = inner
        self._delay = delay

    async def __call__(self, host: str, port: int, *, tls: bool) -> Link:
        link = await self._inner(host, port, tls=tls)

        async def send_all(data: bytes) -> None:
            await trio.sleep(self._delay)
            await link.send_all(data)

        return attrs.evolve(link, send_all=send_all, try_send=lambda data: 0)


class LastWriteStalls(FakeServer):
    """A client that stops reading just before the end of the answer."""

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.stalled = True
        await super().send(message)


def _chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, object]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice]}


def _answer(stream: bool) -> Reply:
    if stream:
        usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
        chunks = [_chunk({"content": "x"}) for _ in range(EVENTS)]
        final = {**_chunk({}, "stop"), "usage": usage}
        return attrs.evolve(Reply.sse([*chunks, final], gap=1.0), headers_delay=HEAD)
    message = {"role": "assistant", "content": "x"}
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    doc = {"id": "c", "object": "chat.completion", "model": "gpt-4o", "choices": [choice]}
    return attrs.evolve(Reply.json({**doc, "usage": usage}), headers_delay=HEAD)


def _tasks() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def _request(
    app: GatewayApp, nursery: trio.Nursery, server: FakeServer, stream: bool
) -> None:
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":%s}' % (
        b"true" if stream else b"false"
    )
    await server.inbox.send({"type": "http.request", "body": body, "more_body": False})
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5555),
    }
    nursery.start_soon(app, scope, server.receive, server.send)


async def _scenario(tmp_path: Path, phase: str, events: int, stream: bool, frac: float) -> None:
    mock = MockUpstream(models=("gpt-4o",))
    # The model list's connection closes, so every chat request connects anew.
    mock.script(Reply.json({"data": [{"id": "gpt-4o"}]}, headers=[("connection", "close")]))
    usage = MemoryUsageSink()
    # No storage-backed stages: their threads do not run in virtual time, so a slow machine
    # would see the key store "not answer" within its bound and refuse every request.
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://upstream.test/v1", **VIRTUAL_TIME_ENV}
    config = load_config(env, cwd=tmp_path)
    async with trio.open_nursery() as nursery:
        transport = UpstreamTransport(
            connector=SlowLink(MemoryConnector(mock, nursery, connect_delay=CONNECT), SEND),
            max_connections=1,
        )
        app = GatewayApp(config, transport_factory=lambda _: transport, usage=usage)
        with trio.fail_after(10_000):
            async with app.serving() as runtime:
                await runtime.initial_load.wait()
                await trio.testing.wait_all_tasks_blocked()
                baseline, open_before = _tasks(), mock.open_connections()
                holder = None
                if phase == "queued":  # another stream holds the only connection
                    mock.script(_answer(True), path="/chat/completions")
                    holder = FakeServer.new()
                    await _request(app, nursery, holder, True)
                    await trio.sleep(CONNECT + SEND + HEAD + 1)
                mock.script(_answer(stream), path="/chat/completions")
                client = (LastWriteStalls if phase == "last write" else FakeServer).new()
                started = trio.current_time()
                await _request(app, nursery, client, stream)
                connections = len(mock.connections)
                leave = {
                    "queued": 1.0,
                    "connecting": CONNECT * frac,
                    "sending": CONNECT + SEND * frac,
                    "head": CONNECT + SEND + HEAD * frac,
                    "events": CONNECT + SEND + HEAD + (events if stream else 0) + frac,
                    "last write": CONNECT + SEND + HEAD + (EVENTS if stream else 0) + 1,
                }[phase]
                await trio.sleep_until(started + leave)
                if phase == "events" and not stream:  # a unary answer is all or nothing
                    assert client.finished
                    return
                left_at = trio.current_time()
                await client.disconnect()
                await trio.testing.wait_all_tasks_blocked()
                mine = mock.connections[connections:]
                if phase in ("queued", "connecting"):
                    assert mine == []  # no connection was ever made for it
                else:
                    [conn] = mine
                    if phase == "last write":
                        assert (conn.closed_at, conn.requests) == (None, 1)  # kept alive
                    else:
                        assert (conn.closed_at, conn.closed_by) == (left_at, "client")
                chats = [r for r in mock.requests if r.path.endswith("/chat/completions")]
                sent = phase in ("head", "events", "last write")
                assert len(chats) == (1 if holder else 0) + sent
                [record] = usage.records
                event(f"{phase}, {'stream' if stream else 'unary'}: {record.termination.value}")
                if phase == "last write":
                    assert (record.termination, record.complete) == (Termination.COMPLETED, True)
                else:
                    assert record.termination is Termination.CLIENT_DISCONNECT
                    assert client.status in (None, 200)
                if holder is not None:
                    assert not holder.finished  # the other stream carries on
                    await holder.disconnect()
                    await trio.testing.wait_all_tasks_blocked()
                    assert len(usage.records) == 2
                tasks_per_connection = 3  # the mock's serve_h11, its reader and its responder
                extra = (mock.open_connections() - open_before) * tasks_per_connection
                assert _tasks() == baseline + extra
                assert transport.busy_connections == 0
        nursery.cancel_scope.cancel()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    phase=st.sampled_from(PHASES),
    events=st.integers(0, EVENTS - 1),  # the last of the EVENTS + 1 events ends the stream
    stream=st.booleans(),
    frac=st.floats(0.01, 0.99),
)
def test_client_leaving_at_any_point(
    tmp_path_factory: pytest.TempPathFactory, phase: str, events: int, stream: bool, frac: float
) -> None:
    tmp_path = tmp_path_factory.mktemp("leave")
    clock = trio.testing.MockClock(autojump_threshold=0)
    trio.run(partial(_scenario, tmp_path, phase, events, stream, frac), clock=clock)
