"""The interface both backends implement (:class:`LimitStore`) and the seed callback's type.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from gomodel.limits.model import Admission, CounterState, Demand, Limit, Reservation, Settlement

__all__ = ["LimitStore", "Seeder", "SettleDone", "new_reservation_id"]

Seeder = Callable[[Limit, datetime, datetime], Awaitable[int]]
"""``seed(limit, window_start, window_end)``: the amount already spent on a COST limit in that
window, from the authoritative source (e.g. the sum of usage-row costs for the scope and
period, in nano-USD). Called only for a counter that does not exist yet."""

SettleDone = Callable[[Settlement | Exception], None]
"""What :meth:`LimitStore.settle_detached` calls with the outcome of a settle."""

_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def new_reservation_id(given: str | None = None) -> str:
    """``given`` if it is a usable id (letters, digits, ``_.-``, at most 128), else a new one."""
    if given is None:
        return secrets.token_hex(12)
    if not _ID.fullmatch(given):
        raise ValueError(f"a reservation id is 1-128 of [A-Za-z0-9_.-], not {given!r}")
    return given


class LimitStore(Protocol):
    """Counters checked and reserved all or nothing. The memory and Redis backends give the same
    answers for the same calls; only the Redis one is shared between processes (and only it
    raises :class:`~gomodel.errors.RedisUnavailable`)."""

    async def reserve(
        self,
        limits: Sequence[Limit],
        demand: Demand,
        *,
        now: datetime,
        lease: float | None = None,
        reservation_id: str | None = None,
    ) -> Admission:
        """Check every counter of ``limits`` and, if all have room, reserve on all of them."""
        ...

    async def settle(
        self, reservation: Reservation, *, now: datetime, tokens: int = 0, cost: int = 0
    ) -> Settlement:
        """Release the holds and charge the actual ``tokens`` (total) and ``cost`` (nano-USD);
        a second settle of the same reservation does nothing."""
        ...

    def settle_detached(
        self,
        reservation: Reservation,
        done: SettleDone,
        *,
        now: datetime,
        tokens: int = 0,
        cost: int = 0,
    ) -> None:
        """:meth:`settle` without waiting for it: ``done`` gets the Settlement, or the
        exception the settle would have raised, once it is known. The request that ends need
        not wait a round trip for a result it does nothing with; a settle submitted before a
        later call of the same process reaches the store before it."""
        ...

    async def extend(
        self, reservation: Reservation, *, now: datetime, lease: float | None = None
    ) -> Reservation | None:
        """Push the holds' expiry to ``now + lease``; None when nothing was left to extend."""
        ...

    async def read(self, limits: Sequence[Limit], *, now: datetime) -> tuple[CounterState, ...]:
        """The counters of ``limits`` in their current windows, seeding absent budgets."""
        ...
