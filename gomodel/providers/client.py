"""One provider as the relay sees it: its spec, its pooled transport, requests built for it;
and the one place where httpx exceptions become gateway errors.

Upstream connections are HTTP/1.1 only (:mod:`gomodel.providers.transport`): cancelling an
HTTP/1.1 response closes its TCP connection, which is the only "stop generating" signal a
provider gets (httpcore sends no stream reset on HTTP/2; RELIABILITY.md §2.2).

Requests go straight to the transport: ``httpx.AsyncClient.send`` adds cookie jars, auth and
redirect handling that a gateway never uses, at a measurable cost per request
(docs/benchmarks.md). httpx's ``Request``/``Response`` types stay, so a test transport or
httpx's own (used when a proxy is configured) plugs in unchanged.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, cast

import attrs
import httpx

from gomodel._version import __version__
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
from gomodel.providers.transport import UpstreamTransport
from gomodel.termination import Termination
from gomodel.translate.anthropic_response import error_from_anthropic

__all__ = [
    "ByteChunks",
    "Provider",
    "TransportFactory",
    "make_provider",
    "map_transport_error",
    "response_body",
    "transport_termination",
]

# Builds the transport for one provider; tests pass one that talks to an in-memory upstream.
TransportFactory = Callable[[ProviderConfig], httpx.AsyncBaseTransport]

_USER_AGENT = ("user-agent", f"gomodel/{__version__}")
_BODY_METHODS = ("POST", "PUT", "PATCH")  # httpx gives these a Content-Length even when empty


@attrs.frozen
class Provider:
    config: ProviderConfig
    spec: ProviderSpec
    transport: httpx.AsyncBaseTransport = attrs.field(repr=False)
    timeouts: dict[str, float | None] = attrs.field(repr=False)
    """httpx's ``timeout`` extension: connect, write and pool bounds (the relay owns reads)."""
    openrouter_site_url: str | None = None
    openrouter_app_name: str | None = None
    _urls: dict[str, httpx.URL] = attrs.field(factory=dict, repr=False, eq=False)

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
        """A request in the provider's API: its auth and fixed headers, JSON in and out."""
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
        return self.request(method, url, headers=headers, body=body)

    def request(
        self, method: str, url: str, *, headers: list[tuple[Any, Any]], body: bytes | None
    ) -> httpx.Request:
        """Any request to the provider, headers as given (plus a user agent if none).

        The same request ``httpx.Request(method, url, headers=..., content=body)`` builds (its
        ``Host`` and ``Content-Length`` in the same places), built through httpx's ``stream=``
        form, which takes the headers as they are: the ``content=`` form normalises the headers
        twice and encodes the body through its generic content encoder (73 µs a request
        against 12 on the shared development machine; docs/benchmarks.md).
        """
        parsed = self._urls.get(url)
        if parsed is None:
            parsed = httpx.URL(url)
            if len(self._urls) < 1024:  # endpoints repeat; passthrough paths may not
                self._urls[url] = parsed
        names = {(n if isinstance(n, str) else n.decode("latin-1")).lower() for n, _ in headers}
        if "user-agent" not in names:
            headers.append(_USER_AGENT)
        method = method.upper()
        content = b"" if body is None else body
        framed = "content-length" in names
        if content and not framed:
            headers.append((b"Content-Length", str(len(content)).encode()))
            framed = True
        first = [] if "host" in names or not parsed.host else [(b"Host", parsed.netloc)]
        if not framed and "transfer-encoding" not in names and method in _BODY_METHODS:
            first.append((b"Content-Length", b"0"))
        if first:
            headers[:0] = first
        request = httpx.Request(
            method,
            parsed,
            headers=headers,
            stream=httpx.ByteStream(content),
            extensions={"timeout": self.timeouts},
        )
        request.read()  # the body is in memory: request.content, as with content=
        return request

    async def send(self, request: httpx.Request) -> httpx.Response:
        """One exchange; the response body is the caller's to read and close."""
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.transport.aclose()


class ByteChunks(Protocol):
    """An async iterator of body chunks that can be closed early (``contextlib.aclosing``)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    def __anext__(self) -> Awaitable[bytes]: ...

    async def aclose(self) -> None: ...


def response_body(response: httpx.Response) -> ByteChunks:
    """The body's bytes as they arrive, decoded. Without a content coding (streams ask for
    none) straight from the transport: httpx's ``aiter_bytes`` adds two async-generator layers
    and a decoder per chunk for nothing."""
    coding = response.headers.get("content-encoding", "identity").strip().lower()
    if coding in ("", "identity") and isinstance(response.stream, httpx.AsyncByteStream):
        return cast(ByteChunks, aiter(response.stream))
    return cast(ByteChunks, response.aiter_bytes())


def make_transport(provider: ProviderConfig, config: Config) -> httpx.AsyncBaseTransport:
    """Our transport, or httpx's when the environment names a proxy for this provider."""
    proxy = _env_proxy(provider.base_url)
    # A deployment may have a pool size of its own (providers.<name>.max_connections).
    pool = provider.max_connections or config.http_max_connections
    if proxy is not None:
        limits = httpx.Limits(
            max_connections=pool,
            max_keepalive_connections=min(pool, 100),
            keepalive_expiry=30.0,
        )
        return httpx.AsyncHTTPTransport(
            http1=True, http2=False, limits=limits, retries=0, proxy=proxy
        )
    return UpstreamTransport(
        max_connections=pool,
        max_keepalive_connections=min(pool, 100),
        keepalive_expiry=30.0,
    )


def _env_proxy(base_url: str) -> str | None:
    """``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY`` for ``base_url``, minus ``NO_PROXY``."""
    url = httpx.URL(base_url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(url.scheme) or proxies.get("all")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxy or bypass(url.host, proxies):
        return None
    return proxy


def make_provider(
    provider: ProviderConfig, config: Config, transport_factory: TransportFactory | None = None
) -> Provider:
    # Our own deadlines (first byte, idle gap, total) are trio scopes in the relay; the
    # transport only bounds connecting, writing the request and waiting for a connection.
    timeouts: dict[str, float | None] = {
        "connect": config.http_connect_timeout,
        "read": None,
        "write": config.http_connect_timeout,
        "pool": config.http_pool_timeout,
    }
    transport = (
        transport_factory(provider)
        if transport_factory is not None
        else make_transport(provider, config)
    )
    return Provider(
        config=provider,
        spec=spec_for(provider.type),
        transport=transport,
        timeouts=timeouts,
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


def transport_termination(exc: Exception) -> Termination:
    """How an exchange ended that failed in the transport before any response bytes."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Termination.CONNECT_ERROR
    return Termination.UPSTREAM_ERROR
