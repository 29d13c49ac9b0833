"""Rate limits, concurrency slots and budgets, exact across replicas (docs/limits.md).

The pure core (``model``, ``windows``, ``plan``, ``headers``, ``store``) and the in-process
backend (``memory``) import no I/O library; ``redis_store`` is the shared backend.
"""

from gomodel.limits.headers import rate_limit_headers
from gomodel.limits.memory import MemoryLimits
from gomodel.limits.model import (
    Admission,
    CounterState,
    Demand,
    Hold,
    Limit,
    Metric,
    Period,
    Reservation,
    Settled,
    Settlement,
)
from gomodel.limits.store import LimitStore, Seeder, SettleDone

__all__ = [
    "Admission",
    "CounterState",
    "Demand",
    "Hold",
    "Limit",
    "LimitStore",
    "MemoryLimits",
    "Metric",
    "Period",
    "Reservation",
    "Seeder",
    "SettleDone",
    "Settled",
    "Settlement",
    "rate_limit_headers",
]
