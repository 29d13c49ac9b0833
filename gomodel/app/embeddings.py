"""``POST /v1/embeddings``.

OpenAI-compatible providers get the client's body (verbatim, or with the model selector and the
gateway's ``provider`` field edited) and the answer comes back verbatim. Ollama is asked through
its native ``/api/embed`` and the answer translated to the OpenAI shape. Providers without
embeddings (Anthropic, Oracle, DeepSeek) answer 400 naming the provider.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.errors import InvalidRequest, UpstreamError
from gomodel.ingress.semantics import parse_embeddings
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer
from gomodel.pipeline.run import serve, target
from gomodel.relay.unary import UnaryResult
from gomodel.routing.decision import RouteKind
from gomodel.routing.rewrite import with_model
from gomodel.translate.dialects import json_object
from gomodel.usage.extract import usage_from_object

__all__ = ["embeddings"]

ENDPOINT = "/v1/embeddings"


async def embeddings(ctx: RequestContext) -> None:
    chosen = await target(ctx, parse_embeddings(ctx.snapshot.body))
    semantics, provider, resolution = chosen.semantics, chosen.provider, chosen.resolution
    kind = provider.spec.embeddings
    if kind is None:
        raise InvalidRequest(
            f"{provider.name} ({provider.spec.type}) does not support embeddings", param="model"
        )
    ollama = kind == "ollama"
    if ollama:
        url = provider.config.base_url.removesuffix("/v1") + "/api/embed"
        body = orjson.dumps({"model": resolution.model, "input": semantics.doc["input"]})
    else:
        url = provider.url("embeddings")
        body = ctx.snapshot.body
        if chosen.route.kind is not RouteKind.PASSTHROUGH:
            body = orjson.dumps(with_model(semantics.doc, resolution.model))

    def answer(result: UnaryResult) -> Answer:
        doc = json_object(result.body, provider.name)
        out = result.body  # verbatim: every field the provider sent is kept
        if ollama:
            doc = _from_ollama(doc, resolution.model)
            out = orjson.dumps(doc)
        model = doc.get("model")
        return Answer(
            out, usage_from_object(doc.get("usage")), model if isinstance(model, str) else None
        )

    await serve(ctx, chosen.plan(ENDPOINT, url, body, answer=answer))


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
