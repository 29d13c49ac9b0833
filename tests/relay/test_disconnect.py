"""Disconnects, stalls, silences and failures, deterministically (RELIABILITY.md §8 rows
1-8, 10, 14, 22, 25), asserted at the provider's socket in virtual time (see harness.py)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing

from gomodel.config import load_config
from gomodel.providers.client import make_provider
from gomodel.termination import Termination
from gomodel.testing import Close, Reply, Silence
from tests.relay.harness import (
    busy_connections,
    chat_connections,
    data_events,
    final_error,
    open_harness,
)

HI = [{"role": "user", "content": "hi"}]
LONG = [{"role": "user", "content": "x" * 500}]  # the mock streams 5 characters per chunk


async def test_disconnect_mid_stream_closes_upstream_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 1: the client leaves after 3 chunks; the provider's socket closes that instant."""
    async with open_harness(tmp_path) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await trio.sleep(3.5)
        left_at = trio.current_time()
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        closed_at = await h.mock.wait_closed(conn.id)
        assert closed_at == left_at
        assert conn.closed_by == "client"
        assert len(data_events(server.body)) == 4  # the role chunk and 3 content chunks
        record = await h.record()
        assert record.termination is Termination.CLIENT_DISCONNECT
        assert not record.complete
        assert busy_connections(h) == 0  # nothing half-open left in the pool
        # The pool is clean: the next request on the same provider works.
        again, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(1)
        assert again.status == 200
        assert b"Mock response to: hi" in again.body


async def test_anthropic_disconnect_mid_stream(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A translated (Anthropic) stream is cancelled the same way: upstream closed that instant."""
    async with open_harness(tmp_path, anthropic=True) as h:
        body = {"model": "claude-sonnet-4", "messages": LONG, "stream": True}
        server, _ = await h.request(body)
        await trio.sleep(3.5)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 3.5
        assert conn.closed_by == "client"
        assert data_events(server.body)  # translated chunks had reached the client
        assert (await h.record()).termination is Termination.CLIENT_DISCONNECT
        assert busy_connections(h, "anthropic") == 0


async def test_disconnect_before_headers(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 2: the provider is thinking (no headers yet); the client leaves; upstream closed."""
    async with open_harness(tmp_path) as h:
        h.mock.script(
            attrs.evolve(Reply.sse([{"choices": []}]), headers_delay=120.0),
            path="/chat/completions",
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(1.0)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 1.0
        assert server.status is None  # no response was ever started
        assert (await h.record()).termination is Termination.CLIENT_DISCONNECT


async def test_disconnect_while_connecting(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 3: the client leaves while the gateway is still connecting; nothing is left over."""
    # The model list answer closes its connection, so the chat request must connect anew.
    models = Reply.json({"data": [{"id": "gpt-4o"}]}, headers=[("connection", "close")])
    async with open_harness(tmp_path, models_reply=models, connect_delay=10.0) as h:
        before = len(h.mock.connections)
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(1.0)
        await server.disconnect()
        await trio.sleep(20.0)
        assert len(h.mock.connections) == before  # the connect was abandoned
        assert not any(r.path.endswith("/chat/completions") for r in h.mock.requests)
        again, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(15.0)
        assert again.status == 200


async def test_disconnect_while_queued_for_a_pool_slot(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 3: a request waiting for a pooled connection leaves; the pool stays usable."""
    async with open_harness(tmp_path, max_connections=1) as h:
        first, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await trio.sleep(2.0)
        queued, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(1.0)
        await queued.disconnect()
        await trio.sleep(200.0)  # the first stream runs to its end
        assert first.finished
        assert data_events(first.body)[-1] == b"[DONE]"
        assert busy_connections(h) == 0
        after, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(1.0)
        assert after.status == 200
        chats = [r for r in h.mock.requests if r.path.endswith("/chat/completions")]
        assert len(chats) == 2  # the queued request never reached the provider


async def test_disconnect_while_uploading_body(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 4: the client leaves mid-upload: no upstream request at all, no response."""
    async with open_harness(tmp_path) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": HI}, more_body=True)
        await server.disconnect()
        await trio.sleep(5.0)
        assert not any(r.path.endswith("/chat/completions") for r in h.mock.requests)
        assert server.messages == []


async def test_disconnect_during_unary_request(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A non-streaming request is watched too: the client leaves, the upstream closes."""
    async with open_harness(tmp_path) as h:
        h.mock.script(
            attrs.evolve(Reply.json({"choices": []}), headers_delay=60.0), path="/chat/completions"
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(2.0)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 2.0
        assert server.messages == []


async def test_stalled_client_upstream_closed_at_stall_timeout(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 5: the client stops reading but stays connected; the upstream closes at the stall
    timeout even though the writer is stuck in a shielded send."""
    async with open_harness(tmp_path, {"STREAM_STALL_TIMEOUT": "5"}) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await trio.sleep(2.5)
        server.stalled = True  # the next body send blocks until the client goes away
        [conn] = chat_connections(h.mock)
        closed_at = await h.mock.wait_closed(conn.id)
        assert closed_at == 3.0 + 5.0  # the chunk at t=3 is the first send that blocks
        assert conn.closed_by == "client"
        await trio.sleep(100.0)
        await server.disconnect()  # the client finally leaves; the writer is released
        record = await h.record()
        assert record.termination is Termination.STALLED_CLIENT


async def test_upstream_never_answers_504_at_header_timeout(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 6: no headers from the provider: 504 at HTTP_RESPONSE_HEADER_TIMEOUT exactly (with
    retries off; tests/pipeline/test_attempts.py has the retried case)."""
    env = {"HTTP_RESPONSE_HEADER_TIMEOUT": "30", "RETRY_MAX_RETRIES": "0"}
    async with open_harness(tmp_path, env) as h:
        h.mock.script(
            attrs.evolve(Reply.sse([]), headers_delay=float("inf")), path="/chat/completions"
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(31.0)
        assert server.status == 504
        [(answered_at, _), *_] = server.messages
        assert answered_at == 30.0
        assert orjson.loads(server.body)["error"]["code"] == "upstream_timeout"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at == 30.0
        assert (await h.record()).termination is Termination.HEADER_TIMEOUT


async def test_upstream_silent_mid_stream(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Row 7: three events, then silence: an idle-timeout error event after the last byte."""
    async with open_harness(tmp_path, {"HTTP_STREAM_IDLE_TIMEOUT": "20"}) as h:
        chunk = {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
        h.mock.script(
            Reply.sse([chunk, chunk, chunk, Silence()], gap=1.0, done=False),
            path="/chat/completions",
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(60.0)
        assert server.finished
        assert len(data_events(server.body)) == 4  # three chunks + the error
        assert final_error(server.body)["code"] == "upstream_idle_timeout"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at == 2.0 + 20.0
        assert (await h.record()).termination is Termination.IDLE_TIMEOUT


@pytest.mark.parametrize(
    ("tail", "termination"),
    [
        ((b'data: {"partial', Close()), Termination.UPSTREAM_EOF),  # row 8: FIN, truncated
        ((), Termination.UPSTREAM_EOF),  # row 10: clean end, no [DONE]
    ],
    ids=["truncated", "no-terminal-event"],
)
async def test_upstream_ends_early(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    tail: tuple[Any, ...],
    termination: Termination,
) -> None:
    """Rows 8 and 10: complete events relayed, the partial one dropped, then stream_incomplete."""
    async with open_harness(tmp_path) as h:
        chunk = b'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n'
        h.mock.script(
            Reply(headers=(("content-type", "text/event-stream"),), body=(chunk, chunk, *tail)),
            path="/chat/completions",
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(5.0)
        assert server.body.startswith(chunk + chunk)
        assert b"partial" not in server.body
        assert final_error(server.body)["code"] == "stream_incomplete"
        assert server.finished
        assert (await h.record()).termination is termination


async def test_huge_event_aborted(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Row 14: an event past STREAM_MAX_EVENT_SIZE ends the stream with event_too_large (with
    retries off: with them, the content-free first chunk is held and the request retried)."""
    env = {"STREAM_MAX_EVENT_SIZE": "64K", "RETRY_MAX_RETRIES": "0"}
    async with open_harness(tmp_path, env) as h:
        ok = b'data: {"choices":[]}\n\n'
        flood = tuple(b"x" * 16384 for _ in range(64))  # 1 MiB, never a newline
        h.mock.script(
            Reply(headers=(("content-type", "text/event-stream"),), body=(ok, *flood, Silence())),
            path="/chat/completions",
        )
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(5.0)
        assert server.body.startswith(ok)
        assert final_error(server.body)["code"] == "event_too_large"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at is not None
        assert (await h.record()).termination is Termination.EVENT_TOO_LARGE


async def test_total_deadline(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Row 22: HTTP_TIMEOUT bounds the whole stream: deadline_exceeded, upstream closed then."""
    async with open_harness(tmp_path, {"HTTP_TIMEOUT": "2"}) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await trio.sleep(10.0)
        assert final_error(server.body)["code"] == "deadline_exceeded"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at == 2.0
        assert (await h.record()).termination is Termination.DEADLINE


async def test_shutdown_mid_stream(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A server shutdown cancels the app: one server_shutdown event, upstream closed."""
    async with open_harness(tmp_path) as h:
        server, cancel_scope = await h.request(
            {"model": "gpt-4o", "messages": LONG, "stream": True}
        )
        await trio.sleep(3.5)
        cancel_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert final_error(server.body)["code"] == "server_shutdown"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at == 3.5
        assert (await h.record()).termination is Termination.SHUTDOWN


async def test_each_event_forwarded_without_waiting_for_the_next(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Every upstream event reaches the client at the instant the provider sent it (when no
    other attempt could follow; otherwise the role chunk waits for the first content:
    tests/pipeline/test_attempts.py)."""
    async with open_harness(tmp_path, {"RETRY_MAX_RETRIES": "0"}) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await trio.sleep(10.5)
        bodies = [(t, m["body"]) for t, m in server.messages if m["type"] == "http.response.body"]
        assert [t for t, _ in bodies[:11]] == [float(s) for s in range(11)]  # one per gap
        assert all(body.count(b"data: ") == 1 for _, body in bodies[:11])
        await server.disconnect()


async def test_completed_stream_and_usage(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The happy path: the stream completes, the injected usage chunk is hidden but counted."""
    async with open_harness(tmp_path) as h:
        server, _ = await h.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(30.0)
        events = data_events(server.body)
        assert events[-1] == b"[DONE]"
        assert not any(b'"usage"' in e for e in events)
        record = await h.record()
        assert record.termination is Termination.COMPLETED
        assert record.complete
        assert record.usage is not None and record.usage.total_tokens == 30


async def test_upstream_connections_are_http11(tmp_path: Path) -> None:
    """Row 25: provider clients never speak HTTP/2 (a cancel must close the TCP connection)."""
    received = bytearray()

    async def handler(stream: trio.SocketStream) -> None:
        while b"\r\n\r\n" not in received:
            received.extend(await stream.receive_some(65536))
        await stream.send_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")

    async with trio.open_nursery() as nursery:
        [listener] = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listener.socket.getsockname()[1]
        env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
        config = load_config(env, cwd=tmp_path)
        provider = make_provider(config.providers[0], config)
        request = provider.build_request(
            "GET", f"http://127.0.0.1:{port}/v1/models", body=None, request_id=None, stream=False
        )
        response = await provider.send(request)
        await response.aread()
        await provider.aclose()
        nursery.cancel_scope.cancel()
    assert response.json() == {}
    assert received.startswith(b"GET /v1/models HTTP/1.1\r\n")  # no h2c upgrade, no preface
    assert b"upgrade" not in received.lower()
