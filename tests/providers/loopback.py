"""A raw HTTP/1.1 server on loopback for the transport's socket tests: each connection runs a
handler that reads requests and sends whatever bytes the test wants, when it wants."""

from __future__ import annotations

import contextlib
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from functools import partial

import trio

__all__ = ["OK", "Peer", "answer", "keep_answering", "serve"]


class Peer:
    """The server's end of one loopback connection."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def request(self) -> bytes:
        """The next request (head, Content-Length body); b"" once the client has left."""
        size = None
        while size is None or len(self.buffer) < size:
            if size is None and b"\r\n\r\n" in self.buffer:
                end = self.buffer.index(b"\r\n\r\n") + 4
                found = re.search(rb"(?i)\r\ncontent-length: *([0-9]+)", self.buffer[:end])
                size = end + (int(found[1]) if found else 0)
                continue
            data = await self.stream.receive_some(65536)
            if not data:
                return b""
            self.buffer += data
        raw = bytes(self.buffer[:size])
        del self.buffer[:size]
        return raw

    async def send(self, data: bytes, piece: int = 0) -> None:
        """``data`` in sends of ``piece`` bytes with pauses between them (so they likely
        arrive as separate reads; correctness never depends on it), or whole."""
        piece = piece or len(data)
        for i in range(0, len(data), piece):
            await trio.sleep(0.001 if i else 0)
            await self.stream.send_all(data[i : i + piece])

    async def reset(self) -> None:
        """Abort the connection: the client gets a TCP RST, not a FIN."""
        self.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self.stream.aclose()


async def serve(
    nursery: trio.Nursery, handler: Callable[[Peer], Awaitable[object]]
) -> tuple[str, list[Peer]]:
    """A raw server on 127.0.0.1 running ``handler`` per connection: its URL, and its
    connections as they arrive."""
    peers: list[Peer] = []

    async def on_connection(stream: trio.SocketStream) -> None:
        peers.append(peer := Peer(stream))
        with contextlib.suppress(trio.BrokenResourceError):  # however the client hangs up
            await handler(peer)

    listeners = await nursery.start(partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
    return f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}", peers


def answer(body: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


OK = answer(b"ok", b"Content-Length: 2")


async def keep_answering(peer: Peer, seen: list[bytes] | None = None) -> None:
    """Answer every request with ``OK`` (recording it in ``seen``) until the client leaves."""
    while raw := await peer.request():
        if seen is not None:
            seen.append(raw)
        await peer.send(OK)
