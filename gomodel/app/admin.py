"""``/admin/api/v1/usage/*``: usage analytics from the configured storage (SPEC §7.4).

Behind the master key like the rest of the API. Queries run in a worker thread; both storage
backends answer identically. Without storage (USAGE_ENABLED=false) the answers are empty.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import trio

from gomodel.app.admin_query import local_today, parse_usage_query
from gomodel.app.render import send_json
from gomodel.pipeline.context import RequestContext
from gomodel.storage.base import UsageStore
from gomodel.storage.queries import UsageQuery

__all__ = ["usage_daily", "usage_log", "usage_models", "usage_summary", "usage_user_paths"]

_EMPTY_SUMMARY = {
    "total_requests": 0,
    "total_input_tokens": 0,
    "total_output_tokens": 0,
    "total_tokens": 0,
    "total_input_cost": None,
    "total_output_cost": None,
    "total_cost": None,
}


def _query(ctx: RequestContext) -> UsageQuery:
    params = parse_qs(ctx.snapshot.query.decode("latin-1"), keep_blank_values=True)
    tz_header = ctx.snapshot.header(b"x-gomodel-timezone")
    tz = tz_header.decode("latin-1") if tz_header is not None else None
    return parse_usage_query(params, today=local_today(datetime.now(UTC), tz), tz=tz)


async def _answer(
    ctx: RequestContext, method: Callable[[UsageStore], Callable[[UsageQuery], Any]], empty: Any
) -> None:
    query = _query(ctx)
    store = ctx.runtime.store
    result = empty if store is None else await trio.to_thread.run_sync(method(store), query)
    await send_json(ctx.send, 200, result, ctx.headers)


async def usage_summary(ctx: RequestContext) -> None:
    await _answer(ctx, lambda s: s.summary, _EMPTY_SUMMARY)


async def usage_daily(ctx: RequestContext) -> None:
    await _answer(ctx, lambda s: s.daily, [])


async def usage_models(ctx: RequestContext) -> None:
    await _answer(ctx, lambda s: s.models, [])


async def usage_user_paths(ctx: RequestContext) -> None:
    await _answer(ctx, lambda s: s.user_paths, [])


async def usage_log(ctx: RequestContext) -> None:
    query = _query(ctx)
    await _answer(
        ctx,
        lambda s: s.log,
        {"entries": [], "total": 0, "limit": query.limit, "offset": query.offset},
    )
