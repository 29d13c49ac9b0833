"""Which attempt comes next, and after how long a wait: a sans-IO schedule over a request's
ordered targets.

Failover first, retries after:

1. **the first pass** tries the targets in order, at once: the next target is a different
   deployment, which owes nothing to the last one's failure. At most ``failover_max_attempts``
   targets are tried (only the first when failover is off); a target whose breaker refused
   (:meth:`Schedule.skip`) does not count.
2. **retries**: then up to ``max_retries`` more attempts, each after its backoff, going round
   the targets of the first pass again. A target that asked for time (``Retry-After``) is not
   tried before it; of the targets, the one that may start first is taken.

No attempt starts later than ``total_timeout`` after the request arrived: a wait that would end
past it is not begun, and the schedule ends (the client gets the last error at once). A failure
that is not worth retrying ends it too.

Times are the caller's clock (``trio.current_time()`` in the gateway). Pure: no trio, httpx or
hypercorn.
"""

from __future__ import annotations

import enum

import attrs

from gomodel.resilience.retry import RetryPolicy

__all__ = ["Schedule", "Step", "StepKind"]


class StepKind(enum.Enum):
    FIRST = "first"  # the target the strategy picked
    FAILOVER = "failover"  # the next target, at once
    RETRY = "retry"  # a target again, after a backoff


@attrs.frozen(slots=True)
class Step:
    index: int  # of the target in the request's ordered targets
    wait: float  # seconds to wait before the attempt
    kind: StepKind
    retry: int = 0  # 1-based number of the retry (0 in the first pass)


@attrs.define
class Schedule:
    policy: RetryPolicy
    size: int  # how many targets the request has
    started: float  # when the request arrived
    _tried: list[int] = attrs.Factory(list)  # first-pass targets tried, in order
    _skipped: set[int] = attrs.Factory(set)
    _not_before: dict[int, float] = attrs.Factory(dict)  # index -> Retry-After time
    _retries: int = 0
    _attempts: int = 0
    _done: bool = False
    _pending: Step | None = None

    @property
    def attempts(self) -> int:
        """Attempts made so far (steps handed out and not skipped)."""
        return self._attempts

    @property
    def deadline(self) -> float:
        return self.started + self.policy.total_timeout

    def next(self, now: float, unit: float = 0.5) -> Step | None:
        """The next attempt (``unit``: a uniform draw in [0, 1) for the jitter), or ``None``."""
        if self._done:
            return None
        step = self._first_pass(now)
        if step is None:
            step = self._retry(now, unit)
        if step is None:
            self._done = True
            return None
        self._pending = step
        self._attempts += 1
        return step

    def skip(self, index: int) -> None:
        """The target's breaker refused the step just handed out: it is not tried again."""
        self._skipped.add(index)
        if self._pending is not None and self._pending.index == index:
            self._attempts -= 1
            if self._pending.kind is StepKind.RETRY:
                self._retries -= 1  # the retry was not spent
            else:
                self._tried.remove(index)
        self._pending = None

    def failed(self, index: int, now: float, *, retry: bool, retry_after: float | None) -> None:
        """The attempt on target ``index`` failed; ``retry``: another attempt may serve the
        request; ``retry_after``: seconds the target asked to be left alone."""
        self._pending = None
        if not retry:
            self._done = True
            return
        if retry_after is not None:
            self._not_before[index] = max(self._not_before.get(index, 0.0), now + retry_after)

    def has_more(self, now: float) -> bool:
        """Whether another attempt could follow the one handed out last, should it fail."""
        if self._done or now > self.deadline:
            return False
        if self._first_pass_candidates():
            return True
        return self._retries < self.policy.max_retries and bool(self._pool())

    # -- internals -------------------------------------------------------------------------

    def _limit(self) -> int:
        if not self.policy.failover:
            return 1
        return max(self.policy.failover_max_attempts, 1)

    def _first_pass_candidates(self) -> list[int]:
        if len(self._tried) >= self._limit():
            return []
        return [i for i in range(self.size) if i not in self._skipped and i not in self._tried]

    def _first_pass(self, now: float) -> Step | None:
        candidates = self._first_pass_candidates()
        if not candidates or now > self.deadline:
            return None
        index = candidates[0]
        self._tried.append(index)
        return Step(index, 0.0, StepKind.FIRST if not self._attempts else StepKind.FAILOVER)

    def _pool(self) -> list[int]:
        return [i for i in self._tried if i not in self._skipped]

    def _retry(self, now: float, unit: float) -> Step | None:
        pool = self._pool()
        if self._retries >= self.policy.max_retries or not pool:
            return None
        number = self._retries + 1
        backoff = self.policy.backoff(number, unit)
        start = self._retries % len(pool)
        best: tuple[float, int] | None = None
        for offset in range(len(pool)):
            index = pool[(start + offset) % len(pool)]
            at = max(now + backoff, self._not_before.get(index, 0.0))
            if best is None or at < best[0]:
                best = (at, index)
        assert best is not None
        at, index = best
        if at > self.deadline:
            return None
        self._retries = number
        return Step(index, at - now, StepKind.RETRY, number)
