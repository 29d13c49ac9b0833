"""The server floor: a hello-world ASGI app under hypercorn's trio worker.

It reads the request body and answers a fixed small JSON with a Content-Length, as the gateway
answers JSON, and nothing else. Run with the same hypercorn settings as ``gomodel serve`` (see
``tests.bench.servers.hello_server``), its throughput is the most any app gets from this server
on this machine. It imports nothing heavy, so its start-up time is hypercorn's and Python's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["app"]

Message = MutableMapping[str, Any]

_BODY = b'{"id":"x","object":"chat.completion","choices":[]}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    message = await receive()
    while message.get("more_body"):
        message = await receive()
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
