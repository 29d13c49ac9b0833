"""``POST /v1/chat/completions``: the client's chat request, to a provider of either dialect."""

from __future__ import annotations

from gomodel.ingress.semantics import parse_chat
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.plan import Plan
from gomodel.pipeline.run import resolve_target, serve
from gomodel.routing.decision import decide
from gomodel.translate.dialects import DIALECTS

__all__ = ["chat_completions"]

ENDPOINT = "/v1/chat/completions"


async def chat_completions(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    semantics = parse_chat(ctx.snapshot.body)
    resolution, provider = await resolve_target(ctx, semantics)
    route = decide(semantics, resolution, provider.spec, runtime.policy)
    dialect = DIALECTS[provider.spec.dialect]
    created = int(runtime.clock())
    request = provider.build_request(
        "POST",
        provider.url(dialect.endpoint),
        body=dialect.body(ctx.snapshot.body, semantics, route),
        request_id=ctx.snapshot.request_id,
        stream=semantics.stream,
    )

    plan = Plan(
        endpoint=ENDPOINT,
        semantics=semantics,
        resolution=resolution,
        provider=provider,
        route=route,
        request=request,
        answer=lambda result: dialect.answer(result.body, provider.name, created),
        stage=(
            (lambda: dialect.stage(semantics, route, created, provider.name))
            if semantics.stream
            else None
        ),
    )
    await serve(ctx, plan)
