"""The circuit breaker as a state machine over an injected clock: every transition, the probe
rule, slow calls, 429s, and permits that outlive a state change."""

from __future__ import annotations

import pytest

from gomodel.resilience.breaker import (
    BreakerSettings,
    BreakerState,
    CircuitBreaker,
    Permit,
    Verdict,
)

S, F, SLOW, RL, N = (
    Verdict.SUCCESS,
    Verdict.FAILURE,
    Verdict.SLOW,
    Verdict.RATE_LIMITED,
    Verdict.NEUTRAL,
)
SETTINGS = BreakerSettings(failure_threshold=3, success_threshold=2, timeout=30.0)


def run(breaker: CircuitBreaker, verdicts: list[Verdict], at: float = 0.0) -> None:
    """One attempt after another at time ``at``, each with its verdict."""
    for verdict in verdicts:
        permit = breaker.acquire(at)
        assert permit is not None
        breaker.release(permit, at, verdict, "boom")


@pytest.mark.parametrize(
    ("verdicts", "state"),
    [
        ([F, F], BreakerState.CLOSED),
        ([F, F, F], BreakerState.OPEN),
        ([F, F, S, F, F], BreakerState.CLOSED),  # a success resets the count
        ([F, SLOW, F], BreakerState.OPEN),  # slow calls count as failures
        ([F, F, RL, F], BreakerState.OPEN),  # a 429 neither counts nor resets
        ([F, F, N, F], BreakerState.OPEN),  # nor does a client that left
        ([RL] * 10, BreakerState.CLOSED),
        ([SLOW, SLOW, SLOW], BreakerState.OPEN),
    ],
)
def test_closed_breaker_opens_after_consecutive_failures(
    verdicts: list[Verdict], state: BreakerState
) -> None:
    breaker = CircuitBreaker(SETTINGS)
    run(breaker, verdicts)
    assert breaker.state(0.0) is state


def test_open_refuses_until_the_timeout_then_lets_one_probe_through() -> None:
    breaker = CircuitBreaker(SETTINGS)
    run(breaker, [F, F, F], at=10.0)
    assert breaker.acquire(39.9) is None
    assert breaker.retry_at(39.9) == 40.0
    assert not breaker.available(39.9)
    assert breaker.state(40.0) is BreakerState.HALF_OPEN
    probe = breaker.acquire(40.0)
    assert probe is not None and probe.probe
    assert breaker.acquire(40.0) is None  # one probe at a time
    assert breaker.statistics(40.0).rejected == 2


@pytest.mark.parametrize(
    ("probes", "state"),
    [
        ([S], BreakerState.HALF_OPEN),
        ([S, S], BreakerState.CLOSED),
        ([F], BreakerState.OPEN),
        ([S, F], BreakerState.OPEN),
        ([RL], BreakerState.OPEN),  # a 429 counts against a probe
        ([SLOW], BreakerState.OPEN),
        ([N, S, S], BreakerState.CLOSED),  # a probe whose client left decides nothing
    ],
)
def test_half_open_probes(probes: list[Verdict], state: BreakerState) -> None:
    breaker = CircuitBreaker(SETTINGS)
    run(breaker, [F, F, F], at=0.0)
    run(breaker, probes, at=30.0)
    assert breaker.state(30.0) is state


def test_a_failed_probe_opens_again_for_a_full_timeout() -> None:
    breaker = CircuitBreaker(SETTINGS)
    run(breaker, [F, F, F], at=0.0)
    run(breaker, [F], at=35.0)
    assert breaker.state(64.9) is BreakerState.OPEN
    assert breaker.state(65.0) is BreakerState.HALF_OPEN
    assert breaker.statistics(65.0).times_opened == 2


def test_a_permit_from_before_a_state_change_counts_only_in_the_totals() -> None:
    """Requests that started while closed and fail after the breaker opened do not touch the
    open breaker; one that started while open cannot exist."""
    breaker = CircuitBreaker(SETTINGS)
    early = [breaker.acquire(0.0) for _ in range(5)]
    for permit in early[:3]:
        assert permit is not None
        breaker.release(permit, 1.0, F)
    assert breaker.state(1.0) is BreakerState.OPEN
    late = early[3]
    assert late is not None
    breaker.release(late, 31.0, S)  # the breaker is half-open now: not a probe's success
    assert breaker.state(31.0) is BreakerState.HALF_OPEN
    assert breaker.statistics(31.0).half_open_successes == 0
    assert breaker.statistics(31.0).successes == 1


def test_disabled_breaker_never_refuses() -> None:
    breaker = CircuitBreaker(BreakerSettings(enabled=False, failure_threshold=1))
    run(breaker, [F, F, F])
    assert breaker.acquire(0.0) == Permit(0, probe=False)
    assert breaker.available(0.0)
    assert breaker.statistics(0.0).failures == 3


def test_statistics_snapshot() -> None:
    breaker = CircuitBreaker(SETTINGS)
    run(breaker, [S, RL, SLOW, F, F], at=5.0)
    stats = breaker.statistics(6.0)
    assert stats.state is BreakerState.OPEN
    assert (stats.successes, stats.rate_limited, stats.slow_calls, stats.failures) == (1, 1, 1, 2)
    assert (stats.opened_at, stats.retry_at, stats.times_opened) == (5.0, 35.0, 1)
    assert stats.last_failure == "boom"
