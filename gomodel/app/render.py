"""The one place that turns answers and errors into HTTP.

Every error a client sees has the error's status, the request id, and ``retry-after`` where the
upstream gave one, in the envelope of the API its path speaks (:class:`Envelope`; the route
table says which: ``gomodel.app.routes.envelope_for``): OpenAI's ``{"error": {message, type,
param, code}}``, or on Anthropic's Messages API ``{"type": "error", "error": {type, message}}``
(:func:`~gomodel.translate.messages_errors.anthropic_envelope`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import orjson

from gomodel.errors import GatewayError
from gomodel.relay.watch import Send
from gomodel.translate.messages_errors import anthropic_envelope

__all__ = [
    "Envelope",
    "error_body",
    "send_bytes",
    "send_empty",
    "send_error",
    "send_json",
    "send_raw_json",
]


class Envelope(enum.Enum):
    """Whose error envelope a path speaks."""

    OPENAI = "openai"  # {"error": {"message", "type", "param", "code"}}
    ANTHROPIC = "anthropic"  # {"type": "error", "error": {"type", "message"}}


def error_body(error: GatewayError, envelope: Envelope = Envelope.OPENAI) -> dict[str, object]:
    """The JSON body for ``error`` in ``envelope``."""
    if envelope is Envelope.ANTHROPIC:
        return anthropic_envelope(error)
    return error.envelope()


_JSON = (b"content-type", b"application/json")


async def send_raw_json(
    send: Send, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send_bytes(send, status, body, _JSON[1], headers)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """A whole body of any type (the metrics' text format)."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_empty(
    send: Send, status: int = 204, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """An answer without a body (``204 No Content``)."""
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": b""})


async def send_json(
    send: Send, status: int, doc: object, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await send_raw_json(send, status, orjson.dumps(doc), headers)


async def send_error(
    send: Send,
    error: GatewayError,
    headers: Iterable[tuple[bytes, bytes]] = (),
    envelope: Envelope = Envelope.OPENAI,
) -> None:
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()]
    await send_json(send, error.status, error_body(error, envelope), [*headers, *extra])
