"""``/p/{provider}/{endpoint...}``: a provider's own API, with the gateway's auth, request id,
deadlines, disconnect handling and usage around it (SPEC §4.7).

The provider segment is a configured provider name or a provider type, which must be in
``ENABLED_PASSTHROUGH_PROVIDERS``; ``/p/openai/v1/...`` means ``/p/openai/...`` unless
``ALLOW_PASSTHROUGH_V1_ALIAS`` is off. Method, query string and body go upstream as they are;
the endpoint is rebuilt segment by segment from the raw path (:mod:`gomodel.ingress.paths`).
Headers cross on allow-lists both ways (:mod:`gomodel.providers.passthrough_headers`); the
provider's own auth is added. A request whose JSON body asks for ``"stream":
true`` goes through the stream relay (events relayed verbatim, usage observed for
``openai`` chat completions and ``anthropic`` messages); any other answer is relayed with its
status and headers. Upstream errors (>= 400) become the OpenAI error envelope.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import trio

from gomodel.app.accounting import record_usage, termination_for
from gomodel.app.context import RequestContext
from gomodel.errors import GatewayError, InvalidRequest
from gomodel.ingress.paths import passthrough_path, upstream_query
from gomodel.ingress.user_path import normalize_user_path
from gomodel.providers.client import Provider
from gomodel.providers.endpoints import upstream_headers
from gomodel.providers.passthrough_headers import request_headers_for, response_headers_for
from gomodel.relay.unary import fetch
from gomodel.relay.watch import ClientGone
from gomodel.routing.resolve import Resolution
from gomodel.termination import Termination
from gomodel.translate.anthropic_response import usage_from_anthropic
from gomodel.translate.anthropic_stream import AnthropicChatStream
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.usage.extract import Usage, usage_from_object
from gomodel.wire.sse import Event

__all__ = ["PREFIX", "passthrough"]

PREFIX = "/p/"


async def passthrough(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    config = runtime.config
    if not config.enable_passthrough_routes:
        raise InvalidRequest("provider passthrough routes are disabled (ENABLE_PASSTHROUGH_ROUTES)")
    target = passthrough_path(ctx.snapshot.raw_path, ctx.snapshot.path)
    segment = target.provider
    provider = _provider(runtime.providers, segment)
    enabled = config.enabled_passthrough_providers
    if provider is None or provider.spec.type not in enabled:
        what = "not configured" if provider is None else "not enabled"
        raise InvalidRequest(
            f"provider passthrough for {segment!r} is {what}; enabled provider types: "
            + (", ".join(enabled) or "none"),
            param="provider",
        )
    if target.v1_alias and not config.allow_passthrough_v1_alias:
        raise InvalidRequest(
            "provider passthrough v1 alias is disabled; use /p/{provider}/... without v1"
        )
    endpoint = target.upstream_endpoint
    if not endpoint:
        raise InvalidRequest("provider passthrough endpoint is required")
    ctx.user_path = normalize_user_path(ctx.snapshot.header(b"x-gomodel-user-path"))
    ctx.headers.append((b"x-gomodel-route", b"passthrough"))

    doc = _json(ctx.snapshot.body)
    model = doc.get("model") if isinstance(doc.get("model"), str) else None
    operation = f"{provider.spec.type}:{endpoint}"
    url = f"{provider.config.base_url}/{endpoint}{upstream_query(ctx.snapshot.query)}"
    request = provider.request(
        ctx.snapshot.method,
        url,
        headers=_request_headers(ctx, provider),
        body=ctx.snapshot.body or None,
    )
    resolution = Resolution(
        provider.name, model or "", model or "", qualified=False, explicit_provider=False
    )
    call = _Call(ctx, provider, resolution, target.path)
    if doc.get("stream") is True:
        await _stream(call, request, operation)
    else:
        await _unary(call, request, operation)


@attrs.frozen
class _Call:
    ctx: RequestContext
    provider: Provider
    resolution: Resolution
    endpoint: str

    def record(
        self,
        *,
        stream: bool,
        status: int,
        termination: Termination,
        usage: Usage | None,
        complete: bool,
        model: str | None,
        first_byte_at: float | None,
        upstream_seconds: float,
    ) -> None:
        record_usage(
            self.ctx,
            endpoint=self.endpoint,
            provider=self.provider,
            resolution=self.resolution,
            route="passthrough",
            route_header="passthrough",
            stream=stream,
            status=status,
            termination=termination,
            usage=usage,
            complete=complete,
            model=model,
            provider_id=None,
            first_byte_at=first_byte_at,
            upstream_seconds=upstream_seconds,
        )


async def _unary(call: _Call, request: Any, operation: str) -> None:
    ctx = call.ctx
    try:
        result = await fetch(
            call.provider,
            request,
            receive=ctx.receive,
            deadlines=ctx.runtime.deadlines,
            any_success=True,
        )
    except ClientGone:
        call.record(
            stream=False,
            status=499,
            termination=Termination.CLIENT_DISCONNECT,
            usage=None,
            complete=False,
            model=None,
            first_byte_at=None,
            upstream_seconds=0.0,
        )
        raise
    except GatewayError as error:
        call.record(
            stream=False,
            status=error.status,
            termination=termination_for(error),
            usage=None,
            complete=False,
            model=None,
            first_byte_at=None,
            upstream_seconds=0.0,
        )
        raise
    answer = _json(result.body)
    usage = (
        usage_from_anthropic(answer.get("usage"))
        if operation == "anthropic:messages"
        else usage_from_object(answer.get("usage"))
    )
    model = answer.get("model") if isinstance(answer.get("model"), str) else None
    call.record(
        stream=False,
        status=result.status,
        termination=Termination.COMPLETED,
        usage=usage,
        complete=usage is not None,
        model=model,
        first_byte_at=trio.current_time(),
        upstream_seconds=result.upstream_seconds,
    )
    headers = response_headers_for(result.headers.raw) + ctx.headers
    headers.append((b"content-length", str(len(result.body)).encode()))
    await ctx.send({"type": "http.response.start", "status": result.status, "headers": headers})
    await ctx.send({"type": "http.response.body", "body": result.body})


@attrs.define
class _RawStream:
    """Relays every event verbatim; reads usage with the observer that knows the operation."""

    inner: ChatStreamObserver | AnthropicChatStream | None

    def feed(self, event: Event) -> bytes | None:
        if self.inner is not None:
            self.inner.feed(event)
        return event.raw

    @property
    def done(self) -> bool:
        # A stream whose terminal event the gateway cannot recognise ends with the body.
        return self.inner.done if self.inner is not None else True

    @property
    def error(self) -> GatewayError | None:
        return self.inner.error if self.inner is not None else None

    @property
    def usage(self) -> Usage | None:
        return self.inner.usage if self.inner is not None else None

    @property
    def model(self) -> str | None:
        return self.inner.model if self.inner is not None else None


async def _stream(call: _Call, request: Any, operation: str) -> None:
    ctx = call.ctx
    inner: ChatStreamObserver | AnthropicChatStream | None = None
    if operation.endswith(":chat/completions"):
        inner = ChatStreamObserver()
    elif operation == "anthropic:messages":
        inner = AnthropicChatStream(call.resolution.model, include_usage=False, created=0)
    observer = _RawStream(inner)
    relay = ctx.stream_relay(call.provider, request, observer)
    try:
        await relay.run()
    finally:
        call.record(
            stream=True,
            status=relay.status,
            termination=relay.termination or Termination.COMPLETED,
            usage=observer.usage,
            complete=observer.usage is not None and observer.done,
            model=observer.model,
            first_byte_at=relay.first_byte_at,
            upstream_seconds=relay.upstream_seconds,
        )
    if relay.error is not None:
        raise relay.error


def _provider(providers: dict[str, Provider], segment: str) -> Provider | None:
    if segment in providers:
        return providers[segment]
    return next((p for p in providers.values() if p.spec.type == segment), None)


def _request_headers(ctx: RequestContext, provider: Provider) -> list[tuple[str, str]]:
    own = upstream_headers(
        provider.config,
        provider.spec,
        request_id=ctx.snapshot.request_id,
        openrouter_site_url=provider.openrouter_site_url,
        openrouter_app_name=provider.openrouter_app_name,
    )
    return request_headers_for(ctx.snapshot.headers, provider.spec.type, own)


def _json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object when it is one (for the model and the stream flag)."""
    if not body or body.lstrip()[:1] != b"{":
        return {}
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
