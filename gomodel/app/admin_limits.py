"""``/admin/api/v1/budgets`` and ``/admin/api/v1/rate-limits`` (also under ``/admin/...``).

* ``GET budgets``: every budget with what is spent, reserved and left in its current window.
* ``PUT budgets/{scope}/{period}`` with ``{"amount": 10.5}`` (USD): set one budget. ``{scope}``
  is a user path (``team-a/bots``; nothing for ``/``: ``PUT budgets/daily``) or ``key:<id>``;
  ``{period}`` is hour, day, week or month (or hourly, daily, weekly, monthly).
* ``DELETE budgets/{scope}/{period}``.
* ``GET rate-limits``: every rate limit with its current count.
* ``PUT rate-limits/{scope}`` with ``{"rpm": 60, "tpm": 100000, "concurrent": 4, ...}``: the
  scope's rate limits, replaced as a whole. ``{scope}`` as for budgets, or ``provider:<name>``,
  ``model:<id>``. Names: rpm, rph, rpd (requests per minute, hour, day), tpm, tph, tpd
  (tokens), concurrent.
* ``DELETE rate-limits/{scope}``.

Bad input is a 400 and changes nothing. A write binds on this replica at once and on the others
within a second (:mod:`gomodel.pipeline.rule_cache`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import trio

from gomodel.app.control import Control
from gomodel.app.render import send_empty, send_json
from gomodel.app.runtime import Runtime
from gomodel.errors import InvalidRequest, MethodNotAllowed, NotFound, UpstreamUnavailable
from gomodel.ingress.semantics import parse_json_object
from gomodel.limits.model import CounterState, Limit, Metric
from gomodel.limits.rules import (
    NANO_PER_USD,
    RATE_NAMES,
    budget_period,
    parse_scope,
    rate_rules,
    usd_to_nano,
)
from gomodel.pipeline.context import RequestContext
from gomodel.storage.limit_rules import RuleStore

__all__ = ["BUDGET_PREFIXES", "RATE_PREFIXES", "budget_item", "list_budgets", "list_rates",
           "rate_item"]  # fmt: skip

BUDGET_PREFIXES = ("/admin/api/v1/budgets/", "/admin/budgets/")
RATE_PREFIXES = ("/admin/api/v1/rate-limits/", "/admin/rate-limits/")


async def list_budgets(ctx: RequestContext) -> None:
    control = _control(ctx.runtime)
    rules = [r for r in control.rules().rules if r.metric is Metric.COST]
    states = await control.store.read(rules, now=_now(ctx)) if rules else ()
    await send_json(ctx.send, 200, {"budgets": [budget_view(s) for s in states]}, ctx.headers)


async def list_rates(ctx: RequestContext) -> None:
    control = _control(ctx.runtime)
    rules = [r for r in control.rules().rules if r.metric is not Metric.COST]
    states = await control.store.read(rules, now=_now(ctx)) if rules else ()
    views = [rate_view(s) for s in states]
    await send_json(ctx.send, 200, {"rate_limits": views}, ctx.headers)


async def budget_item(ctx: RequestContext) -> None:
    method, rest = _item(ctx, BUDGET_PREFIXES, ("PUT", "DELETE"))
    scope_text, _, word = rest.rpartition("/")
    period = budget_period(word)
    scope = parse_scope(scope_text, rates=False)
    control = _control(ctx.runtime)
    store = _rules(control)
    if method == "DELETE":
        gone = await trio.to_thread.run_sync(store.delete, scope, Metric.COST, period)
        if not gone:
            raise NotFound(f"no {period.value} budget on {scope}", code="budget_not_found")
        await control.rules.refresh()
        await send_empty(ctx.send, 204, ctx.headers)
        return
    body = _object(ctx, allowed={"amount"})
    if "amount" not in body:
        raise InvalidRequest("amount is required (USD)", param="amount")
    rule = Limit(scope, Metric.COST, usd_to_nano(body["amount"]), period)
    await trio.to_thread.run_sync(store.put, rule, _now(ctx))
    await control.rules.refresh()
    [state] = await control.store.read([rule], now=_now(ctx))
    await send_json(ctx.send, 200, budget_view(state), ctx.headers)


async def rate_item(ctx: RequestContext) -> None:
    method, rest = _item(ctx, RATE_PREFIXES, ("PUT", "DELETE"))
    scope = parse_scope(rest, rates=True)
    control = _control(ctx.runtime)
    store = _rules(control)
    if method == "DELETE":
        gone = await trio.to_thread.run_sync(store.delete, scope, None, None)
        if not gone:
            raise NotFound(f"no rate limits on {scope}", code="rate_limit_not_found")
        await control.rules.refresh()
        await send_empty(ctx.send, 204, ctx.headers)
        return
    rules = rate_rules(scope, _object(ctx, allowed=None))
    metrics = [Metric.REQUESTS, Metric.TOKENS, Metric.CONCURRENT]
    await trio.to_thread.run_sync(store.replace, scope, metrics, rules, _now(ctx))
    await control.rules.refresh()
    states = await control.store.read(rules, now=_now(ctx))
    await send_json(ctx.send, 200, {"rate_limits": [rate_view(s) for s in states]}, ctx.headers)


def budget_view(state: CounterState) -> dict[str, Any]:
    limit = state.limit
    kind, _, name = limit.scope.partition(":")
    return {
        "scope": limit.scope,
        ("user_path" if kind == "path" else "key_id"): name,
        "period": limit.period.value if limit.period else None,
        "amount": _usd(limit.limit),
        "spent": _usd(state.used),
        "reserved": _usd(state.held),
        "remaining": _usd(state.remaining),
        "window_start": _iso(state.window_start),
        "resets_at": _iso(state.resets_at),
    }


def rate_view(state: CounterState) -> dict[str, Any]:
    limit = state.limit
    return {
        "scope": limit.scope,
        "name": RATE_NAMES[(limit.metric, limit.period)],
        "limit": limit.limit,
        "used": state.used,
        "reserved": state.held,
        "remaining": state.remaining,
        "resets_at": _iso(state.resets_at),
    }


def _item(
    ctx: RequestContext, prefixes: tuple[str, ...], methods: tuple[str, ...]
) -> tuple[str, str]:
    method, path = ctx.snapshot.method, ctx.snapshot.path
    if method not in methods:
        raise MethodNotAllowed(
            f"method {method} is not allowed on {path}; allowed: {', '.join(methods)}",
            headers={"allow": ", ".join(methods)},
        )
    prefix = next(p for p in prefixes if path.startswith(p))
    rest = path.removeprefix(prefix).strip("/")
    if not rest:
        raise NotFound(f"unknown route: {method} {path}", code="unknown_route")
    return method, rest


def _object(ctx: RequestContext, *, allowed: set[str] | None) -> dict[str, Any]:
    body = parse_json_object(ctx.snapshot.body)
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidRequest(f"unknown field {unknown[0]!r}", param=unknown[0])
    return body


def _control(runtime: Runtime) -> Control:
    if runtime.control is None:  # pragma: no cover - the runtime always has one
        raise UpstreamUnavailable("limits are not available", code="limits_unavailable")
    return runtime.control


def _rules(control: Control) -> RuleStore:
    if control.rule_store is None:
        raise UpstreamUnavailable(
            "budgets and rate limits need storage (STORAGE_TYPE), and BUDGETS_ENABLED or "
            "RATE_LIMITS_ENABLED",
            code="limits_unavailable",
        )
    return control.rule_store


def _now(ctx: RequestContext) -> datetime:
    return datetime.fromtimestamp(ctx.runtime.clock(), UTC)


def _usd(nano: int) -> float:
    return nano / NANO_PER_USD


def _iso(instant: datetime | None) -> str | None:
    return None if instant is None else instant.strftime("%Y-%m-%dT%H:%M:%SZ")
