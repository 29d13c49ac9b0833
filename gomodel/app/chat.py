"""``POST /v1/chat/completions``: the client's chat request, to a provider of either dialect.

Each target of the request (a virtual model's, a provider's deployments) is planned in its own
dialect: one target may be the fast path and the next translated."""

from __future__ import annotations

from gomodel.ingress.semantics import parse_chat
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.plan import Plan, Target
from gomodel.pipeline.run import plans, serve
from gomodel.translate.dialects import DIALECTS
from gomodel.translate.holdback import CHAT_PRELUDE

__all__ = ["chat_completions"]

ENDPOINT = "/v1/chat/completions"


async def chat_completions(ctx: RequestContext) -> None:
    created = int(ctx.runtime.clock())

    def build(chosen: Target) -> Plan:
        # Admission may have changed the body (a lower output cap): plan from what it handed
        # back, the target's own semantics.
        semantics, provider, route = chosen.semantics, chosen.provider, chosen.route
        dialect = DIALECTS[provider.spec.dialect]
        return chosen.plan(
            ENDPOINT,
            provider.url(dialect.endpoint),
            dialect.body(ctx.snapshot.body, semantics, route),
            answer=lambda result: dialect.answer(result.body, provider.name, created),
            stage=lambda: dialect.stage(semantics, route, created, provider.name),
            prelude=CHAT_PRELUDE,
        )

    await serve(ctx, await plans(ctx, parse_chat(ctx.snapshot.body), build))
