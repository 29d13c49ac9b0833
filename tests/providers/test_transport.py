"""The upstream transport (gomodel.providers.transport): its pool and its HTTP/1.1 exchange.

The pool runs in memory against the mock upstream under ``autojump_clock``: "closed at once"
is an exact virtual time, asserted at the provider's end. The last tests use loopback sockets
and the default TCP connector (the fd fast path) against a raw server (loopback.py), the
keep-alive race among them (a reused connection that dies before the answer is retried once).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path

import httpx
import openai
import orjson
import pytest
import trio
from trio.testing import MockClock

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.providers.links import Link, tcp_connector
from gomodel.providers.transport import UpstreamTransport
from gomodel.serve import serve_gateway
from gomodel.testing import (
    Close,
    MemoryConnector,
    MockUpstream,
    Reply,
    Reset,
    Silence,
    Sleep,
    memory_transport,
)
from gomodel.usage.record import MemoryUsageSink
from tests.providers.loopback import OK, Peer, answer, keep_answering, serve

URL = "http://upstream.test/v1"
TEXT = (("content-type", "text/plain"),)
GUARD = 60.0  # every wait not under test ends after a (virtual) minute: a hang fails the test


def client_for(transport: UpstreamTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, base_url=URL, timeout=GUARD)


def get(url: str, **timeouts: float | None) -> httpx.Request:
    timeout = {"pool": GUARD, "connect": GUARD, "read": GUARD, "write": GUARD, **timeouts}
    return httpx.Request("GET", url, extensions={"timeout": timeout})


async def fetch(transport: UpstreamTransport, url: str, **timeouts: float | None) -> bytes:
    response = await transport.handle_async_request(get(url, **timeouts))
    return await response.aread()


async def closed_at(mock: MockUpstream, index: int) -> float:
    """When the mock saw connection ``index`` close (a close that never comes fails)."""
    with trio.fail_after(GUARD):
        return await mock.wait_closed(index)


def closes(mock: MockUpstream) -> list[tuple[float | None, str | None]]:
    return [(c.closed_at, c.closed_by) for c in mock.connections]


# -- the pool, in memory -----------------------------------------------------------------------


async def test_reuse_one_connection(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """A response read to its end returns its connection; the next request reuses it."""
    mock = MockUpstream()
    transport = memory_transport(mock, nursery)
    async with client_for(transport) as client:
        for _ in range(3):
            assert (await client.get("/models")).status_code == 200
            assert transport.busy_connections == 0
    await closed_at(mock, 0)
    assert [(c.requests, c.closed_by) for c in mock.connections] == [(3, "client")]


@pytest.mark.parametrize(("a_takes", "b_takes"), [(1.0, 2.0), (2.0, 1.0)])
async def test_the_connection_returned_last_is_used_first(
    autojump_clock: MockClock, nursery: trio.Nursery, a_takes: float, b_takes: float
) -> None:
    """LIFO: after two concurrent requests the next one gets the connection freed last (the
    least likely to have been dropped by the provider as idle); the other stays open."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"a", Sleep(a_takes))), path="/a")
    mock.script(Reply(headers=TEXT, body=(b"b", Sleep(b_takes))), path="/b")
    async with client_for(memory_transport(mock, nursery)) as client:
        async with trio.open_nursery() as both:
            both.start_soon(client.get, "/a")
            both.start_soon(client.get, "/b")
        await client.get("/models")
        assert mock.open_connections() == 2
    on = {r.path: r.connection_id for r in mock.requests}
    assert on["/v1/models"] == on["/v1/a" if a_takes > b_takes else "/v1/b"]


async def test_unread_body_closes(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """A response closed before its body was read to the end (even one fully sent) cannot
    carry another request: its connection is closed at once and the next request opens one."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"x" * 1000, b"y" * 1000)))
    transport = memory_transport(mock, nursery)
    async with client_for(transport) as client:
        async with client.stream("GET", "/big") as response:
            assert response.status_code == 200
            await trio.sleep(1.0)
        assert await closed_at(mock, 0) == 1.0
        assert transport.busy_connections == 0
        assert (await client.get("/models")).status_code == 200
    assert [r.connection_id for r in mock.requests] == [0, 1]
    assert mock.connections[0].closed_by == "client"


@pytest.mark.parametrize("read_timeout", [None, 3.0])
async def test_giving_up_on_the_head_closes_at_once(
    autojump_clock: MockClock, nursery: trio.Nursery, read_timeout: float | None
) -> None:
    """A request cancelled (or past its read timeout: httpx.ReadTimeout) before the provider
    answered closes its connection that instant: the provider's only signal to stop."""
    mock = MockUpstream()
    mock.script(Reply(headers_delay=math.inf))
    transport = memory_transport(mock, nursery)
    raises = pytest.raises(httpx.ReadTimeout) if read_timeout else contextlib.nullcontext()
    with trio.move_on_after(3.0 if read_timeout is None else 60.0), raises:
        await transport.handle_async_request(get(URL, read=read_timeout))
    assert trio.current_time() == 3.0
    assert await closed_at(mock, 0) == 3.0
    assert mock.connections[0].closed_by == "client"
    assert transport.busy_connections == 0


async def test_waiter_gets_connection(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """max_connections=1: a second concurrent request waits, then rides the same connection
    the moment the first response ends."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"first", Sleep(2.0))), path="/slow")
    transport = memory_transport(mock, nursery, max_connections=1)
    async with client_for(transport) as client, trio.open_nursery() as both:
        both.start_soon(client.get, "/slow")
        await trio.sleep(0.5)
        assert (await client.get("/models")).status_code == 200
    assert [(r.connection_id, r.received_at) for r in mock.requests] == [(0, 0.0), (0, 2.0)]
    assert len(mock.connections) == 1


async def test_pool_timeout(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """No slot within the pool timeout: httpx.PoolTimeout at exactly that time; the pool works
    again once the busy connection is let go."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"x", Silence())))
    transport = memory_transport(mock, nursery, max_connections=1)
    busy = await transport.handle_async_request(get(URL + "/stream"))
    with pytest.raises(httpx.PoolTimeout):
        await transport.handle_async_request(get(URL + "/models", pool=1.0))
    assert (trio.current_time(), len(mock.connections)) == (1.0, 1)
    await busy.aclose()
    assert b'"object":"list"' in await fetch(transport, URL + "/models", pool=1.0)
    assert closes(mock) == [(1.0, "client"), (None, None)]


async def test_cancelled_waiter_no_leak(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """A request cancelled while waiting for a slot leaves the line: the connection released
    later goes back to the pool, not to the departed waiter, and serves the next request."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"x", Sleep(5.0))), path="/slow")
    transport = memory_transport(mock, nursery, max_connections=1)
    async with client_for(transport) as client, trio.open_nursery() as both:
        both.start_soon(client.get, "/slow")
        await trio.sleep(0.5)
        with trio.move_on_after(1.0):
            await client.get("/models")
        await trio.sleep(5.0)
        assert transport.busy_connections == 0
        with trio.fail_after(1.0):
            assert (await client.get("/models")).status_code == 200
    assert [r.connection_id for r in mock.requests] == [0, 0]


async def test_freed_slot_goes_to_waiter(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """FIFO: a slot freed by a closed connection belongs to the request already waiting, not
    to one arriving that instant; the waiter gets through within its pool timeout."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"a", Silence())), path="/a")
    mock.script(Reply(headers=TEXT, body=(b"c", Sleep(10.0))), path="/c")
    transport = memory_transport(mock, nursery, max_connections=1)
    outcome: list[object] = []

    async def waiter() -> None:
        try:
            await fetch(transport, URL + "/b", pool=1.0)
            outcome.append(trio.current_time())
        except httpx.PoolTimeout:
            outcome.append(f"PoolTimeout at {trio.current_time()}")

    first = await transport.handle_async_request(get(URL + "/a"))
    nursery.start_soon(waiter)
    await trio.sleep(0.5)
    await first.aclose()  # frees the only slot while /b waits, and /c arrives:
    await fetch(transport, URL + "/c")
    await trio.sleep(1.0)
    assert outcome == [0.5]


async def test_other_origin_waiter(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """A connection released while the first waiter wants another origin is closed, and its
    slot lets that waiter connect at once."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"one", Sleep(2.0))), path="/one")
    transport = memory_transport(mock, nursery, max_connections=1)
    async with httpx.AsyncClient(transport=transport, timeout=GUARD) as client:
        async with trio.open_nursery() as both:
            both.start_soon(client.get, "http://one.test/one")
            await trio.sleep(0.5)
            assert (await client.get("http://two.test/models")).status_code == 200
        assert closes(mock) == [(2.0, "client"), (None, None)]
    assert [r.connection_id for r in mock.requests] == [0, 1]


async def test_keepalive_expiry(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """An idle connection older than keepalive_expiry is closed, not reused."""
    mock = MockUpstream()
    transport = UpstreamTransport(connector=MemoryConnector(mock, nursery), keepalive_expiry=5.0)
    async with client_for(transport) as client:
        await client.get("/models")
        await trio.sleep(4.0)
        await client.get("/models")  # idle 4 s: reused
        await trio.sleep(6.0)
        await client.get("/models")  # idle 6 s: expired
        assert closes(mock) == [(10.0, "client"), (None, None)]
    assert [r.connection_id for r in mock.requests] == [0, 0, 1]


async def test_connect_timeout(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """A connect slower than the connect timeout is httpx.ConnectTimeout; its slot is free."""
    mock = MockUpstream()
    transport = memory_transport(mock, nursery, connect_delay=5.0, max_connections=1)
    with pytest.raises(httpx.ConnectTimeout):
        await transport.handle_async_request(get(URL + "/models", connect=1.0))
    assert (trio.current_time(), mock.connections, transport.busy_connections) == (1.0, [], 0)
    assert b'"object":"list"' in await fetch(transport, URL + "/models", pool=0.5)
    assert trio.current_time() == 6.0


@pytest.mark.parametrize("chunked", [True, False])
@pytest.mark.parametrize("step", [Close(), Reset()])
async def test_hang_up_mid_body(
    autojump_clock: MockClock, nursery: trio.Nursery, step: Close | Reset, chunked: bool
) -> None:
    """A body cut short is an error (never a short body taken as whole); the connection is
    gone and the next request opens a new one."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"partial", Sleep(1.0), step, b"rest"), chunked=chunked))
    transport = memory_transport(mock, nursery)
    async with client_for(transport) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            await client.get("/truncated")
        assert transport.busy_connections == 0
        assert (await client.get("/models")).status_code == 200
    assert closes(mock)[0] == (1.0, "server")
    assert [r.connection_id for r in mock.requests] == [0, 1]


async def test_head_and_204_have_no_body(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """HEAD (with the GET's Content-Length) and 204 end at their head; the connection is
    reused."""
    mock = MockUpstream()
    mock.script(Reply.json({"a": 1}))
    mock.script(Reply(204, headers=(("content-length", "5"),), chunked=False))
    async with client_for(memory_transport(mock, nursery)) as client:
        head = await client.head("/models")  # a body awaited would be a ReadTimeout
        empty = await client.delete("/thing")
        after = await client.get("/models")
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "7", b"")
    assert (empty.status_code, empty.content, after.status_code) == (204, b"", 200)
    assert [c.requests for c in mock.connections] == [3]


async def test_aclose_closes_idle(autojump_clock: MockClock, nursery: trio.Nursery) -> None:
    """Closing the transport closes its idle connections at once; one busy at that moment is
    closed when its response ends instead of going back to a closed pool."""
    mock = MockUpstream()
    mock.script(Reply(headers=TEXT, body=(b"x", Sleep(3.0))), path="/slow")
    transport = memory_transport(mock, nursery)
    slow = await transport.handle_async_request(get(URL + "/slow"))
    async with trio.open_nursery() as both:
        for _ in range(2):
            both.start_soon(fetch, transport, URL + "/models")
    await trio.sleep(1.0)
    await transport.aclose()
    assert [await closed_at(mock, i) for i in (1, 2)] == [1.0, 1.0]
    await slow.aread()
    assert await closed_at(mock, 0) == 3.0
    assert closes(mock) == [(3.0, "client"), (1.0, "client"), (1.0, "client")]


# -- real loopback sockets, the default TCP connector ------------------------------------------


async def test_request_bytes_over_socket(nursery: trio.Nursery) -> None:
    """The request goes out as built (a streamed body whole, with its length), and a body
    larger than the socket buffer arrives whole."""
    seen: list[bytes] = []

    async def streamed() -> AsyncIterator[bytes]:
        yield b"hel"
        yield b"lo"

    url, peers = await serve(nursery, partial(keep_answering, seen=seen))
    big = bytes(range(256)) * 32 * 1024  # 8 MiB
    with trio.fail_after(30):
        async with UpstreamTransport() as transport:
            for body in (streamed(), big):
                request = httpx.Request("POST", f"{url}/v/e?x", headers={"X-A": "b"}, content=body)
                response = await transport.handle_async_request(request)
                assert (response.status_code, await response.aread()) == (200, b"ok")
    host = url.removeprefix("http://").encode()
    assert (
        seen[0]
        == b"POST /v/e?x HTTP/1.1\r\nHost: %s\r\nX-A: b\r\nContent-Length: 5\r\n\r\nhello" % host
    )
    assert seen[1].endswith(b"\r\nContent-Length: 8388608\r\n\r\n" + big)
    assert len(peers) == 1


async def test_responses_split_into_small_sends(nursery: trio.Nursery) -> None:
    """Heads and bodies (by length, chunked, after 1xx answers) cut into tiny sends come out
    whole, one after another on one connection."""
    chunked = b"5;x=y\r\nhello\r\nB\r\n, chunked!!\r\n0\r\nX-T: 1\r\n\r\n"
    replies = [
        answer(b"0123456789" * 10, b"Content-Length: 100"),
        answer(chunked, b"Transfer-Encoding: chunked"),
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK,
    ]

    async def handler(peer: Peer) -> None:
        for reply in replies:
            await peer.request()
            await peer.send(reply, piece=3)
        await keep_answering(peer)

    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with httpx.AsyncClient(transport=UpstreamTransport(), base_url=url) as client:
            bodies = [(await client.get("/")).content for _ in replies]
            last = await client.get("/")
    assert bodies == [b"0123456789" * 10, b"hello, chunked!!", b"ok"]
    assert (last.status_code, last.content, "link" in last.headers) == (200, b"ok", False)
    assert len(peers) == 1


async def test_close_and_close_delimited_answers(nursery: trio.Nursery) -> None:
    """``Connection: close``, and a body without framing (ended by the close), are read whole;
    the next request opens a new connection instead of writing to a dead one."""
    replies = [answer(b"bye", b"Content-Length: 3", b"Connection: close"), answer(b"to the end")]

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(replies[len(peers) - 1], piece=4)  # then the server closes

    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with httpx.AsyncClient(transport=UpstreamTransport(), base_url=url) as client:
            bodies = [(await client.get("/")).content for _ in range(2)]
    assert (bodies, len(peers)) == ([b"bye", b"to the end"], 2)


async def test_idle_connection_closed_by_server_is_not_reused(nursery: trio.Nursery) -> None:
    """A provider drops an idle kept-alive connection (its own keep-alive timeout): the next
    request notices before writing to it, connects again and succeeds."""
    links: list[Link] = []
    connect = tcp_connector()

    async def recording_connector(host: str, port: int, *, tls: bool) -> Link:
        links.append(await connect(host, port, tls=tls))
        return links[-1]

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(OK)  # keep-alive as far as the client knows; then the server closes

    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with UpstreamTransport(connector=recording_connector) as transport:
            assert await fetch(transport, url) == b"ok"
            while not links[0].peer_closed():  # noqa: ASYNC110 (until the FIN is in)
                await trio.sleep(0.01)
            assert await fetch(transport, url) == b"ok"
    assert len(peers) == 2


@pytest.mark.parametrize(
    ("partial_reply", "error"),
    [(b"", httpx.RemoteProtocolError), (answer(b"part", b"Content-Length: 9"), httpx.ReadError)],
)
async def test_hang_up_over_socket(
    nursery: trio.Nursery, partial_reply: bytes, error: type[Exception]
) -> None:
    """A server closing before any answer (RemoteProtocolError), or resetting mid-body
    (ReadError); either way the connection is gone and the pool carries on."""

    async def handler(peer: Peer) -> None:
        if len(peers) > 1:
            return await keep_answering(peer)
        await peer.request()
        if partial_reply:
            await peer.send(partial_reply)
            await reset.wait()
            return await peer.reset()
        return await peer.stream.aclose()

    async def exchange() -> None:
        response = await transport.handle_async_request(get(url))
        reset.set()  # the head is in: now the reset
        await response.aread()

    reset = trio.Event()
    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with UpstreamTransport() as transport:
            with pytest.raises(error):
                await exchange()
            assert transport.busy_connections == 0
            assert await fetch(transport, url) == b"ok"
    assert len(peers) == 2


async def test_connection_refused() -> None:
    """Nothing listening is httpx.ConnectError, and the failed connect holds no slot."""
    [listener] = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # the port is now closed
    with trio.fail_after(30):
        async with UpstreamTransport(max_connections=1) as transport:
            for _ in range(2):
                with pytest.raises(httpx.ConnectError):
                    await transport.handle_async_request(get(f"http://127.0.0.1:{port}/", pool=1))
            assert transport.busy_connections == 0


# -- the keep-alive race: a reused connection that dies before the answer ----------------------


def _stale_on_second_request(
    how: str,
) -> tuple[list[bytes], Callable[[Peer], Awaitable[None]]]:
    """A server whose first connection answers one request and then, with the next request
    already on its way, hangs up (``close``: FIN; ``reset``: RST; ``partial``: after the start
    of a status line). Later connections answer everything. Returns the requests it read."""
    seen: list[bytes] = []
    connections = 0

    async def handler(peer: Peer) -> None:
        nonlocal connections
        connections += 1
        if connections > 1:
            return await keep_answering(peer, seen)
        seen.append(await peer.request())
        await peer.send(OK)
        await peer.request()  # read (the race: it was already in the kernel's buffer) ...
        if how == "reset":
            return await peer.reset()
        if how == "partial":
            await peer.send(b"HTTP/1.1 200 OK\r\n")
        return await peer.stream.aclose()  # ... and never answered

    return seen, handler


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_reused_connection_dying_before_the_answer_is_retried_once(
    nursery: trio.Nursery, how: str
) -> None:
    """The provider drops a kept-alive connection just as the next request goes out on it:
    nothing of an answer arrived, so the request is sent again on a new connection and
    succeeds (before: a 502 for the client)."""
    seen, handler = _stale_on_second_request(how)
    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with UpstreamTransport() as transport:
            assert await fetch(transport, url) == b"ok"
            assert await fetch(transport, url) == b"ok"
            assert transport.busy_connections == 0
    assert len(peers) == 2
    assert len(seen) == 2  # the first answer on connection 1, the retried request on 2


async def test_no_retry_after_the_first_response_byte(nursery: trio.Nursery) -> None:
    """Part of a status line arrived: the provider's application saw the request, so it is
    never sent again; the client gets the error."""
    _, handler = _stale_on_second_request("partial")
    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with UpstreamTransport() as transport:
            assert await fetch(transport, url) == b"ok"
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(transport, url)
            assert transport.busy_connections == 0
    assert len(peers) == 1


async def test_a_retry_that_fails_too_is_not_retried_again(nursery: trio.Nursery) -> None:
    """The fresh connection of the retry closes without an answer as well: that error is the
    client's (no loop, two connections in all)."""

    async def handler(peer: Peer) -> None:
        if len(peers) == 1:
            await peer.request()
            await peer.send(OK)
        await peer.request()
        await peer.stream.aclose()

    url, peers = await serve(nursery, handler)
    with trio.fail_after(30):
        async with UpstreamTransport() as transport:
            assert await fetch(transport, url) == b"ok"
            with pytest.raises(httpx.RemoteProtocolError):
                await fetch(transport, url)
    assert len(peers) == 2


async def test_read_timeout_on_a_reused_connection_is_not_retried(
    autojump_clock: MockClock, nursery: trio.Nursery
) -> None:
    """A provider that is slow to answer got the request: a read timeout is never a reason to
    send it again."""
    mock = MockUpstream()
    transport = memory_transport(mock, nursery)
    assert b'"object":"list"' in await fetch(transport, URL + "/models")
    mock.script(Reply(headers_delay=math.inf))
    with pytest.raises(httpx.ReadTimeout):
        await fetch(transport, URL + "/models", read=3.0)
    assert trio.current_time() == 3.0
    assert [r.connection_id for r in mock.requests] == [0, 0]


async def test_the_client_never_sees_the_keep_alive_race(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """End to end: the provider drops the connection the gateway kept from its model-list
    request just as a chat request goes out on it; the SDK gets its answer, not a 502."""
    models = orjson.dumps({"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
    chat = orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "fresh"},
                    "finish_reason": "stop",
                }
            ],
        }
    )

    async def handler(peer: Peer) -> None:
        if len(peers) == 1:
            await peer.request()
            await peer.send(answer(models, b"Content-Length: %d" % len(models)))
            await peer.request()  # the chat request, on the kept connection: dropped
            return await peer.stream.aclose()
        while await peer.request():
            await peer.send(answer(chat, b"Content-Length: %d" % len(chat)))

    url, peers = await serve(nursery, handler)
    env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": url + "/v1", "GOMODEL_MASTER_KEY": "mk"}
    app = GatewayApp(load_config(env, cwd=tmp_path), usage=MemoryUsageSink())
    gateway = await nursery.start(serve_gateway, app)
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    with trio.fail_after(30):
        async with openai.AsyncOpenAI(base_url=gateway + "/v1", api_key="mk", max_retries=0) as sdk:
            done = await sdk.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
    assert done.choices[0].message.content == "fresh"
    assert len(peers) == 2
