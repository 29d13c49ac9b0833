"""A non-streaming upstream exchange, watched for client disconnects.

The client leaving at any point (waiting for a pooled connection, connecting, waiting for the
answer, reading it) cancels the exchange, which closes the upstream connection.
"""

from __future__ import annotations

import attrs
import httpx
import trio

from gomodel.errors import (
    MAX_ERROR_BODY,
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
)
from gomodel.providers.client import Provider, map_transport_error, response_body
from gomodel.relay.watch import ClientGone, Deadlines, Receive, watch_disconnect

__all__ = ["MAX_RESPONSE_BODY", "UnaryResult", "fetch"]

# A JSON answer larger than this is refused rather than held in memory.
MAX_RESPONSE_BODY = 64 * 1024 * 1024


@attrs.frozen
class UnaryResult:
    status: int
    headers: httpx.Headers
    body: bytes
    upstream_seconds: float


async def fetch(
    provider: Provider,
    request: httpx.Request,
    *,
    receive: Receive,
    deadlines: Deadlines,
    any_success: bool = False,
) -> UnaryResult:
    """Send ``request`` and read the whole answer. Raises ``GatewayError`` or ``ClientGone``.

    Only 200 is an answer, unless ``any_success`` (passthrough routes): then every status
    below 400 is, and the caller relays it.
    """
    result: UnaryResult | None = None
    error: GatewayError | None = None
    gone = False

    async with trio.open_nursery() as nursery:

        def on_disconnect() -> None:
            nonlocal gone
            gone = True
            nursery.cancel_scope.cancel()

        nursery.start_soon(watch_disconnect, receive, on_disconnect)
        try:
            result = await _exchange(provider, request, deadlines, any_success)
        except GatewayError as exc:
            error = exc
        finally:
            nursery.cancel_scope.cancel()
    if gone:
        raise ClientGone
    if error is not None:
        raise error
    assert result is not None
    return result


async def _exchange(
    provider: Provider, request: httpx.Request, deadlines: Deadlines, any_success: bool
) -> UnaryResult:
    started = trio.current_time()
    with trio.move_on_after(deadlines.total) as total_scope:
        response: httpx.Response | None = None
        try:
            with trio.move_on_after(deadlines.first_byte) as header_scope:
                response = await provider.send(request)
            if header_scope.cancelled_caught:
                raise UpstreamTimeout(
                    f"{provider.name}: no response within {deadlines.first_byte:g}s "
                    "(HTTP_RESPONSE_HEADER_TIMEOUT)",
                    code="upstream_timeout",
                )
            assert response is not None
            failed = response.status_code >= 400 or (
                response.status_code != 200 and not any_success
            )
            limit = MAX_ERROR_BODY if failed else MAX_RESPONSE_BODY
            body = await _read_body(response, limit, provider.name)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, provider.name)
        finally:
            if response is not None and not response.is_closed:
                with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                    await response.aclose()
        if failed:
            raise provider.error(response, body)
        return UnaryResult(
            response.status_code, response.headers, body, trio.current_time() - started
        )
    assert total_scope.cancelled_caught
    raise UpstreamTimeout(
        f"{provider.name}: the exchange took longer than {deadlines.total:g}s (HTTP_TIMEOUT)",
        code="deadline_exceeded",
    )


async def _read_body(response: httpx.Response, limit: int, provider: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in response_body(response):
        size += len(chunk)
        if size > limit:
            if limit == MAX_ERROR_BODY:
                break  # enough of an error body to say what went wrong
            raise UpstreamError(f"{provider}: the response is larger than {limit} bytes")
        parts.append(chunk)
    # Read: close it here, so the caller's shielded clean-up has nothing left to do.
    await response.aclose()
    return b"".join(parts)
