"""One pooled ``httpx.AsyncClient`` per configured provider, and the one place where httpx
exceptions become gateway errors.

Upstream connections are HTTP/1.1 only: cancelling an HTTP/1.1 response closes its TCP
connection, which is the only "stop generating" signal a provider gets (httpcore sends no
stream reset on HTTP/2; RELIABILITY.md §2.2).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import httpx

from gomodel.config import Config, ProviderConfig
from gomodel.errors import (
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_from_upstream,
)
from gomodel.providers.endpoints import upstream_headers, upstream_url
from gomodel.providers.spec import Dialect, ProviderSpec, spec_for
from gomodel.translate.anthropic_response import error_from_anthropic

__all__ = ["Provider", "TransportFactory", "make_client", "map_transport_error"]

# Builds the transport for one provider; tests pass one that talks to an in-memory upstream.
TransportFactory = Callable[[ProviderConfig], httpx.AsyncBaseTransport]


@attrs.frozen
class Provider:
    config: ProviderConfig
    spec: ProviderSpec
    client: httpx.AsyncClient = attrs.field(repr=False)
    openrouter_site_url: str | None = None
    openrouter_app_name: str | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def url(self, endpoint: str) -> str:
        return upstream_url(self.config, self.spec, endpoint)

    def error(self, response: httpx.Response, body: bytes) -> GatewayError:
        """The gateway error for an upstream error response, read in the provider's dialect."""
        parse = (
            error_from_anthropic if self.spec.dialect is Dialect.ANTHROPIC else error_from_upstream
        )
        return parse(
            self.name,
            response.status_code,
            body,
            content_type=response.headers.get("content-type", ""),
            retry_after=response.headers.get("retry-after"),
        )

    def build_request(
        self, method: str, url: str, *, body: bytes | None, request_id: str | None, stream: bool
    ) -> httpx.Request:
        headers = upstream_headers(
            self.config,
            self.spec,
            request_id=request_id,
            openrouter_site_url=self.openrouter_site_url,
            openrouter_app_name=self.openrouter_app_name,
        )
        if body is not None:
            headers.append(("content-type", "application/json"))
        # Streams are parsed event by event: ask for them uncompressed.
        headers.append(("accept-encoding", "identity" if stream else "gzip, deflate"))
        headers.append(("accept", "text/event-stream" if stream else "application/json"))
        return self.client.build_request(method, url, content=body, headers=headers)


def make_client(
    provider: ProviderConfig, config: Config, transport_factory: TransportFactory | None = None
) -> httpx.AsyncClient:
    # Our own deadlines (first byte, idle gap, total) are trio scopes in the relay; httpx only
    # bounds connecting, writing the request and waiting for a pooled connection.
    timeout = httpx.Timeout(
        connect=config.http_connect_timeout,
        read=None,
        write=config.http_connect_timeout,
        pool=config.http_pool_timeout,
    )
    limits = httpx.Limits(
        max_connections=config.http_max_connections,
        max_keepalive_connections=min(config.http_max_connections, 100),
        keepalive_expiry=30.0,
    )
    transport = (
        transport_factory(provider)
        if transport_factory is not None
        else httpx.AsyncHTTPTransport(http1=True, http2=False, limits=limits, retries=0)
    )
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, limits=limits, follow_redirects=False
    )


def make_provider(
    provider: ProviderConfig, config: Config, transport_factory: TransportFactory | None = None
) -> Provider:
    return Provider(
        config=provider,
        spec=spec_for(provider.type),
        client=make_client(provider, config, transport_factory),
        openrouter_site_url=config.openrouter_site_url,
        openrouter_app_name=config.openrouter_app_name,
    )


def map_transport_error(exc: Exception, provider: str) -> GatewayError:
    """A transport failure before any response bytes, as the error the client sees."""
    if isinstance(exc, httpx.PoolTimeout):
        return UpstreamUnavailable(
            f"{provider}: no upstream connection became free in time; the gateway is at its "
            "connection limit (HTTP_MAX_CONNECTIONS)",
            code="upstream_pool_exhausted",
            headers={"retry-after": "1"},
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return UpstreamTimeout(
            f"{provider}: timed out connecting to the provider", code="upstream_timeout"
        )
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"{provider}: the provider timed out", code="upstream_timeout")
    if isinstance(exc, httpx.ConnectError):
        return UpstreamError(
            f"{provider}: failed to connect to the provider: {exc or type(exc).__name__}",
            code="upstream_unreachable",
        )
    return UpstreamError(
        f"{provider}: failed to read the provider's response: {exc or type(exc).__name__}",
        code="upstream_error",
    )
