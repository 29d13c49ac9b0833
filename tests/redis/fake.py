"""A RESP server on loopback that answers only what, and when, a test says: for the timeout,
stall, cancellation and protocol-error cases a real Redis cannot be made to produce."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import trio

from gomodel.redis.resp import RespReader

__all__ = ["FakeRedis", "echo", "serve_fake"]


class FakeRedis:
    """Commands received (as lists of bytes) and a channel of raw bytes to send back."""

    def __init__(self) -> None:
        self.port = 0
        self.commands: list[list[bytes]] = []
        self.connections = 0
        self.received = trio.Condition()
        self._streams: list[trio.SocketStream] = []

    async def wait_commands(self, count: int) -> None:
        async with self.received:
            while len(self.commands) < count:
                await self.received.wait()

    async def send(self, data: bytes) -> None:
        """Bytes to the newest connection."""
        await self._streams[-1].send_all(data)

    async def hang_up(self) -> None:
        await self._streams[-1].aclose()


Answer = Callable[[list[bytes]], bytes | None]


async def serve_fake(nursery: trio.Nursery, answer: Answer | None = None) -> FakeRedis:
    """Start a server; ``answer(command)`` gives the reply bytes sent at once (``None``: send
    nothing, the test sends later or never). Without ``answer`` it accepts and never replies."""
    fake = FakeRedis()

    async def handler(stream: trio.SocketStream) -> None:
        fake.connections += 1
        fake._streams.append(stream)
        reader = RespReader()
        try:
            while data := await stream.receive_some(65536):
                reader.feed(data)
                while (command := reader.gets()) is not False:
                    assert isinstance(command, list)
                    fake.commands.append([c for c in command if isinstance(c, bytes)])
                    async with fake.received:
                        fake.received.notify_all()
                    reply = answer(fake.commands[-1]) if answer else None
                    if reply is not None:
                        await stream.send_all(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    fake.port = listeners[0].socket.getsockname()[1]
    return fake


def echo(command: list[bytes]) -> bytes | None:
    """PING -> +PONG, ECHO x -> x, anything else -> +OK."""
    name = command[0].upper()
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"ECHO":
        return b"$%d\r\n%s\r\n" % (len(command[1]), command[1])
    return b"+OK\r\n"


def never(_: list[bytes]) -> bytes | None:
    return None
