"""Minimal body edits for the ``rewrite`` route.

The parsed body is edited and encoded once; fields the gateway does not understand are kept.
:func:`with_model` is the edit every operation shares (the gateway-only ``provider`` field
dropped, the upstream model id set); :func:`upstream_body` adds the chat-only ones. When the only
edit is the usage request and the client sent no ``stream_options``, the member is spliced into
the client's bytes instead, so everything the client wrote stays byte for byte. Likewise a
virtual model's target that only needs another ``model`` value gets just that value replaced in
the client's bytes (:func:`splice_model`).
:func:`messages_body` is the Messages API's (``/v1/messages`` to Anthropic): the selector, the
``provider`` field, and a missing ``max_tokens`` (:func:`fill_max_tokens`).
Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gomodel.ingress.semantics import Semantics
from gomodel.routing.decision import Reason, Route, RouteKind

__all__ = [
    "fill_max_tokens",
    "messages_body",
    "model_body",
    "splice_model",
    "upstream_body",
    "with_model",
]

_USAGE_MEMBER = b'"stream_options":{"include_usage":true},'
_SPLICEABLE = frozenset({Reason.VIRTUAL_MODEL, Reason.USAGE_INJECTED})


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
    reasons = set(route.reasons)
    usage = Reason.USAGE_INJECTED in reasons
    if reasons <= _SPLICEABLE and not (usage and semantics.has_stream_options):
        out: bytes | None = body
        if Reason.VIRTUAL_MODEL in reasons:
            out = splice_model(body, semantics.doc, route.upstream_model)
        if out is not None:
            return _splice_usage(out) if usage else out

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


def model_body(body: bytes, semantics: Semantics, route: Route) -> bytes:
    """The body for a route whose only possible edits are the model selector and the
    ``provider`` field (Responses, embeddings): the client's bytes, the model spliced, or the
    parsed body edited."""
    if route.kind is RouteKind.PASSTHROUGH:
        return body
    if route.reasons == (Reason.VIRTUAL_MODEL,):
        spliced = splice_model(body, semantics.doc, route.upstream_model)
        if spliced is not None:
            return spliced
    return orjson.dumps(with_model(semantics.doc, route.upstream_model))


def splice_model(body: bytes, doc: dict[str, Any], model: str) -> bytes | None:
    """``body`` (parsed: ``doc``) with the value of its top-level ``"model"`` member replaced
    by ``model``, every other byte as the client sent it; ``None`` when that member cannot be
    found with certainty (spelled with escapes, or the pattern also matches elsewhere).

    A quote right after ``{``, ``,`` or whitespace opens a string (inside a JSON string every
    quote is escaped), so a match is a member named ``model``; the result is parsed once and
    compared with ``doc`` to make sure only the top-level member changed."""
    requested = doc.get("model")
    if not isinstance(requested, str):
        return None
    pattern = re.compile(rb'[{,]\s*"model"\s*:\s*(' + re.escape(orjson.dumps(requested)) + rb")")
    matches = list(pattern.finditer(body))
    if len(matches) != 1:
        return None
    start, end = matches[0].span(1)
    out = body[:start] + orjson.dumps(model) + body[end:]
    try:
        edited = orjson.loads(out)
    except orjson.JSONDecodeError:
        return None
    return out if edited == {**doc, "model": model} else None


def _splice_usage(body: bytes) -> bytes:
    # The body parsed as a non-empty JSON object, so its first non-blank byte is "{" and a
    # member follows it (at least "model" and "messages").
    start = body.index(b"{") + 1
    return body[:start] + _USAGE_MEMBER + body[start:]


def fill_max_tokens(doc: dict[str, Any], default: int) -> int:
    """The ``max_tokens`` the gateway gives a Messages request that has none: ``default``
    (ANTHROPIC_DEFAULT_MAX_TOKENS), on top of the thinking budget when the request thinks
    (``max_tokens`` counts thinking, and Anthropic wants it above ``budget_tokens``; the chat ->
    Anthropic translation does the same)."""
    thinking = doc.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
    if (
        isinstance(thinking, dict)
        and thinking.get("type") == "enabled"
        and isinstance(budget, int)
        and not isinstance(budget, bool)
        and budget > 0
    ):
        return budget + default
    return default


def messages_body(
    body: bytes, semantics: Semantics, route: Route, default_max_tokens: int | None
) -> bytes:
    """The bytes of a Messages request to a provider that speaks the Messages API: the
    client's own on the fast path; else edited once (selector, ``provider`` field, and
    ``max_tokens`` when the route says it is filled in)."""
    if route.kind is RouteKind.PASSTHROUGH:
        return body
    if route.reasons == (Reason.VIRTUAL_MODEL,):
        return model_body(body, semantics, route)
    doc = with_model(semantics.doc, route.upstream_model)
    if Reason.MAX_TOKENS_DEFAULT in route.reasons and default_max_tokens is not None:
        doc["max_tokens"] = fill_max_tokens(doc, default_max_tokens)
    return orjson.dumps(doc)
