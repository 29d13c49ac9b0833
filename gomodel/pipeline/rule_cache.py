"""The budgets and rate limits in force, kept fresh in every process.

The rules live in the usage database (:mod:`gomodel.storage.limit_rules`), shared by replicas;
each process polls its change marker every ``refresh_interval`` (1 s) and reloads the rules only
when they changed, so a budget set on one replica binds on all within about a second. The rules
from the environment (``SET_BUDGET_*`` ...) are stored at start where none exists yet. Without
storage, the environment's rules are all there is. While storage does not answer, the last
rules loaded stay in force.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import NoReturn

import attrs
import trio

from gomodel.limits.model import Limit
from gomodel.limits.rules import RuleSet
from gomodel.storage.limit_rules import RuleStore

__all__ = ["RuleCache"]

log = logging.getLogger("gomodel.limits")

REFRESH_INTERVAL = 1.0
FIRST_LOAD_TIMEOUT = 2.0


@attrs.define(eq=False)
class RuleCache:
    store: RuleStore | None
    seeded: tuple[Limit, ...]  # from the environment
    budgets: bool  # BUDGETS_ENABLED
    rates: bool  # RATE_LIMITS_ENABLED
    refresh_interval: float = REFRESH_INTERVAL
    _current: RuleSet = attrs.field(factory=RuleSet)
    _revision: int = -1
    _failing: bool = False
    _prepared: bool = False  # the table exists and the environment's rules are stored

    def __attrs_post_init__(self) -> None:
        self._current = RuleSet.of(self.seeded, budgets=self.budgets, rates=self.rates)

    def __call__(self) -> RuleSet:
        """The rules in force (no I/O: the request path's view)."""
        return self._current

    async def refresh(self) -> None:
        """One poll: reload the rules if they changed. Raises what the store raised."""
        if self.store is None:
            return
        revision = await trio.to_thread.run_sync(self.store.revision)
        if revision == self._revision:
            return
        snapshot = await trio.to_thread.run_sync(self.store.snapshot)
        self._current = RuleSet.of(snapshot.rules, budgets=self.budgets, rates=self.rates)
        self._revision = snapshot.revision

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Store the environment's rules, load the rules, then poll until cancelled. The first
        load waits at most ``FIRST_LOAD_TIMEOUT``: with storage away the gateway starts on the
        environment's rules."""
        with trio.move_on_after(FIRST_LOAD_TIMEOUT):
            await self._poll()
        task_status.started()
        while True:
            await trio.sleep(self.refresh_interval)
            await self._poll()

    async def _poll(self) -> None:
        store = self.store
        try:
            if not self._prepared and store is not None:
                await trio.to_thread.run_sync(store.migrate)
                now = datetime.now(UTC)
                await trio.to_thread.run_sync(store.seed, list(self.seeded), now)
                self._prepared = True
            await self.refresh()
        except Exception as exc:
            if not self._failing:
                log.warning("limit rules: storage does not answer (%s); the last rules stay", exc)
            self._failing = True
        else:
            if self._failing:
                log.info("limit rules: storage answers again")
            self._failing = False
