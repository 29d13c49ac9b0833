"""A circuit breaker for one deployment: a small state machine over an injected clock.

::

    closed ──(failure_threshold consecutive failures or slow calls)──► open
    open ──(timeout passed)──► half-open: one probe request at a time
    half-open ──(success_threshold probes succeed)──► closed
    half-open ──(a probe fails, is slow, or is rate limited)──► open again

A caller takes a :class:`Permit` with :meth:`CircuitBreaker.acquire` before an attempt (``None``:
the breaker refuses, skip this deployment) and hands it back with :meth:`CircuitBreaker.release`
and the attempt's :class:`Verdict`. A permit taken in one state and released after the breaker
moved on (a request that started while closed and ended after the breaker opened) only counts
in the totals: state changes follow the requests of the current state.

Times are whatever clock the caller passes as ``now`` (the gateway passes ``trio.current_time()``,
so tests run it under ``MockClock``). Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "BreakerSettings",
    "BreakerState",
    "BreakerStatistics",
    "CircuitBreaker",
    "Permit",
    "Verdict",
]


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Verdict(enum.Enum):
    """What one attempt says about the deployment's health."""

    SUCCESS = "success"
    FAILURE = "failure"  # a 5xx, a connect error, a reset, a timeout, a broken stream
    SLOW = "slow"  # answered, but slower than the slow-call threshold: counts as a failure
    RATE_LIMITED = "rate_limited"  # a 429: not a failure, except for a half-open probe
    NEUTRAL = "neutral"  # says nothing (the client left, the gateway shut down)


@attrs.frozen(slots=True)
class BreakerSettings:
    enabled: bool = True
    failure_threshold: int = 5  # consecutive failures (or slow calls) that open the breaker
    success_threshold: int = 2  # successful half-open probes that close it
    timeout: float = 30.0  # seconds an open breaker refuses before it lets a probe through
    slow_call_threshold: float | None = None  # seconds; None: no call counts as slow


@attrs.frozen(slots=True)
class Permit:
    """Leave to make one attempt; hand it back with its verdict."""

    generation: int  # the breaker's state generation when the permit was taken
    probe: bool  # a half-open probe (at most one at a time)


@attrs.frozen(slots=True)
class BreakerStatistics:
    """A snapshot of one breaker, for the admin API and metrics."""

    state: BreakerState
    consecutive_failures: int
    half_open_successes: int  # probes that succeeded since the breaker half-opened
    probe_in_flight: bool
    opened_at: float | None  # when it last opened (the caller's clock)
    retry_at: float | None  # while open: when it lets a probe through
    successes: int  # totals since start
    failures: int
    slow_calls: int
    rate_limited: int
    rejected: int  # attempts refused while open (or while a probe was in flight)
    times_opened: int
    last_failure: str | None  # what the last failure was, for people


@attrs.define
class CircuitBreaker:
    settings: BreakerSettings = attrs.field(factory=BreakerSettings)
    _state: BreakerState = BreakerState.CLOSED
    _generation: int = 0
    _consecutive_failures: int = 0
    _half_open_successes: int = 0
    _probe_in_flight: bool = False
    _opened_at: float | None = None
    _successes: int = 0
    _failures: int = 0
    _slow_calls: int = 0
    _rate_limited: int = 0
    _rejected: int = 0
    _times_opened: int = 0
    _last_failure: str | None = None

    def state(self, now: float) -> BreakerState:
        """The state at ``now``: an open breaker whose timeout has passed is half-open."""
        self._advance(now)
        return self._state

    def available(self, now: float) -> bool:
        """Whether :meth:`acquire` would give a permit at ``now`` (nothing is taken)."""
        if not self.settings.enabled:
            return True
        state = self.state(now)
        if state is BreakerState.OPEN:
            return False
        return state is BreakerState.CLOSED or not self._probe_in_flight

    def retry_at(self, now: float) -> float | None:
        """While open: when the breaker lets a probe through; otherwise ``None``."""
        if self.state(now) is not BreakerState.OPEN or self._opened_at is None:
            return None
        return self._opened_at + self.settings.timeout

    def acquire(self, now: float) -> Permit | None:
        """A permit for one attempt, or ``None`` when the breaker refuses."""
        if not self.settings.enabled:
            return Permit(self._generation, probe=False)
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return Permit(self._generation, probe=False)
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return Permit(self._generation, probe=True)
        self._rejected += 1
        return None

    def release(
        self, permit: Permit, now: float, verdict: Verdict, detail: str | None = None
    ) -> None:
        """Hand back ``permit`` with what its attempt said (``detail``: the failure, for people)."""
        self._count(verdict, detail)
        if permit.probe and permit.generation == self._generation:
            self._probe_in_flight = False
        if not self.settings.enabled or permit.generation != self._generation:
            return  # taken before the last state change: only the totals count it
        self._advance(now)
        if self._state is BreakerState.CLOSED:
            if verdict is Verdict.SUCCESS:
                self._consecutive_failures = 0
            elif verdict in (Verdict.FAILURE, Verdict.SLOW):
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.settings.failure_threshold:
                    self._open(now)
        elif self._state is BreakerState.HALF_OPEN and permit.probe:
            if verdict is Verdict.SUCCESS:
                self._half_open_successes += 1
                if self._half_open_successes >= self.settings.success_threshold:
                    self._move(BreakerState.CLOSED)
            elif verdict is not Verdict.NEUTRAL:
                self._open(now)

    def statistics(self, now: float) -> BreakerStatistics:
        state = self.state(now)
        return BreakerStatistics(
            state=state,
            consecutive_failures=self._consecutive_failures,
            half_open_successes=self._half_open_successes,
            probe_in_flight=self._probe_in_flight,
            opened_at=self._opened_at,
            retry_at=self.retry_at(now),
            successes=self._successes,
            failures=self._failures,
            slow_calls=self._slow_calls,
            rate_limited=self._rate_limited,
            rejected=self._rejected,
            times_opened=self._times_opened,
            last_failure=self._last_failure,
        )

    # -- internals -------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if (
            self._state is BreakerState.OPEN
            and self._opened_at is not None
            and now >= self._opened_at + self.settings.timeout
        ):
            self._move(BreakerState.HALF_OPEN)

    def _open(self, now: float) -> None:
        self._move(BreakerState.OPEN)
        self._opened_at = now
        self._times_opened += 1

    def _move(self, state: BreakerState) -> None:
        self._state = state
        self._generation += 1
        self._consecutive_failures = 0
        self._half_open_successes = 0
        self._probe_in_flight = False

    def _count(self, verdict: Verdict, detail: str | None) -> None:
        if verdict is Verdict.SUCCESS:
            self._successes += 1
        elif verdict is Verdict.FAILURE:
            self._failures += 1
        elif verdict is Verdict.SLOW:
            self._slow_calls += 1
        elif verdict is Verdict.RATE_LIMITED:
            self._rate_limited += 1
        if verdict in (Verdict.FAILURE, Verdict.SLOW) and detail:
            self._last_failure = detail
