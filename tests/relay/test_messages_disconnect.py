"""``/v1/messages`` under disconnects and failures, as the chat tests (test_disconnect.py): the
client leaves mid-stream, before the first byte, during a non-streamed call, and the provider's
connection closes at that virtual instant, with one usage record saying client_disconnect. Both
ways: the fast path to Anthropic and the translation to an OpenAI-style provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
import trio
import trio.testing

from gomodel.termination import Termination
from gomodel.testing import Reply, Silence
from gomodel.wire.sse import SSEDecoder
from tests.relay.harness import Harness, busy_connections, chat_connections, open_harness

PATH = "/v1/messages"
LONG = [{"role": "user", "content": "x" * 500}]  # the mocks stream 5 characters per event
HI = [{"role": "user", "content": "hi"}]
# (anthropic?, model, the provider's path, its provider name, the route kind)
SIDES = [
    pytest.param(True, "claude-sonnet-4", "/messages", "anthropic", "passthrough", id="anthropic"),
    pytest.param(False, "gpt-4o", "/chat/completions", "openai", "translate", id="openai"),
]


def _events(body: bytes) -> list[str | None]:
    return [event.event for event in SSEDecoder().feed(body)]


async def _only_record(h: Harness) -> Any:
    await trio.testing.wait_all_tasks_blocked()
    [record] = h.usage.records
    return record


@pytest.mark.parametrize(("anthropic", "model", "upstream", "provider", "route"), SIDES)
async def test_client_leaves_mid_stream(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    anthropic: bool,
    model: str,
    upstream: str,
    provider: str,
    route: str,
) -> None:
    async with open_harness(tmp_path, anthropic=anthropic) as h:
        body = {"model": model, "max_tokens": 64, "messages": LONG, "stream": True}
        server, _ = await h.request(body, path=PATH)
        await trio.sleep(3.5)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 3.5
        assert conn.closed_by == "client"
        names = _events(server.body)
        assert names[0] == "message_start" and "content_block_delta" in names
        assert "message_stop" not in names
        record = await _only_record(h)
        assert (record.endpoint, record.route, record.stream) == (PATH, route, True)
        assert record.termination is Termination.CLIENT_DISCONNECT
        assert not record.complete
        assert busy_connections(h, provider) == 0


@pytest.mark.parametrize(("anthropic", "model", "upstream", "provider", "route"), SIDES)
async def test_client_leaves_before_the_first_byte(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    anthropic: bool,
    model: str,
    upstream: str,
    provider: str,
    route: str,
) -> None:
    """The provider is still thinking (no headers): the client leaves, the connection closes."""
    async with open_harness(tmp_path, anthropic=anthropic) as h:
        h.mock.script(attrs.evolve(Reply.sse([]), headers_delay=120.0), path=upstream)
        body = {"model": model, "max_tokens": 64, "messages": HI, "stream": True}
        server, _ = await h.request(body, path=PATH)
        await trio.sleep(1.0)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 1.0
        assert server.messages == []  # no response was ever started
        record = await _only_record(h)
        assert record.termination is Termination.CLIENT_DISCONNECT
        assert record.status == 499


@pytest.mark.parametrize(("anthropic", "model", "upstream", "provider", "route"), SIDES)
async def test_client_leaves_during_a_unary_call(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    anthropic: bool,
    model: str,
    upstream: str,
    provider: str,
    route: str,
) -> None:
    async with open_harness(tmp_path, anthropic=anthropic) as h:
        h.mock.script(attrs.evolve(Reply.json({}), headers_delay=60.0), path=upstream)
        server, _ = await h.request({"model": model, "max_tokens": 64, "messages": HI}, path=PATH)
        await trio.sleep(2.0)
        await server.disconnect()
        [conn] = chat_connections(h.mock)
        assert await h.mock.wait_closed(conn.id) == 2.0
        assert server.messages == []
        record = await _only_record(h)
        assert (record.termination, record.stream) == (Termination.CLIENT_DISCONNECT, False)


@pytest.mark.parametrize(("anthropic", "model", "upstream", "provider", "route"), SIDES)
async def test_silent_provider_ends_the_stream_with_an_anthropic_error(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    anthropic: bool,
    model: str,
    upstream: str,
    provider: str,
    route: str,
) -> None:
    """A provider that goes quiet mid-stream: the events so far, then Anthropic's error frame
    (timeout_error), at HTTP_STREAM_IDLE_TIMEOUT after the last byte."""
    env = {"HTTP_STREAM_IDLE_TIMEOUT": "20", "RETRY_MAX_RETRIES": "0"}  # one attempt: its frame
    async with open_harness(tmp_path, env, anthropic=anthropic) as h:
        if anthropic:
            start = {"type": "message_start", "message": {"id": "msg_1", "usage": {}}}
            first = b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n"
        else:
            chunk = {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
            first = b"data: " + orjson.dumps(chunk) + b"\n\n"
        h.mock.script(Reply.sse([first, Silence()], done=False), path=upstream)
        body = {"model": model, "max_tokens": 64, "messages": HI, "stream": True}
        server, _ = await h.request(body, path=PATH)
        await trio.sleep(60.0)
        assert server.finished
        events = SSEDecoder().feed(server.body)
        assert events[0].event == "message_start"
        assert events[-1].event == "error"
        assert [e.event for e in events].count("error") == 1
        assert events[-1].data is not None
        error = orjson.loads(events[-1].data)
        assert error["type"] == "error" and error["error"]["type"] == "timeout_error"
        [conn] = chat_connections(h.mock)
        assert conn.closed_at == 20.0
        assert (await _only_record(h)).termination is Termination.IDLE_TIMEOUT


async def test_slow_body_is_an_anthropic_408(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A body still arriving at BODY_READ_TIMEOUT: 408 in Anthropic's envelope at that instant,
    nothing sent upstream."""
    async with open_harness(tmp_path, {"BODY_READ_TIMEOUT": "10"}, anthropic=True) as h:
        server, _ = await h.request({"model": "claude-sonnet-4"}, path=PATH, more_body=True)
        await trio.sleep(15.0)
        assert server.status == 408
        [(answered_at, _), *_] = server.messages
        assert answered_at == 10.0
        error = orjson.loads(server.body)
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
        assert "10s" in error["error"]["message"]
        assert not chat_connections(h.mock)
