"""gomodel.testing: the mock upstream over real sockets and in memory, driven by real httpx."""

from __future__ import annotations

import math

import httpx
import orjson
import pytest
import trio
import trio.testing

from gomodel.testing import (
    Close,
    MockUpstream,
    Reply,
    Reset,
    Silence,
    Sleep,
    memory_transport,
    serve_mock_upstream,
)

MEMORY_URL = "http://upstream.test/v1"
USAGE = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def memory_client(
    mock: MockUpstream, nursery: trio.Nursery, *, connect_delay: float = 0.0
) -> httpx.AsyncClient:
    transport = memory_transport(mock, nursery, connect_delay=connect_delay)
    return httpx.AsyncClient(transport=transport, base_url=MEMORY_URL)


def sse_payloads(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n") if line.startswith("data: ")]


# -- real loopback sockets (real clock, bounded by fail_after) --


async def test_models_listed_over_socket(nursery: trio.Nursery) -> None:
    """GET /v1/models and /models list the configured models in the OpenAI shape."""
    mock = MockUpstream(models=("m1", "m2"))
    base_url = await nursery.start(serve_mock_upstream, mock)
    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/v1")
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
            with_v1 = await client.get("/models")
            without_v1 = await client.get(base_url.removesuffix("/v1") + "/models")
    assert (
        with_v1.json()
        == without_v1.json()
        == {
            "object": "list",
            "data": [
                {"id": "m1", "object": "model", "created": 0, "owned_by": "mock"},
                {"id": "m2", "object": "model", "created": 0, "owned_by": "mock"},
            ],
        }
    )
    assert [r.path for r in mock.requests] == ["/v1/models", "/models"]


async def test_chat_completion_over_socket(nursery: trio.Nursery) -> None:
    """A non-stream chat echoes the last user message with usage 10/20/30 and is recorded."""
    mock = MockUpstream()
    base_url = await nursery.start(serve_mock_upstream, mock)
    payload = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ],
    }
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
            response = await client.post("/chat/completions?x=1", json=payload)
    assert response.status_code == 200
    assert response.json() == {
        "id": "chatcmpl-mock-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Mock response to: second"},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
    (request,) = mock.requests
    assert (request.method, request.path, request.query) == ("POST", "/v1/chat/completions", "x=1")
    assert request.json == payload
    assert request.header("Content-Type") == "application/json"


@pytest.mark.parametrize(
    ("step", "error"), [(Reset(), httpx.ReadError), (Close(), httpx.RemoteProtocolError)]
)
async def test_hang_up_over_socket(
    nursery: trio.Nursery, step: Reset | Close, error: type[Exception]
) -> None:
    """Mid-body, Reset aborts the socket (RST: ReadError) and Close ends it (FIN: truncated)."""
    mock = MockUpstream()
    mock.script(Reply(body=(b"partial", Sleep(0.05), step)))
    base_url = await nursery.start(serve_mock_upstream, mock)
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
            with pytest.raises(error):
                await client.post("/chat/completions", json=CHAT)
        await mock.wait_closed()
    assert mock.connections[0].closed_by == "server"


async def test_client_close_seen_at_socket(nursery: trio.Nursery) -> None:
    """Closing an unfinished response closes the TCP connection; the mock records it at once."""
    mock = MockUpstream()
    mock.script(Reply(body=(b"data: x\n\n", Silence())))
    base_url = await nursery.start(serve_mock_upstream, mock)
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=base_url, trust_env=False) as client:
            async with client.stream("POST", "/chat/completions", json=CHAT) as response:
                assert response.status_code == 200  # headers in; the body never ends
                leaving_at = trio.current_time()
            closed_at = await mock.wait_closed()
    # The body never ends (Silence), so the close is the client's: at or after it left (the
    # fail_after above bounds the wait; no wall-clock bound on how soon).
    assert mock.connections[0].closed_by == "client"
    assert leaving_at <= closed_at
    assert mock.open_connections() == 0


# -- in memory, virtual time --


async def test_stream_without_usage(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A stream is a role chunk, 5-character content chunks, a stop chunk and [DONE]; no usage."""
    mock = MockUpstream()
    async with memory_client(mock, nursery) as client:
        response = await client.post("/chat/completions", json={**CHAT, "stream": True})
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["transfer-encoding"] == "chunked"
    *data, done = sse_payloads(response.text)
    assert done == "[DONE]"
    chunks = [orjson.loads(d) for d in data]
    assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    pieces = [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]]
    assert pieces[:2] == ["Mock ", "respo"]
    assert "".join(pieces) == "Mock response to: hello there"
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}


async def test_stream_with_usage(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """stream_options.include_usage adds a final chunk with empty choices and usage 10/20/30."""
    mock = MockUpstream()
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with memory_client(mock, nursery) as client:
        response = await client.post("/chat/completions", json=body)
    *data, done = sse_payloads(response.text)
    usage_chunk = orjson.loads(data[-1])
    assert (done, usage_chunk["choices"], usage_chunk["usage"]) == ("[DONE]", [], USAGE)
    assert orjson.loads(data[-2])["choices"][0]["finish_reason"] == "stop"


async def test_stream_gap_is_virtual_time(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """stream_gap separates consecutive chunks by exactly that much virtual time."""
    mock = MockUpstream(stream_gap=0.5)
    arrivals: list[tuple[float, str]] = []
    async with memory_client(mock, nursery) as client:
        body = {**CHAT, "stream": True}
        async with client.stream("POST", "/chat/completions", json=body) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    arrivals.append((trio.current_time(), line))
    events = len(arrivals) - 1  # all but [DONE]
    assert [t for t, _ in arrivals] == [0.5 * i for i in range(events)] + [0.5 * (events - 1)]


async def test_scripted_sleeps_exact(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """headers_delay and Sleep steps put each part of the body at an exact virtual time."""
    mock = MockUpstream()
    body = (b"a", Sleep(2.5), b"b", Sleep(1.0), b"c")
    mock.script(Reply(headers=(("content-type", "text/plain"),), body=body, headers_delay=4.0))
    seen: list[tuple[float, bytes]] = []
    async with (
        memory_client(mock, nursery) as client,
        client.stream("GET", "/anything") as response,
    ):
        headers_at = trio.current_time()
        async for chunk in response.aiter_raw():
            seen.append((trio.current_time(), chunk))
    assert headers_at == 4.0
    assert seen == [(4.0, b"a"), (6.5, b"b"), (7.5, b"c")]


async def test_close_step_truncates(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Close cuts the chunked body: httpx raises RemoteProtocolError, the server closed it."""
    mock = MockUpstream()
    mock.script(Reply.sse([{"n": 1}, Sleep(1.0), Close(), {"n": 2}]))
    async with memory_client(mock, nursery) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/chat/completions", json=CHAT)
    assert (mock.connections[0].closed_at, mock.connections[0].closed_by) == (1.0, "server")


async def test_unanswered_request_client_gives_up(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """headers_delay=inf never answers; the client's cancel closes the connection at that time."""
    mock = MockUpstream()
    mock.script(Reply(headers_delay=math.inf))
    async with memory_client(mock, nursery) as client:
        with trio.move_on_after(3.0) as scope:
            await client.post("/chat/completions", json=CHAT)
        assert scope.cancelled_caught
        with trio.fail_after(60):  # virtual: a mock that misses the close fails, not hangs
            assert await mock.wait_closed() == 3.0
    assert mock.connections[0].closed_by == "client"
    assert mock.open_connections() == 0


async def test_cancel_mid_stream(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A client cancelled mid-stream is seen closing at exactly the virtual cancel time."""
    mock = MockUpstream(stream_gap=1.0)
    lines: list[str] = []
    async with memory_client(mock, nursery) as client:
        with trio.move_on_after(2.5):
            body = {**CHAT, "stream": True}
            async with client.stream("POST", "/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    lines += [line] if line else []
        with trio.fail_after(60):
            assert await mock.wait_closed() == 2.5
    assert mock.connections[0].closed_by == "client"
    assert len(lines) == 3  # chunks sent at t=0, 1 and 2


async def test_keep_alive_reuses_connection(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Two requests in a row travel on one kept-alive connection."""
    mock = MockUpstream()
    async with memory_client(mock, nursery) as client:
        first = await client.post("/chat/completions", json=CHAT)
        await trio.sleep(1.0)
        second = await client.get("/models")
        assert mock.open_connections() == 1
    assert (first.json()["id"], second.status_code) == ("chatcmpl-mock-1", 200)
    assert len(mock.connections) == 1
    assert mock.connections[0].requests == 2
    assert [r.connection_id for r in mock.requests] == [0, 0]
    assert [r.received_at for r in mock.requests] == [0.0, 1.0]


async def test_require_key(autojump_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    """Without the right bearer key the mock answers 401 and keeps the script for later."""
    mock = MockUpstream(require_key="sk-good")
    mock.script(Reply.json({"scripted": True}))
    async with memory_client(mock, nursery) as client:
        refused = await client.get("/models", headers={"Authorization": "Bearer sk-bad"})
        accepted = await client.get("/models", headers={"Authorization": "Bearer sk-good"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert accepted.json() == {"scripted": True}


async def test_html_reply(autojump_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    """Reply.html gives an HTML error page with a Content-Length, as a load balancer would."""
    mock = MockUpstream()
    mock.script(Reply.html(502, "<html><body>Bad Gateway</body></html>"))
    async with memory_client(mock, nursery) as client:
        response = await client.post("/chat/completions", json=CHAT)
    assert (response.status_code, response.reason_phrase) == (502, "Bad Gateway")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == str(len(response.content))
    assert "transfer-encoding" not in response.headers
    assert response.text == "<html><body>Bad Gateway</body></html>"


async def test_openai_errors(autojump_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    """A body that is not JSON gets 400 and an unknown path 404, both in the OpenAI envelope."""
    mock = MockUpstream()
    async with memory_client(mock, nursery) as client:
        bad_json = await client.post("/chat/completions", content=b"{nope")
        unknown = await client.post("/embeddings", json={})
    assert bad_json.status_code == 400
    assert set(bad_json.json()["error"]) == {"message", "type", "param", "code"}
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert mock.requests[0].json is None
    assert mock.requests[0].body == b"{nope"


async def test_scripts_fifo_by_path(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """Scripts are one-shot, first in first out, among those whose path suffix matches."""
    mock = MockUpstream()
    mock.script(Reply.json("chat"), path="/chat/completions")
    mock.script(Reply.json("any"))
    async with memory_client(mock, nursery) as client:
        models = await client.get("/models")
        chat = await client.post("/chat/completions", json=CHAT)
        default = await client.post("/chat/completions", json=CHAT)
    assert (models.json(), chat.json()) == ("any", "chat")
    assert default.json()["object"] == "chat.completion"


async def test_connect_delay(autojump_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    """connect_delay honours httpx's connect timeout; a connect cancelled early leaves no record."""
    mock = MockUpstream()
    async with memory_client(mock, nursery, connect_delay=4.0) as client:
        with trio.move_on_after(2.0):
            await client.get("/models")
        assert mock.connections == []
        with pytest.raises(httpx.ConnectTimeout):
            await client.get("/models", timeout=httpx.Timeout(10.0, connect=1.0))
        assert trio.current_time() == 3.0
        response = await client.get("/models")
    assert response.status_code == 200
    assert mock.connections[0].opened_at == 7.0


async def test_unparseable_bytes_closed_by_server(autojump_clock: trio.testing.MockClock) -> None:
    """serve_connection works on any trio stream and hangs up on bytes that are not HTTP."""
    mock = MockUpstream()
    client, server = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(mock.serve_connection, server)
        await client.send_all(b"NOT HTTP AT ALL\r\n\r\n")
        assert await client.receive_some() == b""
    assert mock.connections[0].closed_by == "server"
    assert mock.requests == []


async def test_connection_close_header(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """A reply with Connection: close ends its connection (server side); the next one is new."""
    mock = MockUpstream()
    mock.script(Reply.json({"bye": True}, headers=[("connection", "close")]))
    async with memory_client(mock, nursery) as client:
        first = await client.get("/models")
        second = await client.get("/models")
    assert (first.json(), second.status_code) == ({"bye": True}, 200)
    assert [(c.closed_by, c.requests) for c in mock.connections] == [("server", 1), ("client", 1)]


async def test_error_reply(autojump_clock: trio.testing.MockClock, nursery: trio.Nursery) -> None:
    """Reply.error builds the OpenAI envelope with extra headers, typed by status by default."""
    mock = MockUpstream()
    mock.script(
        Reply.error(429, "slow down", code="rate_limit_exceeded", headers=[("retry-after", "2")])
    )
    mock.script(Reply.error(503, "overloaded"))
    async with memory_client(mock, nursery) as client:
        limited = await client.get("/models")
        down = await client.get("/models")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert limited.json() == {
        "error": {
            "message": "slow down",
            "type": "invalid_request_error",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert (down.status_code, down.json()["error"]["type"]) == (503, "server_error")
