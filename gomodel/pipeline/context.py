"""What every stage of a request sees: the snapshot, the caller, the runtime, the ASGI channels,
and the headers every answer to the request carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from gomodel.ingress.auth import ANONYMOUS, Principal
from gomodel.ingress.snapshot import RequestSnapshot
from gomodel.relay.watch import Message, Receive, Send

if TYPE_CHECKING:
    from gomodel.app.runtime import Runtime

__all__ = ["Handler", "RequestContext"]


@attrs.define(eq=False)
class RequestContext:
    snapshot: RequestSnapshot
    runtime: Runtime
    receive: Receive
    _send: Send
    # Headers every answer to this request carries (request id, route); stages may add.
    headers: list[tuple[bytes, bytes]] = attrs.field(factory=list)
    principal: Principal = ANONYMOUS
    started: bool = False
    user_path: str = "/"
    # When the current attempt began, for a retry or failover (None: the first attempt): the
    # time before it (earlier attempts, backoff waits) is not this attempt's gateway overhead.
    attempt_started_at: float | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


Handler = Callable[[RequestContext], Awaitable[None]]
