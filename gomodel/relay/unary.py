"""A non-streaming upstream exchange, watched for client disconnects.

The client leaving at any point (waiting for a pooled connection, connecting, waiting for the
answer, reading it) cancels the exchange, which closes the upstream connection. The upstream's
body becomes the client's :class:`~gomodel.pipeline.outcome.Answer` through the caller's
``answer`` function (verbatim, or translated); :meth:`UnaryExchange.run` returns the frozen
:class:`~gomodel.pipeline.outcome.Outcome`, with the termination set where the exchange ended.
"""

from __future__ import annotations

from collections.abc import Callable

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
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.providers.client import (
    Provider,
    map_transport_error,
    response_body,
    transport_termination,
)
from gomodel.relay.watch import Deadlines, Receive, watch_disconnect
from gomodel.termination import Termination

__all__ = ["MAX_RESPONSE_BODY", "UnaryExchange", "UnaryResult"]

# A JSON answer larger than this is refused rather than held in memory.
MAX_RESPONSE_BODY = 64 * 1024 * 1024


@attrs.frozen
class UnaryResult:
    """The upstream's answer as it came."""

    status: int
    headers: httpx.Headers
    body: bytes


class _Abort(Exception):
    def __init__(self, termination: Termination, error: GatewayError) -> None:
        super().__init__(error.message)
        self.termination = termination
        self.error = error


@attrs.define(eq=False)
class UnaryExchange:
    provider: Provider
    request: httpx.Request
    receive: Receive
    deadlines: Deadlines
    answer: Callable[[UnaryResult], Answer]
    # Only 200 is an answer, unless ``any_success`` (passthrough routes): then every status
    # below 400 is, and the caller relays it.
    any_success: bool = False
    max_body: int = MAX_RESPONSE_BODY

    # What happened so far; outcome() freezes it.
    termination: Termination | None = None
    error: GatewayError | None = None
    result: Answer | None = None  # the client's answer, once it is ready
    upstream_seconds: float = 0.0
    ready_at: float | None = None  # trio clock: the answer was ready to send

    async def run(self) -> Outcome:
        """Run the exchange; return how it ended (never raises a GatewayError)."""
        async with trio.open_nursery() as nursery:

            def on_disconnect() -> None:
                self._terminate(Termination.CLIENT_DISCONNECT)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch_disconnect, self.receive, on_disconnect)
            try:
                self.result = self._answer(await self._exchange())
                self.ready_at = trio.current_time()
                self._terminate(Termination.COMPLETED)
            except _Abort as abort:
                self._terminate(abort.termination)
                self.error = abort.error
            finally:
                nursery.cancel_scope.cancel()
        return self.outcome()

    def outcome(self) -> Outcome:
        """How the exchange ended, or how far it got (when the server cancels it mid-way)."""
        termination = self.termination or Termination.SHUTDOWN
        answer = self.result
        if termination is Termination.COMPLETED and answer is not None:
            status = answer.status
        elif self.error is not None:
            status = self.error.status
        else:
            status = 499  # the client left, or the server is shutting down
        return Outcome(
            status=status,
            termination=termination,
            usage=answer.usage if answer else None,
            complete=answer is not None and answer.usage is not None,
            model=answer.model if answer else None,
            provider_id=answer.provider_id if answer else None,
            first_byte_at=self.ready_at,
            upstream_seconds=self.upstream_seconds,
            error=self.error,
        )

    def _terminate(self, reason: Termination) -> None:
        if self.termination is None:  # the first reason is the one that happened
            self.termination = reason

    def _answer(self, result: UnaryResult) -> Answer:
        try:
            return self.answer(result)
        except GatewayError as error:
            raise _Abort(Termination.UPSTREAM_ERROR, error)
        except orjson.JSONEncodeError:  # nested past what can be written back
            message = f"{self.provider.name} returned an answer the gateway cannot re-encode"
            raise _Abort(Termination.UPSTREAM_ERROR, UpstreamError(message))

    async def _exchange(self) -> UnaryResult:
        provider, deadlines = self.provider, self.deadlines
        started = trio.current_time()
        try:
            with trio.move_on_after(deadlines.total):
                return await self._send_and_read(started)
        finally:
            self.upstream_seconds = trio.current_time() - started
        raise _Abort(
            Termination.DEADLINE,
            UpstreamTimeout(
                f"{provider.name}: the exchange took longer than {deadlines.total:g}s "
                "(HTTP_TIMEOUT)",
                code="deadline_exceeded",
            ),
        )

    async def _send_and_read(self, started: float) -> UnaryResult:
        provider, deadlines = self.provider, self.deadlines
        response: httpx.Response | None = None
        try:
            with trio.move_on_at(started + deadlines.first_byte):
                response = await provider.send(self.request)
            if response is None:
                raise _Abort(
                    Termination.HEADER_TIMEOUT,
                    UpstreamTimeout(
                        f"{provider.name}: no response within {deadlines.first_byte:g}s "
                        "(HTTP_RESPONSE_HEADER_TIMEOUT)",
                        code="upstream_timeout",
                    ),
                )
            status = response.status_code
            failed = status >= 400 or (status != 200 and not self.any_success)
            body = await self._read_body(response, MAX_ERROR_BODY if failed else self.max_body)
        except httpx.HTTPError as exc:
            raise _Abort(transport_termination(exc), map_transport_error(exc, provider.name))
        finally:
            if response is not None and not response.is_closed:
                with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                    await response.aclose()
        if failed:
            raise _Abort(Termination.UPSTREAM_ERROR, provider.error(response, body))
        return UnaryResult(status, response.headers, body)

    async def _read_body(self, response: httpx.Response, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        async for chunk in response_body(response):
            size += len(chunk)
            if size > limit:
                if limit == MAX_ERROR_BODY:
                    break  # enough of an error body to say what went wrong
                raise _Abort(
                    Termination.UPSTREAM_ERROR,
                    UpstreamError(
                        f"{self.provider.name}: the response is larger than {limit} bytes "
                        "(UPSTREAM_MAX_BODY_SIZE)",
                        code="upstream_body_too_large",
                    ),
                )
            parts.append(chunk)
        # Read: close it here, so the caller's shielded clean-up has nothing left to do.
        await response.aclose()
        return b"".join(parts)
