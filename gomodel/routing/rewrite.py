"""Minimal body edits for the ``rewrite`` route.

The parsed body is edited and encoded once; fields the gateway does not understand are kept.
:func:`with_model` is the edit every operation shares (the gateway-only ``provider`` field
dropped, the upstream model id set); :func:`upstream_body` adds the chat-only ones. When the only
edit is the usage request and the client sent no ``stream_options``, the member is spliced into
the client's bytes instead, so everything the client wrote stays byte for byte.
Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.ingress.semantics import Semantics
from gomodel.routing.decision import Reason, Route, RouteKind

__all__ = ["upstream_body", "with_model"]

_USAGE_MEMBER = b'"stream_options":{"include_usage":true},'


def with_model(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """A copy of ``doc`` without the gateway-only ``provider`` field and with ``model`` set
    (in its place, when the client sent one)."""
    out = {name: value for name, value in doc.items() if name != "provider"}
    out["model"] = model
    return out


def upstream_body(body: bytes, semantics: Semantics, route: Route) -> bytes:
    """The bytes sent upstream for a request on a route that speaks the client's API: the
    client's own bytes on the fast path, else minimally edited."""
    if route.kind is RouteKind.PASSTHROUGH:
        return body
    if route.reasons == (Reason.USAGE_INJECTED,) and not semantics.has_stream_options:
        return _splice_usage(body)

    doc = with_model(semantics.doc, route.upstream_model)
    if Reason.REASONING_PARAMS in route.reasons:
        max_tokens = doc.pop("max_tokens", None)
        if max_tokens is not None and doc.get("max_completion_tokens") is None:
            doc["max_completion_tokens"] = max_tokens
        doc.pop("temperature", None)
    if Reason.REASONING_EFFORT in route.reasons:
        reasoning = dict(doc.pop("reasoning"))
        effort = reasoning.pop("effort")
        if reasoning:  # keep anything else the client put there
            doc["reasoning"] = reasoning
        doc["reasoning_effort"] = effort
    if route.inject_usage:
        options = doc.get("stream_options")
        doc["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    return orjson.dumps(doc)


def _splice_usage(body: bytes) -> bytes:
    # The body parsed as a non-empty JSON object, so its first non-blank byte is "{" and a
    # member follows it (at least "model" and "messages").
    start = body.index(b"{") + 1
    return body[:start] + _USAGE_MEMBER + body[start:]
