"""What a route handler gets: the snapshot, the runtime, and the ASGI channels."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs
import httpx

from gomodel.app.runtime import Runtime
from gomodel.ingress.snapshot import RequestSnapshot
from gomodel.providers.client import Provider
from gomodel.relay.stream import StreamObserver, StreamRelay
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

    def stream_relay(
        self, provider: Provider, request: httpx.Request, observer: StreamObserver
    ) -> StreamRelay:
        """The relay for a streamed answer to this request, with the runtime's deadlines."""
        return StreamRelay(
            provider=provider,
            request=request,
            receive=self.receive,
            send=self.send,
            response_headers=self.headers,
            observer=observer,
            deadlines=self.runtime.deadlines,
            max_event_size=self.runtime.config.stream_max_event_bytes,
        )

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


Handler = Callable[[RequestContext], Awaitable[None]]
