"""The small routes: ``/health`` and ``/v1/models``."""

from __future__ import annotations

from gomodel.app.context import RequestContext
from gomodel.app.render import send_json

__all__ = ["health", "list_models"]


async def health(ctx: RequestContext) -> None:
    await send_json(ctx.send, 200, {"status": "ok"}, ctx.headers)


async def list_models(ctx: RequestContext) -> None:
    data = [
        {"id": qualified, "object": "model", "created": model.created, "owned_by": provider}
        for qualified, provider, model in ctx.runtime.catalog.listing()
    ]
    await send_json(ctx.send, 200, {"object": "list", "data": data}, ctx.headers)
