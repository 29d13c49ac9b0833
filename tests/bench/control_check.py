"""What a control-plane variant's run proved: that its key, budget and limits really ran.

A value of its own (no imports of the harness) so that the results can hold it without
importing the machinery that fills it in (tests/bench/control.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ControlCheck"]


@dataclass
class ControlCheck:
    variant: str  # gomodel-limits | gomodel-full
    workers: int
    skipped: str | None = None  # why the variant did not run (Redis unreachable, say)
    key_id: str | None = None
    user_path: str | None = None
    routes: dict[str, str] = field(default_factory=dict)  # workload -> X-GoModel-Route
    spend_usd: float | None = None  # GET /v1/usage: the key's spend this month, usage rows
    budget_spent_usd: float | None = None  # the budget's settled spend, from the counters
    rate_limits: dict[str, int] = field(default_factory=dict)  # name -> used in the window
    redis_keys: int | None = None  # keys under the run's prefix after the measured cells
    metrics_ok: bool | None = None  # None: not asked (metrics off)
    audit_entries: int | None = None  # None: not asked (audit log off)
    statuses: dict[str, int] = field(default_factory=dict)  # the server log's request statuses
    problems: list[str] = field(default_factory=list)  # anything that says it did not hold

    @property
    def verified(self) -> bool:
        """Measured, and every check held: the figures are the control plane's."""
        return self.skipped is None and not self.problems
