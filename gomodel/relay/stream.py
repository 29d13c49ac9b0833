"""The stream relay: the only code that moves the bytes of a streamed response.

One nursery per stream owns three tasks (ARCHITECTURE.md "Streams"):

* the disconnect watcher, started before the upstream request is sent: on ``http.disconnect``
  it cancels everything, which closes the provider's connection;
* the upstream reader: sends the request, decodes SSE with a cap on event size, hands each
  complete event to the stream stage (:mod:`gomodel.translate.stage`) and pushes what the
  client should get into a small channel; at the end of the upstream body it calls the stage's
  ``finish()`` and relays what that returns. Deadlines: first byte, idle gap between upstream
  bytes, total;
* the downstream writer: takes from the channel and calls ASGI ``send()`` (events already
  waiting share one send);

and one deadline instead of a fourth task, the stall watchdog: hypercorn's ``send()`` is
shielded from cancellation and blocks while the client reads nothing, so each send puts a
deadline of now + the stall timeout on the reader's cancel scope (and lifts it when the send
returns); when one send takes longer, trio cancels the reader, which closes the upstream. The
provider stops generating even though the writer is stuck. A task per stream would cost its
coroutine, cancel scope and scheduler entries for every open stream (docs/benchmarks.md).

The response starts with the first event the client gets, so an upstream that fails before it
(error status, empty stream, timeout) is answered with a real status by the caller. After the
start, a failure ends the stream with every complete event relayed, then one
``data: {"error": {...}}`` event, then a clean end of body without ``[DONE]``. Nothing is raised
to the server. :meth:`StreamRelay.run` returns the frozen
:class:`~gomodel.pipeline.outcome.Outcome`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import aclosing

import attrs
import httpx
import orjson
import trio

from gomodel.errors import (
    MAX_ERROR_BODY,
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
)
from gomodel.pipeline.outcome import Outcome
from gomodel.providers.client import (
    Provider,
    map_transport_error,
    response_body,
    transport_termination,
)
from gomodel.relay.watch import Deadlines, Receive, Send, watch_disconnect
from gomodel.termination import Termination
from gomodel.translate.stage import StreamStage
from gomodel.wire.sse import Event, EventTooLarge, SSEDecoder, encode_data

__all__ = ["SSE_HEADERS", "ErrorEvent", "StreamRelay", "error_event"]

# Events in flight between the reader and the writer. Small on purpose: the reader must stop
# reading (and the watchdog take over) soon after the client stops reading.
CHANNEL_SIZE = 16

SSE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def error_event(error: GatewayError) -> bytes:
    """The final event of a stream that failed after it started (the OpenAI SDKs raise it)."""
    payload = {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": None,
            "code": error.code or "upstream_error",
        }
    }
    return encode_data(orjson.dumps(payload))


ErrorEvent = Callable[[GatewayError], bytes]
"""How a surface ends a stream that failed after it started (OpenAI's or Anthropic's shape)."""


class _Abort(Exception):
    def __init__(self, termination: Termination, error: GatewayError) -> None:
        super().__init__(error.message)
        self.termination = termination
        self.error = error


@attrs.frozen
class _Failed:
    error: GatewayError


@attrs.define(eq=False)
class StreamRelay:
    provider: Provider
    request: httpx.Request
    receive: Receive
    send: Send
    response_headers: list[tuple[bytes, bytes]]
    stage: StreamStage
    deadlines: Deadlines
    max_event_size: int = 1024 * 1024
    error_event: ErrorEvent = error_event

    # What happened so far; outcome() freezes it.
    termination: Termination | None = None
    error: GatewayError | None = None  # the failure (before the start: the caller renders it)
    started: bool = False
    ended: bool = False  # the body's last message went out: nothing more may be sent
    first_byte_at: float | None = None
    upstream_seconds: float = 0.0

    # The reader's scope; its deadline is the stall watchdog (set while a send is under way).
    _upstream_scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)

    async def run(self) -> Outcome:
        """Relay the stream; return how it ended (also on a failure before it started)."""
        send_channel, receive_channel = trio.open_memory_channel[bytes | _Failed](CHANNEL_SIZE)
        try:
            async with trio.open_nursery() as nursery:

                def on_disconnect() -> None:
                    self._terminate(Termination.CLIENT_DISCONNECT)
                    nursery.cancel_scope.cancel()

                nursery.start_soon(watch_disconnect, self.receive, on_disconnect)
                nursery.start_soon(self._read_upstream, send_channel)
                await self._write_downstream(receive_channel)
                nursery.cancel_scope.cancel()
        except BaseException as exc:
            if not _is_cancellation(exc):
                raise
            # Cancelled from outside: the server is shutting down with this stream in flight.
            self._terminate(Termination.SHUTDOWN)
            if self.started and not self.ended:
                with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                    shutdown = UpstreamError("the gateway is shutting down", code="server_shutdown")
                    final = self.error_event(shutdown)
                    await self.send({"type": "http.response.body", "body": final})
            raise
        return self.outcome()

    def outcome(self) -> Outcome:
        """How the stream ended, or how far it got (when the server cancels it mid-way)."""
        result = self.stage.result()
        status = 200 if self.started else (499 if self.error is None else self.error.status)
        return Outcome(
            status=status,
            termination=self.termination or Termination.SHUTDOWN,
            usage=result.usage,
            complete=result.usage is not None and result.done,
            model=result.model,
            provider_id=result.provider_id,
            first_byte_at=self.first_byte_at,
            upstream_seconds=self.upstream_seconds,
            error=self.error,
            started=self.started,
        )

    def _terminate(self, reason: Termination) -> None:
        if self.termination is None:  # the first reason is the one that happened
            self.termination = reason

    # -- the upstream reader ---------------------------------------------------------------

    async def _read_upstream(self, channel: trio.MemorySendChannel[bytes | _Failed]) -> None:
        async with channel:
            with self._upstream_scope:
                try:
                    await self._pump(channel)
                    self._terminate(Termination.COMPLETED)
                except _Abort as abort:
                    self._terminate(abort.termination)
                    await channel.send(_Failed(abort.error))
            if self._upstream_scope.cancelled_caught:
                # One send() has been blocked for the whole stall timeout: the client is not
                # reading. The upstream is closed (the reader's clean-up); the writer finishes
                # when the client goes away.
                self._terminate(Termination.STALLED_CLIENT)

    async def _pump(self, channel: trio.MemorySendChannel[bytes | _Failed]) -> None:
        provider, deadlines = self.provider, self.deadlines
        started = trio.current_time()
        first_byte_deadline = started + deadlines.first_byte
        relayed = False
        response: httpx.Response | None = None
        with trio.move_on_at(started + deadlines.total) as total_scope:
            try:
                with trio.move_on_at(first_byte_deadline):
                    response = await provider.send(self.request)
                if response is None:
                    raise _first_byte_timeout(provider.name, deadlines)
                if response.status_code != 200:
                    raise await _upstream_failure(response, provider)

                decoder = SSEDecoder(self.max_event_size)
                stage = self.stage
                async with aclosing(response_body(response)) as chunks:
                    deadline = first_byte_deadline
                    while True:
                        chunk = None
                        with trio.move_on_at(deadline):
                            chunk = await anext(chunks, b"")
                        if chunk is None:
                            if deadline == first_byte_deadline:
                                raise _first_byte_timeout(provider.name, deadlines)
                            raise _Abort(
                                Termination.IDLE_TIMEOUT,
                                UpstreamTimeout(
                                    f"{provider.name} sent nothing for {deadlines.idle:g}s "
                                    "(HTTP_STREAM_IDLE_TIMEOUT)",
                                    code="upstream_idle_timeout",
                                ),
                            )
                        if not chunk:
                            break  # end of the upstream body
                        deadline = trio.current_time() + deadlines.idle
                        try:
                            events = decoder.feed(chunk)
                        except EventTooLarge as exc:
                            relayed |= await self._relay(exc.events, channel)
                            raise _Abort(
                                Termination.EVENT_TOO_LARGE,
                                UpstreamError(
                                    f"{provider.name} sent an event larger than "
                                    f"{self.max_event_size} bytes (STREAM_MAX_EVENT_SIZE)",
                                    code="event_too_large",
                                ),
                            )
                        relayed |= await self._relay(events, channel)
                await response.aclose()  # read to the end: nothing left for the clean-up below
                decoder.finish()  # an unterminated last event is never relayed
                tail = stage.finish()
                if tail:
                    await channel.send(tail)
                    relayed = True
                if not stage.result().done:
                    raise _Abort(
                        Termination.UPSTREAM_EOF,
                        UpstreamError(
                            f"{provider.name} ended the stream before its last event"
                            if relayed
                            else f"{provider.name} returned an empty stream",
                            code="stream_incomplete",
                        ),
                    )
            except httpx.HTTPError as exc:
                if not relayed:
                    raise _Abort(
                        transport_termination(exc), map_transport_error(exc, provider.name)
                    )
                truncated = isinstance(exc, httpx.RemoteProtocolError)
                raise _Abort(
                    Termination.UPSTREAM_EOF if truncated else Termination.UPSTREAM_ERROR,
                    UpstreamError(
                        f"{provider.name} broke off the stream: {exc or type(exc).__name__}",
                        code="stream_incomplete",
                    ),
                )
            finally:
                self.upstream_seconds = trio.current_time() - started
                if response is not None and not response.is_closed:
                    with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                        await response.aclose()
        if total_scope.cancelled_caught:
            raise _Abort(
                Termination.DEADLINE,
                UpstreamTimeout(
                    f"{provider.name}: the stream took longer than {deadlines.total:g}s "
                    "(HTTP_TIMEOUT)",
                    code="deadline_exceeded",
                ),
            )

    async def _relay(
        self, events: list[Event], channel: trio.MemorySendChannel[bytes | _Failed]
    ) -> bool:
        # Events that arrived together leave together: one channel item, one send downstream
        # (a provider's burst of small events would otherwise cost a send and a scheduler
        # round trip each). Events that arrive apart are still forwarded one by one.
        out: list[bytes] = []
        error: GatewayError | None = None
        stage = self.stage
        for event in events:
            try:
                piece = stage.feed(event)
            except orjson.JSONEncodeError:  # nested past what can be written back
                error = UpstreamError(
                    f"{self.provider.name} sent a stream event the gateway cannot re-encode",
                    code="malformed_stream",
                )
                break
            if piece is not None:
                out.append(piece)
            error = stage.error
            if error is not None:
                break
        if out:
            await channel.send(out[0] if len(out) == 1 else b"".join(out))
        if error is not None:
            raise _Abort(Termination.UPSTREAM_ERROR, error)
        return bool(out)

    # -- the downstream writer -------------------------------------------------------------

    async def _write_downstream(self, channel: trio.MemoryReceiveChannel[bytes | _Failed]) -> None:
        async with channel:
            async for item in channel:
                failure: _Failed | None = None
                batch: list[bytes] = []
                if isinstance(item, _Failed):
                    failure = item
                else:
                    batch.append(item)
                while failure is None:  # events already waiting share one send
                    try:
                        more = channel.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    if isinstance(more, _Failed):
                        failure = more
                    else:
                        batch.append(more)
                if batch:
                    await self._send_body(b"".join(batch))
                if failure is not None:
                    self.error = failure.error
                    if not self.started:
                        return  # the caller answers with a real status
                    await self._send_body(self.error_event(failure.error))
                    break
        if self.started:
            # Inside this last send hypercorn ends the response and recycles or closes the
            # connection, after handing http.disconnect to our watcher: the watcher must not
            # cancel that bookkeeping halfway (idle connections would never close, and a
            # restarting replica would leave nginx half-dead connections). Found by the nginx
            # integration suite. Bounded like any send by the stall timeout, for servers whose
            # send() honours a deadline (gomodel serve bounds hypercorn's own write, which
            # does not: gomodel/connections.py).
            with trio.CancelScope(shield=True), trio.move_on_after(self.deadlines.stall):
                await self._send_body(b"", more_body=False)
            self.ended = True

    async def _send_body(self, body: bytes, *, more_body: bool = True) -> None:
        if not self.started:
            self.started = True
            self.first_byte_at = trio.current_time()
            await self.send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": SSE_HEADERS + self.response_headers,
                }
            )
        scope = self._upstream_scope
        scope.deadline = trio.current_time() + self.deadlines.stall
        await self.send({"type": "http.response.body", "body": body, "more_body": more_body})
        scope.deadline = math.inf


def _first_byte_timeout(provider: str, deadlines: Deadlines) -> _Abort:
    return _Abort(
        Termination.HEADER_TIMEOUT,
        UpstreamTimeout(
            f"{provider}: no response within {deadlines.first_byte:g}s "
            "(HTTP_RESPONSE_HEADER_TIMEOUT)",
            code="upstream_timeout",
        ),
    )


async def _upstream_failure(response: httpx.Response, provider: Provider) -> _Abort:
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= MAX_ERROR_BODY:
            break
    return _Abort(Termination.UPSTREAM_ERROR, provider.error(response, body))


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, trio.Cancelled):
        return True
    if isinstance(exc, BaseExceptionGroup):
        rest = exc.split(trio.Cancelled)[1]
        return rest is None
    return False
