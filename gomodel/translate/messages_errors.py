"""Gateway errors in Anthropic's shape, for clients of ``POST /v1/messages``.

Anthropic's error body is ``{"type": "error", "error": {"type", "message"}}``; mid-stream the
same object is the data of an ``event: error`` frame, on which the anthropic SDKs raise.

The error ``type`` (:func:`anthropic_error_type`): an error whose ``code`` already is one of
Anthropic's types (an Anthropic upstream's error keeps its type as the code) keeps it;
otherwise the status decides, by Anthropic's documented list (:data:`ERROR_TYPES`): 400
``invalid_request_error``, 401 ``authentication_error``, 402 ``billing_error``, 403
``permission_error``, 404 ``not_found_error``, 413 ``request_too_large``, 429
``rate_limit_error``, 500 and 502 ``api_error``, 503 and 529 ``overloaded_error``, 504
``timeout_error``. Any other 4xx is ``invalid_request_error`` (Anthropic says it uses that
type for unlisted 4xx statuses), any other status ``api_error``.

The envelope has no ``param``: a field the error names (``messages[0].content[1].type``) is put
in front of the message, as Anthropic names the field in its own messages, unless the message
already says it.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.errors import GatewayError
from gomodel.wire.sse import encode_event

__all__ = ["ERROR_TYPES", "anthropic_envelope", "anthropic_error_event", "anthropic_error_type"]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_KNOWN = frozenset(ERROR_TYPES.values())


def anthropic_error_type(error: GatewayError) -> str:
    """Anthropic's error ``type`` for ``error`` (see the module docs)."""
    if error.code is not None and error.code in _KNOWN:
        return error.code
    if error.status in ERROR_TYPES:
        return ERROR_TYPES[error.status]
    return "invalid_request_error" if 400 <= error.status < 500 else "api_error"


def anthropic_envelope(error: GatewayError) -> dict[str, Any]:
    """The Anthropic error body for ``error``: ``{"type": "error", "error": {type, message}}``."""
    message = error.message
    if error.param and error.param not in message:
        message = f"{error.param}: {message}"
    return {"type": "error", "error": {"type": anthropic_error_type(error), "message": message}}


def anthropic_error_event(error: GatewayError) -> bytes:
    """The ``event: error`` frame a Messages stream ends with after ``error``."""
    return encode_event(orjson.dumps(anthropic_envelope(error)), event="error")
