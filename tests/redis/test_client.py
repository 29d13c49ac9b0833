"""The trio Redis client: replies reach their callers over one shared connection, cancellation
never desynchronises it, every call is bounded by the timeout (unreachable, stalled, silent
handshake), and it heals by reconnecting. Real Redis where Redis can show it; a scripted fake
server on loopback for the failures; virtual time (MockClock) for every bound."""

from __future__ import annotations

import random
import secrets
import ssl
from functools import partial
from typing import Any

import attrs
import pytest
import trio
import trio.testing
import trustme

from gomodel.errors import RedisReplyError, RedisUnavailable
from gomodel.redis import RedisSettings, Script, open_redis
from tests.redis.fake import echo, serve_fake
from tests.redis.live import live_prefix

# Virtual time jumps only after the process has been idle this long in real time, so loopback
# I/O (connect, a reply from the fake server) completes before the clock moves.
IDLE = 0.1


def fake_settings(port: int, **kw: Any) -> RedisSettings:
    return attrs.evolve(RedisSettings(host="127.0.0.1", port=port, timeout=0.5), **kw)


async def test_commands_replies_and_error_replies() -> None:
    """Replies come back as values; an error reply raises RedisReplyError with its code and
    leaves the connection usable."""
    async with live_prefix() as (client, prefix):
        assert await client.execute("SET", prefix + "s", "v") == b"OK"
        assert await client.execute("GET", prefix + "s") == b"v"
        assert await client.execute("GET", prefix + "missing") is None
        assert await client.execute("RPUSH", prefix + "l", 1, 2) == 2
        with pytest.raises(RedisReplyError) as info:
            await client.execute("INCR", prefix + "l")
        assert info.value.code == "WRONGTYPE"
        assert await client.execute("LRANGE", prefix + "l", 0, -1) == [b"1", b"2"]
        assert client.statistics().connects == 1


@pytest.mark.parametrize("parser", ["hiredis", "python"])
async def test_concurrent_callers_share_one_connection(parser: str) -> None:
    """300 concurrent callers each get their own reply, over one connection."""
    async with open_redis(live_settings(parser=parser)) as shared:
        got: dict[int, object] = {}

        async def one(i: int) -> None:
            got[i] = await shared.execute("ECHO", f"caller {i}")

        async with trio.open_nursery() as nursery:
            for i in range(300):
                nursery.start_soon(one, i)
        assert got == {i: f"caller {i}".encode() for i in range(300)}
        assert shared.statistics().connects == 1
        assert shared.statistics().waiting == 0


def live_settings(**kw: object) -> RedisSettings:
    from tests.redis.live import settings

    return settings(**kw)


async def test_cancelled_callers_do_not_desynchronise_the_stream() -> None:
    """Callers cancelled at random points of their calls leave every other caller's reply
    intact, and the connection keeps going: the late replies are read and dropped."""
    rng = random.Random(14)
    async with live_prefix() as (client, prefix):
        results: dict[int, object] = {}

        async def one(i: int, cancel_after: int) -> None:
            with trio.CancelScope() as scope:
                scopes.append((cancel_after, scope))
                results[i] = await client.execute("ECHO", f"{prefix}{i}")

        for _ in range(5):
            scopes: list[tuple[int, trio.CancelScope]] = []
            results.clear()
            async with trio.open_nursery() as nursery:
                for i in range(100):
                    nursery.start_soon(one, i, rng.randrange(4))
                for step in range(4):
                    await trio.lowlevel.checkpoint()
                    for cancel_after, scope in scopes:
                        if cancel_after == step:
                            scope.cancel()
            assert all(results[i] == f"{prefix}{i}".encode() for i in results)
        assert await client.execute("ECHO", "after") == b"after"
        assert client.statistics().connects == 1


async def test_reply_of_a_cancelled_call_goes_to_nobody() -> None:
    """The server holds the reply to a call whose caller was cancelled; when both replies come,
    the next caller gets its own, not the cancelled one's."""
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery)
        async with open_redis(fake_settings(fake.port, timeout=30)) as client:
            with trio.move_on_after(0.5):
                await client.execute("ECHO", "first")  # the fake says nothing: cancelled
            second: list[object] = []

            async def ask() -> None:
                second.append(await client.execute("ECHO", "second"))

            async with trio.open_nursery() as asking:
                asking.start_soon(ask)
                await fake.wait_commands(2)
                await fake.send(b"$5\r\nfirst\r\n$6\r\nsecond\r\n")
            assert second == [b"second"]
            assert client.statistics().connects == 1
        nursery.cancel_scope.cancel()


async def test_evalsha_loads_a_script_redis_does_not_know() -> None:
    """EVALSHA of a script Redis has not seen is answered NOSCRIPT; the client loads it and
    runs it within the same call, and later calls run it by SHA alone."""
    script = Script("t", f"-- {secrets.token_hex(8)}\nreturn {{KEYS[1], tonumber(ARGV[1]) + 1}}")
    async with live_prefix() as (client, prefix):
        assert await client.evalsha(script, [prefix + "k"], [41]) == [(prefix + "k").encode(), 42]
        assert client.statistics().script_loads == 1
        assert await client.evalsha(script, [prefix + "k"], [1]) == [(prefix + "k").encode(), 2]
        assert client.statistics().script_loads == 1
        with pytest.raises(RedisReplyError):
            await client.evalsha(Script("bad", "return redis.call('NOPE')"), [], [])


async def test_reconnects_after_the_server_drops_the_connection() -> None:
    """Killed by the server (CLIENT KILL), the connection fails the calls on it and the next
    call connects again."""
    async with open_redis(live_settings()) as admin, open_redis(live_settings()) as client:
        own = await client.execute("CLIENT", "ID")
        assert isinstance(own, int)
        await admin.execute("CLIENT", "KILL", "ID", own)
        answers: list[object] = []
        for _ in range(3):
            try:
                answers.append(await client.execute("PING"))
            except RedisUnavailable:
                answers.append("unavailable")
                await trio.sleep(0.1)  # past the backoff
        assert answers[-1] == b"PONG"
        assert client.statistics().connects == 2


async def test_unreachable_server_fails_at_once_then_backs_off(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A closed port fails the call at once; calls during the backoff fail without trying;
    after it the client tries again."""
    mock_clock.autojump_threshold = IDLE
    with trio.socket.socket() as probe:  # a port nobody listens on
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with open_redis(fake_settings(port, backoff_min=1.0)) as client:
        start = trio.current_time()
        with pytest.raises(RedisUnavailable, match="cannot connect"):
            await client.execute("PING")
        assert trio.current_time() - start < 0.5
        with pytest.raises(RedisUnavailable, match="next try in"):
            await client.execute("PING")
        assert client.statistics().connect_failures == 1
        await trio.sleep(1.0)
        with pytest.raises(RedisUnavailable, match="cannot connect"):
            await client.execute("PING")
        assert client.statistics().connect_failures == 2


async def test_stalled_server_fails_every_call_at_the_timeout(
    mock_clock: trio.testing.MockClock,
) -> None:
    """A server that accepts and never answers: 20 concurrent calls all fail with
    RedisUnavailable exactly at the 0.5 s timeout (virtual time), none later."""
    mock_clock.autojump_threshold = IDLE
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery)
        async with open_redis(fake_settings(fake.port)) as client:
            failed_at: list[float] = []

            async def one() -> None:
                with pytest.raises(RedisUnavailable, match="no reply"):
                    await client.execute("PING")
                failed_at.append(trio.current_time())

            start = trio.current_time()
            async with trio.open_nursery() as calls:
                for _ in range(20):
                    calls.start_soon(one)
            assert failed_at == [start + 0.5] * 20
            assert fake.connections == 1 and client.statistics().timeouts >= 1
            with pytest.raises(RedisUnavailable, match="next try in"):
                await client.execute("PING")  # backing off: no wait at all
            assert trio.current_time() == start + 0.5
        nursery.cancel_scope.cancel()


async def test_silent_handshake_is_bounded_too(mock_clock: trio.testing.MockClock) -> None:
    """A server that takes the connection but never answers AUTH: 10 calls waiting for that
    connection all fail at the timeout, and back off once for the outage (one backoff step,
    not one doubling per call)."""
    mock_clock.autojump_threshold = IDLE
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery)
        async with open_redis(fake_settings(fake.port, password="pw")) as client:
            start = trio.current_time()
            failed_at: list[float] = []

            async def one() -> None:
                with pytest.raises(RedisUnavailable, match="no reply"):
                    await client.execute("PING")
                failed_at.append(trio.current_time())

            async with trio.open_nursery() as calls:
                for _ in range(10):
                    calls.start_soon(one)
            assert failed_at == [start + 0.5] * 10
            assert fake.commands == [[b"AUTH", b"pw"]]
            await trio.sleep(0.05)  # backoff_min
            with pytest.raises(RedisUnavailable, match="no reply"):
                await client.execute("PING")  # a new attempt, not "next try in"
            assert fake.connections == 2
        nursery.cancel_scope.cancel()


async def test_auth_and_select_precede_the_first_command() -> None:
    """A new connection sends AUTH then SELECT before anything else; a refused AUTH is
    RedisUnavailable, not a reply error for the caller's command."""
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, echo)
        url = f"redis://app:pw@127.0.0.1:{fake.port}/3"
        async with open_redis(RedisSettings.from_url(url)) as client:
            assert await client.execute("ECHO", "x") == b"x"
        assert fake.commands == [[b"AUTH", b"app", b"pw"], [b"SELECT", b"3"], [b"ECHO", b"x"]]

        refuse = await serve_fake(nursery, lambda c: b"-WRONGPASS invalid username-password\r\n")
        async with open_redis(fake_settings(refuse.port, password="bad")) as client:
            with pytest.raises(RedisUnavailable, match="AUTH failed: WRONGPASS"):
                await client.execute("PING")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    "reply",
    [
        b"-LOADING Redis is loading the dataset in memory\r\n",
        b"-BUSY Redis is busy running a script\r\n",
        b"-READONLY You can't write against a read only replica.\r\n",
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
    ],
)
async def test_not_now_error_replies_are_unavailable(reply: bytes) -> None:
    """Error replies that mean "cannot serve now" raise RedisUnavailable (the caller's Redis-down
    policy applies), not RedisReplyError (a bug)."""
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: reply)
        async with open_redis(fake_settings(fake.port)) as client:
            with pytest.raises(RedisUnavailable, match=reply[1:8].decode()):
                await client.evalsha(Script("s", "return 1"), [], [])
        nursery.cancel_scope.cancel()


async def test_garbage_or_hang_up_drops_the_connection(mock_clock: trio.testing.MockClock) -> None:
    """Bytes that are not RESP2, or a server hanging up, fail the waiting call at once (not at
    the timeout) and the next call connects afresh."""
    mock_clock.autojump_threshold = IDLE
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: b"HTTP/1.1 400 Bad Request\r\n\r\n")
        async with open_redis(fake_settings(fake.port, backoff_min=0.01)) as client:
            start = trio.current_time()
            with pytest.raises(RedisUnavailable, match="protocol error"):
                await client.execute("PING")
            assert trio.current_time() == start
            with pytest.raises(RedisUnavailable):
                await client.execute("PING")
            assert client.statistics().connects == 2

        quiet = await serve_fake(nursery)
        async with open_redis(fake_settings(quiet.port)) as client:

            async def hang_up() -> None:
                await quiet.wait_commands(1)
                await quiet.hang_up()

            nursery.start_soon(hang_up)
            start = trio.current_time()
            with pytest.raises(RedisUnavailable, match="closed the connection"):
                await client.execute("PING")
            assert trio.current_time() == start
        nursery.cancel_scope.cancel()


async def test_rediss_speaks_tls() -> None:
    """rediss:// wraps the connection in TLS, verified against the given trust store; a server
    the client cannot verify is unavailable."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def handler(raw: trio.SocketStream) -> None:
        stream = trio.SSLStream(raw, server_context, server_side=True)
        try:
            data = b""
            while b"PING" not in data:
                data += await stream.receive_some(1024)
            await stream.send_all(b"+PONG\r\n")
            await stream.aclose()
        except trio.BrokenResourceError:
            pass  # the untrusting client gave up during the handshake

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        url = f"rediss://127.0.0.1:{port}"
        async with open_redis(RedisSettings.from_url(url), ssl_context=client_context) as client:
            assert await client.execute("PING") == b"PONG"
        async with open_redis(RedisSettings.from_url(url)) as untrusting:
            with pytest.raises(RedisUnavailable, match="cannot connect"):
                await untrusting.execute("PING")
        nursery.cancel_scope.cancel()
