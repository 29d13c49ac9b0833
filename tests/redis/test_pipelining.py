"""Calls sharing one connection: written together, answered in order, each with its own reply
or error; calls nobody waits for (``evalsha_detached``) get exactly one answer, within the
timeout, whatever happens to the connection."""

from __future__ import annotations

import secrets

import pytest
import trio
import trio.testing

from gomodel.errors import RedisReplyError, RedisUnavailable
from gomodel.redis import Script, open_redis
from tests.redis.fake import serve_fake
from tests.redis.live import live_prefix
from tests.redis.test_client import IDLE, fake_settings

Result = object  # a Reply, or the RedisError it stands for


def _answer(command: list[bytes]) -> bytes | None:
    """ECHO x -> x; FAIL x -> an error reply naming x; EVALSHA -> :1; anything else +OK."""
    name = command[0].upper()
    if name == b"ECHO":
        return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])
    if name == b"FAIL":
        return b"-ERR failed " + command[1] + b"\r\n"
    if name == b"EVALSHA":
        return b":1\r\n"
    return b"+OK\r\n"


async def test_calls_in_one_tick_keep_their_order_and_their_own_errors() -> None:
    """200 callers at once, every third one a command that fails: each gets its own reply or
    its own error, and the server saw the commands in the order they were made."""
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, _answer)
        async with open_redis(fake_settings(fake.port)) as client:
            await client.execute("PING")  # connected: the calls below submit without waiting
            made: list[bytes] = []
            got: dict[int, object] = {}

            async def one(i: int) -> None:
                name = "FAIL" if i % 3 == 0 else "ECHO"
                made.append(f"{name} {i}".encode())
                try:
                    got[i] = await client.execute(name, str(i))
                except RedisReplyError as exc:
                    got[i] = exc.message

            async with trio.open_nursery() as calls:
                for i in range(200):
                    calls.start_soon(one, i)
            assert got == {
                i: f"ERR failed {i}" if i % 3 == 0 else str(i).encode() for i in range(200)
            }
            assert [b" ".join(c) for c in fake.commands[1:]] == made
            assert client.statistics().waiting == 0
            assert await client.execute("ECHO", "after") == b"after"
        nursery.cancel_scope.cancel()


async def test_a_broken_connection_fails_every_pending_call_exactly_once() -> None:
    """Waiting callers and detached calls are all pending when the server hangs up: every
    caller gets RedisUnavailable, every detached call's callback runs once with it, and the
    next call connects again."""
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: b"+PONG\r\n" if c[0] == b"PING" else None)
        async with open_redis(fake_settings(fake.port, timeout=30)) as client:
            await client.execute("PING")
            script = Script("noop", "return 1")
            answers: dict[int, list[Result]] = {i: [] for i in range(10)}
            failed: list[str] = []

            async def waiting() -> None:
                with pytest.raises(RedisUnavailable) as info:
                    await client.execute("GET", "k")
                failed.append(str(info.value))

            async with trio.open_nursery() as calls:
                for i in range(10):
                    calls.start_soon(waiting)
                    client.evalsha_detached(script, [], [i], answers[i].append)
                await fake.wait_commands(21)
                await fake.hang_up()
            await trio.sleep(0.1)  # anything delivered twice would have arrived by now
            assert len(failed) == 10
            assert all(len(a) == 1 and isinstance(a[0], RedisUnavailable) for a in answers.values())
            assert await client.execute("PING") == b"PONG"
            assert client.statistics().connects == 2
        nursery.cancel_scope.cancel()


async def test_a_detached_call_fails_at_the_timeout(mock_clock: trio.testing.MockClock) -> None:
    """A server that never answers: nobody waits for the detached call, yet its callback gets
    RedisUnavailable exactly at the timeout (virtual time), the connection is dropped, and the
    backoff starts as after any timeout."""
    mock_clock.autojump_threshold = IDLE
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: b"+PONG\r\n" if c[0] == b"PING" else None)
        async with open_redis(fake_settings(fake.port, backoff_min=10.0)) as client:
            await client.execute("PING")
            answered: list[tuple[float, Result]] = []
            start = trio.current_time()

            def note(result: Result) -> None:
                answered.append((trio.current_time(), result))

            noop = Script("noop", "return 1")
            client.evalsha_detached(noop, [], [], note)
            await trio.sleep(5)
            [(when, result)] = answered
            assert when == start + 0.5
            assert isinstance(result, RedisUnavailable) and "no reply" in str(result)
            assert client.statistics().timeouts == 1
            with pytest.raises(RedisUnavailable, match="next try in"):
                await client.execute("PING")
        nursery.cancel_scope.cancel()


async def test_detached_calls_on_the_real_redis() -> None:
    """Detached: the first call of a client connects, a script Redis does not know is loaded,
    replies come in submission order with waiting callers', and a cancelled waiter in between
    leaves the connection usable."""
    async with live_prefix() as (client, prefix), open_redis(client.settings) as fresh:
        source = f"-- {secrets.token_hex(8)}\nreturn redis.call('INCR', KEYS[1])"
        script = Script("incr", source)
        got: list[Result] = []
        fresh.evalsha_detached(script, [prefix + "n"], [], got.append)  # not connected yet
        with trio.fail_after(5):
            while not got:  # noqa: ASYNC110 (a plain list)
                await trio.sleep(0.01)
        assert got == [1]
        with trio.CancelScope() as scope:
            scope.cancel()
            await fresh.execute("INCR", prefix + "n")  # cancelled: may or may not have run
        for _ in range(3):
            fresh.evalsha_detached(script, [prefix + "n"], [], got.append)
        count = await fresh.execute("GET", prefix + "n")
        assert isinstance(count, bytes)
        assert got[1:] == [int(count) - 2, int(count) - 1, int(count)]
        alone: list[Result] = []  # nothing follows it: it is sent after a moment on its own
        fresh.evalsha_detached(script, [prefix + "n"], [], alone.append)
        with trio.fail_after(5):
            while not alone:  # noqa: ASYNC110 (a plain list)
                await trio.sleep(0.001)
        assert alone == [int(count) + 1]
        assert fresh.statistics().script_loads == 1
        assert fresh.statistics().connects == 1
