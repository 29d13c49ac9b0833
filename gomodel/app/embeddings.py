"""``POST /v1/embeddings``.

OpenAI-compatible providers get the client's body (verbatim, or with the model selector and the
gateway's ``provider`` field edited) and the answer comes back verbatim. Ollama is asked through
its native ``/api/embed`` and the answer translated to the OpenAI shape. Providers without
embeddings (Anthropic, Oracle, DeepSeek) answer 400 naming the provider. Usage is recorded.
"""

from __future__ import annotations

from typing import Any

import orjson
import trio

from gomodel.app.accounting import record_usage, resolve_model
from gomodel.app.context import RequestContext
from gomodel.app.render import send_raw_json
from gomodel.errors import InvalidRequest, UpstreamError
from gomodel.ingress.semantics import parse_embeddings
from gomodel.ingress.user_path import normalize_user_path
from gomodel.relay.unary import fetch
from gomodel.termination import Termination
from gomodel.usage.extract import usage_from_object

__all__ = ["embeddings"]

ENDPOINT = "/v1/embeddings"


async def embeddings(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    semantics = parse_embeddings(ctx.snapshot.body)
    ctx.user_path = normalize_user_path(ctx.snapshot.header(b"x-gomodel-user-path"))
    resolution = await resolve_model(runtime, semantics.model, semantics.provider)
    provider = runtime.providers[resolution.provider]
    kind = provider.spec.embeddings
    if kind is None:
        raise InvalidRequest(
            f"{provider.name} ({provider.spec.type}) does not support embeddings", param="model"
        )

    reasons = [
        reason
        for reason, applies in (
            ("qualified_selector", resolution.qualified),
            ("provider_field", "provider" in semantics.doc),
            ("dialect", kind == "ollama"),
        )
        if applies
    ]
    route = "translate" if kind == "ollama" else ("rewrite" if reasons else "passthrough")
    route_header = f"{route}; {', '.join(reasons)}" if reasons else route
    ctx.headers.append((b"x-gomodel-route", route_header.encode()))

    if kind == "ollama":
        root = provider.config.base_url.removesuffix("/v1")
        url = f"{root}/api/embed"
        body = orjson.dumps({"model": resolution.model, "input": semantics.doc["input"]})
    else:
        url = provider.url("embeddings")
        body = ctx.snapshot.body
        if reasons:
            doc = {k: v for k, v in semantics.doc.items() if k != "provider"}
            doc["model"] = resolution.model
            body = orjson.dumps(doc)
    request = provider.build_request(
        "POST", url, body=body, request_id=ctx.snapshot.request_id, stream=False
    )
    result = await fetch(provider, request, receive=ctx.receive, deadlines=runtime.deadlines)
    try:
        answer = orjson.loads(result.body)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"{provider.name} returned a response that is not JSON")
    if not isinstance(answer, dict):
        raise UpstreamError(f"{provider.name} returned a response that is not a JSON object")
    out = result.body
    if kind == "ollama":
        answer = _from_ollama(answer, resolution.model)
        out = orjson.dumps(answer)
    usage = usage_from_object(answer.get("usage"))
    model = answer.get("model")
    record_usage(
        ctx,
        endpoint=ENDPOINT,
        provider=provider,
        resolution=resolution,
        route=route,
        route_header=route_header,
        stream=False,
        status=200,
        termination=Termination.COMPLETED,
        usage=usage,
        complete=usage is not None,
        model=model if isinstance(model, str) else None,
        provider_id=None,
        first_byte_at=trio.current_time(),
        upstream_seconds=result.upstream_seconds,
    )
    await send_raw_json(ctx.send, 200, out, ctx.headers)


def _from_ollama(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """Ollama's ``{"embeddings": [[...]], "prompt_eval_count": n}`` in the OpenAI shape."""
    vectors = doc.get("embeddings")
    if not isinstance(vectors, list):
        raise UpstreamError("ollama returned an embeddings answer without embeddings")
    tokens = doc.get("prompt_eval_count")
    tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": vector}
            for i, vector in enumerate(vectors)
        ],
        "model": doc.get("model") if isinstance(doc.get("model"), str) else model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
