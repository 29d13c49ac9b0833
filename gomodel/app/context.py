"""What a route handler gets: the snapshot, the runtime, and the ASGI channels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from gomodel.app.runtime import Runtime
from gomodel.ingress.snapshot import RequestSnapshot
from gomodel.relay.watch import Message, Receive, Send

__all__ = ["Handler", "RequestContext"]


@attrs.define(eq=False)
class RequestContext:
    snapshot: RequestSnapshot
    runtime: Runtime
    receive: Receive
    _send: Send
    # Headers every answer to this request carries (request id, route); handlers may add.
    headers: list[tuple[bytes, bytes]] = attrs.field(factory=list)
    started: bool = False
    user_path: str = "/"

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


Handler = Callable[[RequestContext], Awaitable[None]]
