"""``POST /v1/chat/completions``: the client's chat request, to a provider of either dialect."""

from __future__ import annotations

from gomodel.ingress.semantics import parse_chat
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.run import serve, target
from gomodel.translate.dialects import DIALECTS

__all__ = ["chat_completions"]

ENDPOINT = "/v1/chat/completions"


async def chat_completions(ctx: RequestContext) -> None:
    chosen = await target(ctx, parse_chat(ctx.snapshot.body))
    # Admission may have changed the body (a lower output cap): plan from what it handed back.
    semantics, provider, route = chosen.semantics, chosen.provider, chosen.route
    dialect = DIALECTS[provider.spec.dialect]
    created = int(ctx.runtime.clock())
    plan = chosen.plan(
        ENDPOINT,
        provider.url(dialect.endpoint),
        dialect.body(ctx.snapshot.body, semantics, route),
        answer=lambda result: dialect.answer(result.body, provider.name, created),
        stage=lambda: dialect.stage(semantics, route, created, provider.name),
    )
    await serve(ctx, plan)
