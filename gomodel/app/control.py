"""The control plane a runtime owns: the limit rules, the limit store (memory, or Redis when
``REDIS_URL`` is set) and the admission stage over them (docs/limits.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime

import attrs
import trio

from gomodel.config import Config
from gomodel.limits.memory import MemoryLimits
from gomodel.limits.model import Limit
from gomodel.limits.redis_store import RedisLimits
from gomodel.limits.store import LimitStore
from gomodel.pipeline.admission import LimitAdmission
from gomodel.pipeline.rule_cache import RuleCache
from gomodel.redis.client import open_redis
from gomodel.redis.settings import RedisSettings
from gomodel.storage.base import UsageStore
from gomodel.storage.limit_rules import RuleStore, open_rule_store

__all__ = ["Control", "open_control"]

# Reservations outlive the longest exchange (HTTP_TIMEOUT) by this much before they expire.
LEASE_MARGIN = 60.0


@attrs.frozen(eq=False)
class Control:
    rules: RuleCache
    store: LimitStore
    admission: LimitAdmission
    rule_store: RuleStore | None


@asynccontextmanager
async def open_control(
    config: Config, usage_store: UsageStore | None, clock: Callable[[], float]
) -> AsyncIterator[Control]:
    """The control plane for ``config``; its background tasks run in the caller's nursery
    (``await nursery.start(control.rules.serve)``)."""
    usable = config.storage_type == "sqlite" or config.postgres_url
    rule_store: RuleStore | None = None
    if usable and (config.budgets_enabled or config.rate_limits_enabled):
        rule_store = open_rule_store(
            config.storage_type,
            sqlite_path=config.sqlite_path,
            postgres_url=config.postgres_url or "",
        )

    async def spent(limit: Limit, start: datetime, end: datetime) -> int:
        """A budget counter's start: what the usage rows say its scope spent in the window."""
        if usage_store is None:
            return 0
        return await trio.to_thread.run_sync(usage_store.spend, limit.scope, start, end)

    lease = config.http_timeout + LEASE_MARGIN
    rules = RuleCache(
        rule_store, config.limit_rules, config.budgets_enabled, config.rate_limits_enabled
    )
    async with AsyncExitStack() as stack:
        store: LimitStore
        if config.redis_url:
            settings = RedisSettings.from_url(config.redis_url, timeout=config.redis_timeout)
            client = await stack.enter_async_context(open_redis(settings))
            store = RedisLimits(client, prefix=config.redis_key_limits, seed=spent, lease=lease)
        else:
            store = MemoryLimits(seed=spent, lease=lease)
        admission = LimitAdmission(
            store=store,
            rules=rules,
            prices=config.price_table,
            default_output_cap=config.budget_default_max_output_tokens,
            min_output_cap=config.budget_min_output_tokens,
            fail_open=config.rate_limits_fail_open,
            lease=lease,
            clock=clock,
        )
        try:
            yield Control(rules, store, admission, rule_store)
        finally:
            if rule_store is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(rule_store.close)
