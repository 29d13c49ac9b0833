"""One Redis connection: its socket, the FIFO of calls waiting for replies, and the reader,
writer and watchdog tasks that serve it (the behaviour is described in ``client.py``)."""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Sequence

import trio

from gomodel.errors import RedisProtocolError, RedisReplyError, RedisUnavailable
from gomodel.redis.resp import Reader, Reply, encode_command

__all__ = ["SOCKET_ERRORS", "Call", "Connection"]

log = logging.getLogger("gomodel.redis")

_READ_SIZE = 65536
# How long a call nobody waits for may wait for company (Connection.submit): short against any
# lease or timeout, long against the gap between one request's end and the next one's start.
LAZY_DELAY = 0.002
SOCKET_ERRORS = (OSError, trio.BrokenResourceError, trio.ClosedResourceError)


class Call:
    """One command waiting for its reply: ``reply`` on success, ``failure`` when the connection
    broke first. Whoever wants the answer is either a task parked in :meth:`wait` or a
    ``callback`` run by the reader (a call nobody waits for, see :meth:`RedisClient.send`)."""

    __slots__ = ("callback", "deadline", "done", "failure", "reply", "task")

    def __init__(self, deadline: float, callback: Callable[[Call], None] | None) -> None:
        self.done = False
        self.reply: Reply = None
        self.failure: str | None = None
        self.deadline = deadline
        self.callback = callback
        self.task: trio.lowlevel.Task | None = None

    def resolve(self, reply: Reply, failure: str | None) -> None:
        """Hand the answer over, once: wake the waiting task or run the callback."""
        self.reply, self.failure, self.done = reply, failure, True
        if self.task is not None:
            task, self.task = self.task, None
            trio.lowlevel.reschedule(task)
        elif self.callback is not None:
            callback, self.callback = self.callback, None
            try:
                callback(self)
            except Exception:  # a bug in a callback must not take the connection down with it
                log.exception("a Redis reply callback failed")

    async def wait(self) -> None:
        """Park until resolved; cancelled, the caller just leaves (the reply is dropped)."""
        if self.done:
            await trio.lowlevel.checkpoint()
            return
        self.task = trio.lowlevel.current_task()

        def abort(_: object) -> trio.lowlevel.Abort:
            self.task = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)


class Connection:
    """One socket, its reader, writer and watchdog tasks, and the FIFO of calls waiting for
    replies."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        reader: Reader,
        fd: int | None,
        on_stall: Callable[[], str],
    ) -> None:
        self.stream = stream
        self.reader = reader
        self.fd = fd  # plain TCP: a command sent while nothing is in flight skips the writer
        self.on_stall = on_stall
        self.waiting: deque[Call] = deque()
        self.outbuf = bytearray()
        self.writing = False
        self.lazy = False  # the out-buffer holds only calls nobody waits for
        self.urgent = trio.Event()  # set when a waited-for call joins them
        self.wake = trio.Event()
        self.watch = trio.Event()
        self.broken: str | None = None
        self.scope = trio.CancelScope()

    def submit(
        self,
        data: bytes,
        deadline: float,
        callback: Callable[[Call], None] | None = None,
        *,
        lazy: bool = False,
    ) -> Call:
        """Queue one command; its bytes leave in order with every other caller's.

        With nothing in flight the bytes are written at once (one system call, no task switch:
        the latency of a lone call). Otherwise they join the out-buffer, which the writer task
        sends in one write once the callers of this scheduler tick have all added theirs.

        ``lazy`` (a call nobody waits for, like a settle): with nothing in flight, the bytes
        wait up to ``LAZY_DELAY`` for the next call to go out with it (at concurrency 1 the
        next request's reserve comes within a millisecond or so: one write and one read for
        both instead of two each)."""
        call = Call(deadline, callback)
        if self.broken is not None:  # its descriptor may be closed, even reused: never write
            call.resolve(None, self.broken)
            return call
        waiting = self.waiting
        idle = not waiting
        waiting.append(call)
        if idle and not self.watch.is_set():
            self.watch.set()
        if self.lazy and not lazy:  # somebody waits: what was held goes now, with this call
            self.lazy = False
            self.urgent.set()
        if not idle or self.outbuf or self.writing or self.fd is None:
            if not self.outbuf:
                self.wake.set()
            self.outbuf += data
            return call
        if lazy:
            self.lazy = True
            self.urgent = trio.Event()
            self.outbuf += data
            self.wake.set()
            return call
        try:
            sent = os.write(self.fd, data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self.kill(f"write failed: {exc}")
            return call
        if sent < len(data):
            self.outbuf += memoryview(data)[sent:]
            self.wake.set()
        return call

    def kill(self, reason: str) -> None:
        """Mark the connection broken and fail every call still waiting on it, now, once."""
        if self.broken is not None:
            return
        self.broken = reason
        self.scope.cancel()
        waiting = self.waiting
        while waiting:
            waiting.popleft().resolve(None, reason)

    async def handshake(self, commands: Sequence[Sequence[str | int]]) -> None:
        """AUTH and SELECT, one reply each, before the connection is shared."""
        if not commands:
            return
        await self.stream.send_all(b"".join(encode_command(c) for c in commands))
        for command in commands:
            reply = await self._read_one()
            if isinstance(reply, RedisReplyError):
                raise RedisUnavailable(f"{command[0]!s} failed: {reply.message}")

    async def _read_one(self) -> Reply:
        while (reply := self.reader.gets()) is False:
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise RedisUnavailable("Redis closed the connection during the handshake")
            self.reader.feed(bytes(data))
        return reply

    async def serve(self) -> None:
        """Run the reader, writer and watchdog until the connection breaks or the client
        closes."""
        try:
            with self.scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read_loop)
                    nursery.start_soon(self._write_loop)
                    nursery.start_soon(self._watch_loop)
        finally:
            self.kill("the client was closed")
            await trio.aclose_forcefully(self.stream)

    async def _read_loop(self) -> None:
        reader, waiting = self.reader, self.waiting
        try:
            while True:
                data = await self.stream.receive_some(_READ_SIZE)
                if not data:
                    self.kill("Redis closed the connection")
                    return
                reader.feed(bytes(data))  # the same object when it is bytes already
                # Every reply this read completed, in order, before the next read.
                while (reply := reader.gets()) is not False:
                    if not waiting:
                        self.kill("Redis sent a reply nobody asked for")
                        return
                    waiting.popleft().resolve(reply, None)
                    if self.broken is not None:  # a callback closed the client
                        return
        except RedisProtocolError as exc:
            self.kill(f"protocol error: {exc}")
        except SOCKET_ERRORS as exc:
            self.kill(f"read failed: {exc!r}")

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self.outbuf:
                    self.wake = trio.Event()
                    await self.wake.wait()
                    continue
                if self.lazy:
                    with trio.move_on_after(LAZY_DELAY):
                        await self.urgent.wait()
                    self.lazy = False
                data, self.outbuf = self.outbuf, bytearray()
                self.writing = True
                await self.stream.send_all(data)
                self.writing = False
        except SOCKET_ERRORS as exc:
            self.kill(f"write failed: {exc!r}")

    async def _watch_loop(self) -> None:
        """Bound the calls nobody waits for: when the oldest call has had no reply by its
        deadline, the server is stalled and the connection is dropped (failing every call on
        it). A waiting caller's own timeout fires first; this wakes about once per timeout
        while calls are in flight, and not at all while none are."""
        waiting = self.waiting
        while True:
            if not waiting:
                self.watch = trio.Event()
                await self.watch.wait()
                continue
            head = waiting[0]
            if trio.current_time() >= head.deadline:
                self.kill(self.on_stall())
                return
            await trio.sleep_until(head.deadline)
