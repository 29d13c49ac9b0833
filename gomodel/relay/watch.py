"""Deadlines and the disconnect watcher shared by every upstream exchange.

Under hypercorn's trio worker ``send()`` never raises after the client has gone and the app is
never cancelled (RELIABILITY.md §1.2): the only news of a disconnect is one ``http.disconnect``
message, handed to whoever is blocked in ``receive()``. So every exchange runs a watcher, the
only caller of ``receive()`` once the body is read, started before the upstream request is
sent, which cancels the exchange when the client leaves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import attrs

from gomodel.config import Config

__all__ = ["ClientGone", "Deadlines", "Receive", "Send", "watch_disconnect"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected; there is nobody to answer."""


@attrs.frozen(slots=True)
class Deadlines:
    first_byte: float  # request sent -> response headers (streams: -> first event)
    idle: float  # longest gap between upstream body bytes once the first arrived
    total: float  # the whole exchange
    stall: float  # the client accepts no bytes for this long -> the upstream is closed

    @classmethod
    def from_config(cls, config: Config) -> Deadlines:
        return cls(
            first_byte=config.http_response_header_timeout,
            idle=config.http_stream_idle_timeout,
            total=config.http_timeout,
            stall=config.stream_stall_timeout,
        )


async def watch_disconnect(receive: Receive, on_disconnect: Callable[[], None]) -> None:
    """Return after calling ``on_disconnect`` when the client goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            on_disconnect()
            return
