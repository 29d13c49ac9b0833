"""The one error tree.

Every failure a client can see is a :class:`GatewayError`. Each error knows its HTTP status and
its OpenAI error ``type``; ``gomodel.app.render`` is the only place that turns one into bytes::

    GatewayError                      500  provider_error  (a bug; never raised on purpose)
    ├── InvalidRequest                400  invalid_request_error   (param names the field)
    │   ├── BodyTooLarge              413
    │   └── BodyTimeout               408
    ├── AuthenticationFailed          401  authentication_error
    ├── PermissionDenied              403  permission_error
    ├── NotFound                      404  not_found_error
    │   └── ModelNotFound             404  code=model_not_found
    ├── MethodNotAllowed              405  invalid_request_error
    ├── RateLimited                   429  rate_limit_error    (retry_after kept)
    ├── Overloaded                    503  server_error        (MAX_CONCURRENT_REQUESTS)
    └── UpstreamError                 502  provider_error      (status preserved from upstream)
        ├── UpstreamTimeout           504
        └── UpstreamUnavailable       503 (pool exhausted) / 502 (connect refused)

:class:`ConfigError` is separate: it is raised at startup, never rendered to a client.

The shared-state edge (``gomodel.redis``) has its own two errors, which a caller catches and turns
into a policy (fail open, or refuse) before anything reaches a client::

    RedisError
    ├── RedisUnavailable        cannot connect, no reply within the timeout, connection broken
    │   └── RedisProtocolError  the server sent bytes that are not RESP2 (connection dropped)
    └── RedisReplyError         Redis answered with an error reply (``code``: its first word)

This module is pure: it imports no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

__all__ = [
    "AuthenticationFailed",
    "BodyTimeout",
    "BodyTooLarge",
    "ConfigError",
    "GatewayError",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelNotFound",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "RateLimited",
    "RedisError",
    "RedisProtocolError",
    "RedisReplyError",
    "RedisUnavailable",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "error_from_upstream",
]


class GatewayError(Exception):
    """An error with an HTTP status and an OpenAI error envelope."""

    status: int = 500
    error_type: str = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})

    def envelope(self) -> dict[str, object]:
        """The OpenAI error object: ``{"error": {message, type, param, code}}``."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.message!r}, code={self.code!r})"


class InvalidRequest(GatewayError):
    status = 400
    error_type = "invalid_request_error"


class BodyTooLarge(InvalidRequest):
    status = 413


class BodyTimeout(InvalidRequest):
    status = 408


class AuthenticationFailed(GatewayError):
    status = 401
    error_type = "authentication_error"


class PermissionDenied(GatewayError):
    """The credentials are good but do not reach this resource (a key's model allow-list)."""

    status = 403
    error_type = "permission_error"


class NotFound(GatewayError):
    status = 404
    error_type = "not_found_error"


class ModelNotFound(NotFound):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model '{model}' does not exist or is not served by any configured provider",
            param="model",
            code="model_not_found",
        )


class MethodNotAllowed(GatewayError):
    status = 405
    error_type = "invalid_request_error"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limit_error"


class Overloaded(GatewayError):
    """The gateway itself is at capacity (not a provider): retry shortly."""

    status = 503
    error_type = "server_error"


class UpstreamError(GatewayError):
    status = 502
    error_type = "provider_error"


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamUnavailable(UpstreamError):
    status = 503


class ConfigError(Exception):
    """A setting has a bad value. ``gomodel`` exits with status 2 and prints the message."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class RedisError(Exception):
    """A shared-state call failed; see :class:`RedisUnavailable` and :class:`RedisReplyError`."""


class RedisUnavailable(RedisError):
    """Redis could not be reached, did not answer within the call's timeout, or the connection
    broke while the call waited. Whether the call took effect is unknown."""


class RedisProtocolError(RedisUnavailable):
    """The server sent bytes that are not RESP2; the connection cannot be trusted any more."""


class RedisReplyError(RedisError):
    """Redis answered the call with an error reply, such as ``NOSCRIPT No matching script``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        """The error's first word (``NOSCRIPT``, ``WRONGTYPE``, ``ERR``)."""
        return self.message.split(" ", 1)[0]


# Upstream error bodies are read up to this size; the rest is not worth a client's time.
MAX_ERROR_BODY = 64 * 1024


def error_from_upstream(
    provider: str,
    status: int,
    body: bytes,
    *,
    content_type: str = "",
    retry_after: str | None = None,
) -> GatewayError:
    """Map an upstream error response to a gateway error (SPEC §6.3).

    The message is ``error.message`` from an OpenAI- or Anthropic-shaped JSON body. A body that is
    not JSON (an HTML page from a load balancer, say) is never relayed: the client gets a short
    message naming the provider and the status instead.
    """
    message, param, code = _parse_error_body(body, content_type)
    message = f"{provider}: {message}" if message else f"{provider} returned HTTP {status}"
    headers = {"retry-after": retry_after} if retry_after else {}
    cls: type[GatewayError]
    if status == 401 or status == 403:
        cls = AuthenticationFailed
    elif status == 404:
        cls = NotFound
    elif status == 429:
        cls = RateLimited

    elif 400 <= status < 500:
        cls = InvalidRequest
    elif status >= 500:
        cls = UpstreamError
    else:
        return UpstreamError(
            f"{provider} returned an unexpected HTTP {status}", status=502, headers=headers
        )
    return cls(message, param=param, code=code, status=status, headers=headers)


def _parse_error_body(body: bytes, content_type: str) -> tuple[str | None, str | None, str | None]:
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        return None, None, None
    try:
        doc = orjson.loads(body[:MAX_ERROR_BODY])
    except orjson.JSONDecodeError:
        text = body[:512].decode("utf-8", "replace").strip()
        # A short plain-text reason is useful; anything long or binary is not.
        if text and text.isprintable() and len(body) <= 512:
            return text, None, None
        return None, None, None
    if not isinstance(doc, dict):
        return None, None, None
    err = doc.get("error")
    if isinstance(err, str) and err:
        return err, None, None
    if not isinstance(err, dict):
        msg = doc.get("message")
        return (msg if isinstance(msg, str) and msg else None), None, None
    message = err.get("message")
    param = err.get("param")
    code = err.get("code")

    return (
        message if isinstance(message, str) and message else None,
        param if isinstance(param, str) else None,
        code if isinstance(code, str) else None,
    )
