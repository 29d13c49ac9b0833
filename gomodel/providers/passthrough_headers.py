"""Which headers cross a passthrough call (``/p/{provider}/...``), each way. Pure.

Both directions are allow-lists: a header nobody listed here stays where it came from.

Client to provider: what a provider's API needs to read the request (its media type, content
coding, what the client accepts, an idempotency key) and the provider's own API-version and
beta switches. Never the client's credentials (the gateway adds the provider's own), never
who the end user is (``X-Forwarded-*``, ``Forwarded``, ``X-Real-IP``), never a choice of
organisation or project on the operator's key (``OpenAI-Organization``, ``OpenAI-Project``),
never SDK telemetry, tracing or cookies. A listed header named in ``Connection`` is hop-by-hop
and stays too.

Provider to client: the body's description, caching validators and the provider's retry
advice, its own request id and processing time. Not what describes the operator's account
(organisation and project ids, rate-limit budgets shared by every client of the gateway),
cookies, or the provider's infrastructure; framing is the gateway's own.
"""

from __future__ import annotations

from collections.abc import Iterable

from gomodel.errors import InvalidRequest

__all__ = [
    "REQUEST_HEADERS",
    "RESPONSE_HEADERS",
    "request_headers_for",
    "response_headers_for",
]

_COMMON_REQUEST = frozenset(
    {
        b"content-type",
        b"content-encoding",  # the body goes verbatim, so its coding must go with it
        b"accept",
        b"idempotency-key",
    }
)
_OPENAI_REQUEST = _COMMON_REQUEST | {b"openai-beta"}
# Per provider type; a type not listed gets the common headers only.
REQUEST_HEADERS: dict[str, frozenset[bytes]] = {
    "openai": _OPENAI_REQUEST,
    "azure": _OPENAI_REQUEST,
    "anthropic": _COMMON_REQUEST | {b"anthropic-version", b"anthropic-beta"},
}

RESPONSE_HEADERS = frozenset(
    {
        b"content-type",
        b"content-disposition",  # file downloads
        b"content-language",
        b"cache-control",
        b"etag",
        b"last-modified",
        b"retry-after",
        b"retry-after-ms",  # read by the OpenAI and Anthropic SDKs
        b"x-should-retry",  # likewise
        b"request-id",  # Anthropic's id for the call (OpenAI's X-Request-ID is the gateway's)
        b"openai-processing-ms",
        b"openai-version",
    }
)


def request_headers_for(
    client: Iterable[tuple[bytes, bytes]],
    provider_type: str,
    own: Iterable[tuple[str, str]],
) -> list[tuple[str, str]]:
    """The headers of the upstream request: the client's allowed ones, then the gateway's own
    (``own``: the provider's auth, request id, fixed headers), except where the client set an
    allowed header itself (its ``anthropic-version`` wins over the default). An allowed header
    whose value is not ASCII is a 400: no provider API defines one, and httpx cannot send it."""
    client = tuple(client)
    allowed = REQUEST_HEADERS.get(provider_type, _COMMON_REQUEST)
    hop_by_hop = {
        token.strip().lower().encode("latin-1")
        for name, value in client
        if name == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    forwarded = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in client
        if name in allowed and name not in hop_by_hop
    ]
    for name, value in forwarded:
        if not value.isascii():
            raise InvalidRequest(
                f"the {name} header cannot be forwarded: its value is not ASCII",
                param=name,
                code="invalid_header",
            )
    names = {name for name, _ in forwarded}
    return forwarded + [(name, value) for name, value in own if name.lower() not in names]


def response_headers_for(upstream: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The provider's response headers (raw name and value bytes) the client gets, names in
    lower case."""
    return [(name.lower(), value) for name, value in upstream if name.lower() in RESPONSE_HEADERS]
