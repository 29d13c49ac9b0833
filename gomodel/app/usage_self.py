"""``GET /v1/usage``: what the calling key has spent, and its budgets and limits.

For a managed key: its spend in the current hour, day, week and month (from the usage rows),
and every budget and rate limit that applies to it (its own and its user path's, ancestors
included) with what is used and left now. For any other caller, the same for the request's
user path. Clients check themselves without admin rights.
"""

from __future__ import annotations

from datetime import UTC, datetime

import trio

from gomodel.app.admin_limits import budget_view, rate_view
from gomodel.app.render import send_json
from gomodel.limits.model import Metric, Period
from gomodel.limits.rules import NANO_PER_USD, key_scope, path_scopes
from gomodel.limits.windows import window
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.run import identify

__all__ = ["own_usage"]

_PERIODS = (Period.HOUR, Period.DAY, Period.WEEK, Period.MONTH)


async def own_usage(ctx: RequestContext) -> None:
    identify(ctx)
    runtime = ctx.runtime
    key_id = ctx.principal.key_id
    scopes = list(path_scopes(ctx.user_path))
    if key_id is not None:
        scopes.insert(0, key_scope(key_id))
    own = scopes[0]
    now = datetime.fromtimestamp(runtime.clock(), UTC)
    spend: dict[str, float | None] = {}
    for period in _PERIODS:
        start, end = window(period, now)
        if runtime.store is None:
            spend[period.value] = None  # no usage rows are kept
        else:
            nano = await trio.to_thread.run_sync(runtime.store.spend, own, start, end)
            spend[period.value] = nano / NANO_PER_USD
    rules = runtime.control.rules() if runtime.control is not None else None
    limits = [r for scope in scopes for r in (rules.scope(scope) if rules else ())]
    states = await runtime.control.store.read(limits, now=now) if limits and runtime.control else ()
    answer = {
        "key_id": key_id,
        "user_path": ctx.user_path,
        "spend": spend,
        "budgets": [budget_view(s) for s in states if s.limit.metric is Metric.COST],
        "rate_limits": [rate_view(s) for s in states if s.limit.metric is not Metric.COST],
    }
    await send_json(ctx.send, 200, answer, ctx.headers)
