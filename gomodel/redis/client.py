"""A Redis client for trio: one multiplexed connection, pipelined automatically.

::

    async with open_redis(RedisSettings.from_url(os.environ["REDIS_URL"])) as redis:
        await redis.execute("SET", "k", "v")
        reply = await redis.evalsha(SCRIPT, keys=["k"], args=[1])

How it works:

* One connection per client, shared by every caller. A call writes its command and joins the
  FIFO of calls waiting for a reply; one reader task matches replies to calls in order, every
  reply of one read in one go. A call made while nothing is in flight is written at once; calls
  made while others are in flight join an out-buffer that the writer task sends in one write,
  so 50 concurrent callers cost a few system calls, not 50 round trips.
* A call never touches the socket in a way cancellation could interrupt. Its bytes go out whole
  (written at once when the kernel takes them, else by the writer task), and its reply is read by
  the reader task whether or not anybody still waits for it. A caller cancelled mid-call just
  leaves; its reply is consumed and dropped, and the stream stays in step.
* :meth:`RedisClient.evalsha_detached` is a call nobody waits for: a callback gets the reply (or
  the error) from the reader task. Settling a request's limits needs no waiting task.
* Every call is bounded by ``settings.timeout`` (connect and handshake included) and fails with
  :class:`~gomodel.errors.RedisUnavailable` past it. A watchdog task per connection drops the
  connection when its oldest call has had no reply by its deadline (its reply can no longer be
  told from a stalled server's silence), failing every call on it, and starts a backoff: for
  ``backoff_min`` seconds, doubling up to ``backoff_max``, calls fail at once instead of waiting
  for a server that just failed. The first reply that arrives ends the backoff.
* Connecting is lazy: the first call connects (AUTH and SELECT first), and so does the first call
  after the connection broke. A Redis that is down at startup costs nothing until it is used.
* Error replies raise :class:`~gomodel.errors.RedisReplyError`, except those that mean the server
  cannot serve now (``LOADING``, ``BUSY``, ``READONLY``, ``OOM``, ...), which raise
  :class:`~gomodel.errors.RedisUnavailable` like a timeout does. ``evalsha`` answers Redis's
  ``NOSCRIPT`` with ``SCRIPT LOAD`` and tries once more, within the same deadline.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import cast

import attrs
import trio

from gomodel.errors import RedisError, RedisReplyError, RedisUnavailable
from gomodel.redis.connection import SOCKET_ERRORS, Call, Connection
from gomodel.redis.resp import Arg, Encoded, Reply, encode_args, encode_command, make_reader
from gomodel.redis.script import Script
from gomodel.redis.settings import RedisSettings

__all__ = ["Done", "RedisClient", "RedisStatistics", "open_redis"]

log = logging.getLogger("gomodel.redis")

Keys = Sequence[Arg] | Encoded
"""A script's keys: plain arguments, or encoded once for many calls (:class:`Encoded`)."""

Done = Callable[["Reply | RedisError"], None]
"""What :meth:`RedisClient.evalsha_detached` calls with the reply, or the error it stands for."""

# Error replies that say "not now" rather than "wrong command": the server is loading its data,
# busy with a script, a read-only replica after a failover, out of memory, or has no primary.
# They are RedisUnavailable, so the caller's down-Redis policy covers them.
_UNAVAILABLE_CODES = frozenset(
    {"LOADING", "BUSY", "READONLY", "OOM", "MASTERDOWN", "NOREPLICAS", "TRYAGAIN", "CLUSTERDOWN"}
)


@attrs.frozen
class RedisStatistics:
    """Counters since the client was opened (trio's ``statistics()`` convention)."""

    connects: int  # connections established
    connect_failures: int
    calls: int  # calls sent
    timeouts: int
    script_loads: int  # NOSCRIPT answered with SCRIPT LOAD
    waiting: int  # calls sent on the current connection and not answered yet


class RedisClient:
    """Calls to one Redis server over one shared connection; make it with :func:`open_redis`."""

    def __init__(
        self,
        settings: RedisSettings,
        nursery: trio.Nursery,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._nursery = nursery
        self._ssl_context = ssl_context
        self._conn: Connection | None = None
        self._connecting = trio.Lock()
        self._backoff = 0.0
        self._retry_at = -math.inf
        self._last_failure = ""
        self._connects = 0
        self._connect_failures = 0
        self._calls = 0
        self._timeouts = 0
        self._script_loads = 0

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def execute(self, *args: Arg) -> Reply:
        """Send one command and return its reply. Raises RedisReplyError for an error reply and
        RedisUnavailable when there is no reply within the timeout."""
        return await self._call(encode_command(args), trio.current_time() + self.settings.timeout)

    async def evalsha(self, script: Script, keys: Keys, args: Sequence[Arg]) -> Reply:
        """Run ``script`` by SHA1, loading it first if Redis answers NOSCRIPT (after a restart or
        a SCRIPT FLUSH); both tries share one timeout."""
        deadline = trio.current_time() + self.settings.timeout
        command = _evalsha_command(script, keys, args)
        try:
            return await self._call(command, deadline)
        except RedisReplyError as exc:
            if exc.code != "NOSCRIPT":
                raise
        self._script_loads += 1
        await self._call(_script_load(script), deadline)
        return await self._call(command, deadline)

    def evalsha_detached(self, script: Script, keys: Keys, args: Sequence[Arg], done: Done) -> None:
        """Run ``script`` like :meth:`evalsha` without waiting for it: ``done`` is called once,
        later (never from inside this call), with the reply or the error (``RedisUnavailable``,
        ``RedisReplyError``) that :meth:`evalsha` would have raised. The call is bounded by the
        same timeout, and it goes out in order after every call submitted before it."""
        deadline = trio.current_time() + self.settings.timeout
        command = _evalsha_command(script, keys, args)
        conn = self._conn
        if conn is None or conn.broken is not None:  # connecting needs a task
            self._nursery.start_soon(self._detached, script, keys, args, done)
            return

        def answered(call: Call) -> None:
            result = self._answer(call)
            if isinstance(result, RedisReplyError) and result.code == "NOSCRIPT":
                self._script_loads += 1
                current = self._conn
                if current is not None and current.broken is None:
                    current.submit(_script_load(script), deadline)  # its error shows below
                    current.submit(command, deadline, lambda again: done(self._answer(again)))
                    self._calls += 2
                    return
            done(result)

        conn.submit(command, deadline, answered, lazy=True)
        self._calls += 1

    async def _detached(self, script: Script, keys: Keys, args: Sequence[Arg], done: Done) -> None:
        result: Reply | RedisError
        try:
            result = await self.evalsha(script, keys, args)
        except RedisError as exc:
            result = exc
        except trio.Cancelled:
            _deliver(done, RedisUnavailable(f"Redis at {self.address}: the client was closed"))
            raise
        _deliver(done, result)

    def statistics(self) -> RedisStatistics:
        conn = self._conn
        return RedisStatistics(
            connects=self._connects,
            connect_failures=self._connect_failures,
            calls=self._calls,
            timeouts=self._timeouts,
            script_loads=self._script_loads,
            waiting=len(conn.waiting) if conn is not None and conn.broken is None else 0,
        )

    def close(self) -> None:
        """Drop the connection; calls waiting on it fail, the next call connects again."""
        if self._conn is not None:
            self._conn.kill("the connection was closed by the client")

    async def _call(self, data: bytes, deadline: float) -> Reply:
        conn = self._conn
        if conn is None or conn.broken is not None:
            conn = None
            with trio.move_on_at(deadline):
                conn = await self._connect()
            if conn is None:
                self._timeouts += 1
                reason = f"no reply from Redis at {self.address} within {self.settings.timeout}s"
                self._note_failure(reason, connecting=True)
                raise RedisUnavailable(reason)
        # No cancel scope of its own: the connection's watchdog fails the call at its deadline
        # (dropping the connection), and a caller cancelled meanwhile just leaves.
        call = conn.submit(data, deadline)
        self._calls += 1
        await call.wait()
        result = self._answer(call)
        if isinstance(result, RedisError):
            raise result
        return result

    def _answer(self, call: Call) -> Reply | RedisError:
        """A resolved call's reply, or the error it stands for (not raised: the caller's or
        callback's business)."""
        if call.failure is not None:
            return RedisUnavailable(f"Redis at {self.address}: {call.failure}")
        self._backoff = 0.0
        reply = call.reply
        if isinstance(reply, RedisReplyError) and reply.code in _UNAVAILABLE_CODES:
            return RedisUnavailable(f"Redis at {self.address}: {reply.message}")
        return reply

    def _stalled(self) -> str:
        """The watchdog found a call unanswered at its deadline: count it, back off."""
        self._timeouts += 1
        reason = f"no reply within {self.settings.timeout}s"
        self._note_failure(f"no reply from Redis at {self.address} within {self.settings.timeout}s")
        return reason

    async def _connect(self) -> Connection:
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.broken is None:
                return conn
            wait = self._retry_at - trio.current_time()
            if wait > 0:
                raise RedisUnavailable(
                    f"Redis at {self.address} failed recently ({self._last_failure}); "
                    f"next try in {wait:.2f}s"
                )
            try:
                conn = cast(Connection, await self._nursery.start(self._run_connection))
            except RedisUnavailable as exc:
                self._note_failure(str(exc), connecting=True)
                raise
            except (*SOCKET_ERRORS, ssl.SSLError) as exc:
                reason = f"cannot connect to Redis at {self.address}: {exc}"
                self._note_failure(reason, connecting=True)
                raise RedisUnavailable(reason)
            self._conn = conn
            self._connects += 1
            return conn

    def _note_failure(self, reason: str, *, connecting: bool = False) -> None:
        """Start (or lengthen) the backoff; the many calls failing in one outage count once."""
        self._connect_failures += connecting
        self._last_failure = reason
        if trio.current_time() < self._retry_at:
            return
        lo, hi = self.settings.backoff_min, self.settings.backoff_max
        self._backoff = min(hi, self._backoff * 2) if self._backoff else lo
        self._retry_at = trio.current_time() + self._backoff

    async def _run_connection(
        self, task_status: trio.TaskStatus[Connection] = trio.TASK_STATUS_IGNORED
    ) -> None:
        settings = self.settings
        tcp = await trio.open_tcp_stream(settings.host, settings.port)
        stream: trio.abc.Stream = tcp
        try:
            fd: int | None = tcp.socket.fileno()
            if settings.tls:
                context = self._ssl_context or ssl.create_default_context()
                stream = trio.SSLStream(tcp, context, server_hostname=settings.host)
                await stream.do_handshake()
                fd = None
            conn = Connection(stream, make_reader(settings.parser), fd, self._stalled)
            await conn.handshake(settings.handshake())
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        task_status.started(conn)
        await conn.serve()


_HEADS: dict[str, bytes] = {}  # a script's SHA1: ``EVALSHA <sha1>`` encoded


def _evalsha_command(script: Script, keys: Keys, args: Sequence[Arg]) -> bytes:
    if not isinstance(keys, Encoded):
        keys = Encoded.of(keys)
    head = _HEADS.get(script.sha1)
    if head is None:
        head = _HEADS[script.sha1] = encode_args(("EVALSHA", script.sha1))
    return b"".join(
        (
            b"*%d\r\n" % (3 + keys.count + len(args)),
            head,
            encode_args((keys.count,)),
            keys.data,
            encode_args(args),
        )
    )


def _script_load(script: Script) -> bytes:
    return encode_command(["SCRIPT", "LOAD", script.source])


def _deliver(done: Done, result: Reply | RedisError) -> None:
    try:
        done(result)
    except Exception:  # a bug in a callback must not take the client's nursery down
        log.exception("a Redis reply callback failed")


@asynccontextmanager
async def open_redis(
    settings: RedisSettings | str, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[RedisClient]:
    """A client for one Redis server (a URL or settings), closed on exit. Nothing is connected
    until the first call."""
    if isinstance(settings, str):
        settings = RedisSettings.from_url(settings)
    async with trio.open_nursery() as nursery:
        client = RedisClient(settings, nursery, ssl_context=ssl_context)
        try:
            yield client
        finally:
            nursery.cancel_scope.cancel()
