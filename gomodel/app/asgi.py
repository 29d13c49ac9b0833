"""The ASGI application: lifespan, dispatch, auth, body capture, and the last line of defence.

No web framework: a route table (``gomodel.app.routes``) and one function that turns a request
into a snapshot and hands it to a handler. The lifespan owns the runtime and its nursery of
background tasks, so ``hypercorn --worker-class trio gomodel.asgi:app`` behaves like
``gomodel serve``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import trio

from gomodel.app.render import send_error
from gomodel.app.routes import PREFIXES, PUBLIC, ROUTES, envelope_for
from gomodel.app.runtime import Runtime, open_runtime
from gomodel.config import Config
from gomodel.errors import (
    BodyTimeout,
    BodyTooLarge,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PermissionDenied,
    UpstreamUnavailable,
)
from gomodel.ingress.auth import AuthMethod
from gomodel.ingress.forwarded import is_local_client
from gomodel.ingress.snapshot import (
    Headers,
    RequestSnapshot,
    asgi_headers,
    ensure_request_id,
    header,
)
from gomodel.keys.cache import AuthKeyCache
from gomodel.pipeline.context import Handler, RequestContext
from gomodel.providers.client import TransportFactory
from gomodel.relay.watch import ClientGone, Receive, Send
from gomodel.usage.record import UsageSink

__all__ = ["GatewayApp"]

log = logging.getLogger("gomodel")

_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class GatewayApp:
    """An ASGI 3 application. ``config`` may be a ready :class:`Config` or a function that
    loads one at startup (so a bad setting fails the lifespan with a clear message)."""

    def __init__(
        self,
        config: Config | Callable[[], Config],
        *,
        transport_factory: TransportFactory | None = None,
        usage: UsageSink | None = None,
        auth_keys: AuthKeyCache | None = None,
        span_processor: object = None,
    ) -> None:
        self._config = config
        self._transport_factory = transport_factory
        self._usage = usage
        self._auth_keys = auth_keys
        self._span_processor = span_processor  # traces to a test's exporter (OTEL_ENABLED)
        self.runtime: Runtime | None = None
        self.in_flight = 0  # requests being served now, probes aside (MAX_CONCURRENT_REQUESTS)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[Runtime]:
        """Run the gateway's runtime (clients, background tasks) for the duration of the block.

        The lifespan protocol uses this; tests that drive the app directly can too.
        """
        config = self._config if isinstance(self._config, Config) else self._config()
        _log_startup(config)
        async with open_runtime(
            config,
            transport_factory=self._transport_factory,
            usage=self._usage,
            auth_keys=self._auth_keys,
            span_processor=self._span_processor,
        ) as runtime:
            self.runtime = runtime
            try:
                yield runtime
            finally:
                self.runtime = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: not served
            await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        try:
            async with self.serving():
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:
            # Before startup completed this is a startup failure; after, a shutdown problem.
            log.error("gateway failed: %s", exc)
            if self.runtime is None and message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        received = asgi_headers(scope)
        request_id = ensure_request_id(header(received, b"x-request-id"))
        headers = [(b"x-request-id", request_id.encode())]
        envelope = envelope_for(scope["path"])  # whose error envelope every error here is in
        ctx: RequestContext | None = None
        admitted = False
        try:
            method, path = scope["method"], scope["path"]
            methods: Mapping[str, Handler] | None = ROUTES.get(path)
            # Routes the runtime adds (the metrics path) check their own credentials.
            own = None if methods is not None or self.runtime is None else self.runtime.routes
            if own and path in own:
                methods = own[path]
            if methods is None:
                methods = next(
                    ({method: h} for prefix, h in PREFIXES if path.startswith(prefix)), None
                )
            if methods is None:
                raise NotFound(f"unknown route: {method} {path}", code="unknown_route")
            handler = methods.get(method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                raise MethodNotAllowed(
                    f"method {method} is not allowed on {path}; allowed: {allowed}",
                    headers={"allow": allowed},
                )
            runtime = self.runtime
            if runtime is None:
                raise UpstreamUnavailable("the gateway is starting or stopping", code="not_ready")
            principal = None
            if path not in PUBLIC and not (own and path in own):
                config = runtime.config
                principal = await runtime.stages.authenticator.authenticate(
                    received, admin=path.startswith("/admin/")
                )
                if principal.method is AuthMethod.NONE and not config.allow_unauthenticated:
                    _only_local(scope, received, config)
                if self.in_flight >= config.max_concurrent_requests:
                    raise _overloaded(config.max_concurrent_requests)
                self.in_flight += 1
                admitted = True
            body = b""
            if method in _METHODS_WITH_BODY:
                body = await _read_body(received, receive, runtime)
            snapshot = RequestSnapshot.from_asgi(
                scope, body, request_id, received_at=trio.current_time(), headers=received
            )
            ctx = RequestContext(snapshot, runtime, receive, send, headers)
            if principal is not None:
                ctx.principal = principal
            await handler(ctx)
        except ClientGone:
            return
        except orjson.JSONEncodeError:
            # A body orjson read but cannot write back (nested past 254 levels) reached a
            # re-encode (a rewrite, a translation): the client's problem, said before any
            # upstream call. Answers the gateway re-encodes are guarded in the relays.
            if ctx is None or not ctx.started:
                error = InvalidRequest(
                    "invalid request body: nested too deeply to be forwarded (at most 254 levels)",
                    code="body_too_deep",
                )
                await send_error(send, error, ctx.headers if ctx is not None else headers, envelope)
        except GatewayError as error:
            if ctx is not None and ctx.started:
                log.warning(
                    "request_id=%s failed after the response started: %r", request_id, error
                )
                return
            await send_error(send, error, ctx.headers if ctx is not None else headers, envelope)
        except Exception:
            log.exception("request_id=%s unexpected error", request_id)
            if ctx is None or not ctx.started:
                await send_error(
                    send,
                    GatewayError("an unexpected error occurred", code="internal_error"),
                    headers,
                    envelope,
                )
        finally:
            if admitted:
                self.in_flight -= 1


def _only_local(scope: dict[str, Any], headers: Headers, config: Config) -> None:
    """With no master key, only clients on this machine are served (unless
    GOMODEL_ALLOW_UNAUTHENTICATED): docs/security.md, "Without a master key"."""
    client = scope.get("client")
    peer = str(client[0]) if isinstance(client, list | tuple) and client else None
    if not is_local_client(peer, headers, config.trusted_proxy_hops):
        raise PermissionDenied(
            "this gateway has no GOMODEL_MASTER_KEY and serves only clients on its own machine; "
            "set GOMODEL_MASTER_KEY (or GOMODEL_ALLOW_UNAUTHENTICATED=true to serve everyone)",
            code="unauthenticated_remote_client",
        )


def _overloaded(limit: int) -> Overloaded:
    return Overloaded(
        f"the gateway is serving its limit of {limit} concurrent requests "
        "(MAX_CONCURRENT_REQUESTS); retry shortly",
        code="server_overloaded",
        headers={"retry-after": "1"},
    )


async def _read_body(headers: Headers, receive: Receive, runtime: Runtime) -> bytes:
    """The whole request body, within BODY_SIZE_LIMIT and BODY_READ_TIMEOUT."""
    limit = runtime.config.body_size_limit
    declared = header(headers, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    with trio.move_on_after(runtime.config.body_read_timeout):
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            parts.append(chunk)
            if not message.get("more_body", False):
                return b"".join(parts)
    raise BodyTimeout(
        f"the request body did not arrive within {runtime.config.body_read_timeout:g}s",
        code="body_timeout",
    )


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"the request body is larger than the limit of {limit} bytes (BODY_SIZE_LIMIT)",
        code="body_too_large",
    )


def _log_startup(config: Config) -> None:
    for warning in config.warnings:
        log.warning("%s", warning)
    if not config.providers:
        log.warning(
            "no provider is configured: set e.g. OPENAI_API_KEY (and OPENAI_BASE_URL for any "
            "OpenAI-compatible server), ANTHROPIC_API_KEY, GROQ_API_KEY, GEMINI_API_KEY, "
            "OPENROUTER_API_KEY, XAI_API_KEY, DEEPSEEK_API_KEY, OLLAMA_BASE_URL, or a "
            "providers: map in config.yaml; serving /health and an empty model list"
        )
    else:
        names = ", ".join(f"{p.name} ({p.type})" for p in config.providers)
        log.info("providers: %s", names)
    if not config.master_key and config.allow_unauthenticated:
        log.warning(
            "GOMODEL_MASTER_KEY is not set: the gateway accepts requests without authentication "
            "from anyone who can reach it (GOMODEL_ALLOW_UNAUTHENTICATED=true)"
        )
    elif not config.master_key:
        log.warning(
            "GOMODEL_MASTER_KEY is not set: the gateway accepts requests without authentication, "
            "from clients on this machine only; others get 403"
        )
