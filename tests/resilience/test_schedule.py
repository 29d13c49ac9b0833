"""The attempt schedule: failover first and at once, then retries with backoff, Retry-After,
breaker skips, FAILOVER_MAX_ATTEMPTS and the total deadline."""

from __future__ import annotations

import attrs

from gomodel.resilience.retry import RetryPolicy
from gomodel.resilience.schedule import Schedule, Step, StepKind

FIRST, FAILOVER, RETRY = StepKind.FIRST, StepKind.FAILOVER, StepKind.RETRY
POLICY = RetryPolicy(jitter_factor=0.0)


def drive(
    schedule: Schedule, *, took: float = 0.0, retry_after: dict[int, float] | None = None
) -> list[tuple[float, int, StepKind]]:
    """Fail every attempt (each taking ``took`` seconds); (start time, target, kind) of each."""
    now = schedule.started
    out: list[tuple[float, int, StepKind]] = []
    while (step := schedule.next(now)) is not None:
        now += step.wait
        out.append((now, step.index, step.kind))
        now += took
        after = (retry_after or {}).get(step.index)
        schedule.failed(step.index, now, retry=True, retry_after=after)
    return out


def test_one_target_is_retried_with_backoff() -> None:
    assert drive(Schedule(POLICY, 1, 0.0)) == [
        (0.0, 0, FIRST),
        (1.0, 0, RETRY),
        (3.0, 0, RETRY),
        (7.0, 0, RETRY),
    ]


def test_failover_first_then_retries_round_the_targets() -> None:
    assert drive(Schedule(POLICY, 3, 0.0)) == [
        (0.0, 0, FIRST),
        (0.0, 1, FAILOVER),
        (0.0, 2, FAILOVER),
        (1.0, 0, RETRY),
        (3.0, 1, RETRY),
        (7.0, 2, RETRY),
    ]


def test_failover_max_attempts_caps_the_targets() -> None:
    policy = attrs.evolve(POLICY, failover_max_attempts=2, max_retries=1)
    assert drive(Schedule(policy, 4, 0.0)) == [(0.0, 0, FIRST), (0.0, 1, FAILOVER), (1.0, 0, RETRY)]


def test_failover_off_serves_the_first_target_only() -> None:
    policy = attrs.evolve(POLICY, failover=False, max_retries=1)
    assert drive(Schedule(policy, 3, 0.0)) == [(0.0, 0, FIRST), (1.0, 0, RETRY)]


def test_retry_after_delays_that_target_only() -> None:
    """Target 0 asked for 10 s: the retries go to target 1 until then."""
    policy = attrs.evolve(POLICY, max_retries=3)
    got = drive(Schedule(policy, 2, 0.0), retry_after={0: 10.0})
    assert got == [
        (0.0, 0, FIRST),
        (0.0, 1, FAILOVER),
        (1.0, 1, RETRY),  # target 0 is asked to wait; 1 is free after the backoff
        (3.0, 1, RETRY),
        (7.0, 1, RETRY),
    ]


def test_retry_after_longer_than_the_backoff_is_honoured() -> None:
    policy = attrs.evolve(POLICY, max_retries=2)
    got = drive(Schedule(policy, 1, 0.0), retry_after={0: 5.0})
    assert got == [(0.0, 0, FIRST), (5.0, 0, RETRY), (10.0, 0, RETRY)]


def test_nothing_starts_past_the_total_deadline() -> None:
    """Waits that would end after RETRY_TOTAL_TIMEOUT are not begun."""
    policy = attrs.evolve(POLICY, total_timeout=5.0, max_retries=5)
    assert drive(Schedule(policy, 1, 0.0)) == [(0.0, 0, FIRST), (1.0, 0, RETRY), (3.0, 0, RETRY)]
    # A Retry-After beyond the deadline ends the schedule at once.
    got = drive(Schedule(policy, 1, 0.0), retry_after={0: 30.0})
    assert got == [(0.0, 0, FIRST)]


def test_slow_attempts_count_against_the_deadline() -> None:
    policy = attrs.evolve(POLICY, total_timeout=10.0)
    assert drive(Schedule(policy, 2, 0.0), took=4.0) == [
        (0.0, 0, FIRST),
        (4.0, 1, FAILOVER),
        (9.0, 0, RETRY),
    ]


def test_a_failure_not_worth_retrying_ends_it() -> None:
    schedule = Schedule(POLICY, 3, 0.0)
    step = schedule.next(0.0)
    assert step == Step(0, 0.0, FIRST)
    schedule.failed(0, 0.0, retry=False, retry_after=None)
    assert schedule.next(0.0) is None
    assert not schedule.has_more(0.0)


def test_a_skipped_target_does_not_count() -> None:
    """A breaker that refused: the target is not tried and uses no attempt."""
    policy = attrs.evolve(POLICY, failover_max_attempts=2, max_retries=1)
    schedule = Schedule(policy, 3, 0.0)
    first = schedule.next(0.0)
    assert first is not None and first.index == 0
    schedule.skip(0)
    assert schedule.attempts == 0
    second = schedule.next(0.0)
    assert second == Step(1, 0.0, FIRST)
    schedule.failed(1, 0.0, retry=True, retry_after=None)
    assert schedule.next(0.0) == Step(2, 0.0, FAILOVER)
    schedule.failed(2, 0.0, retry=True, retry_after=None)
    retry = schedule.next(0.0)
    assert retry == Step(1, 1.0, RETRY, 1)  # round the targets actually tried
    schedule.skip(1)  # its breaker opened meanwhile: the retry is not spent
    assert schedule.next(0.0) == Step(2, 1.0, RETRY, 1)


def test_has_more_says_whether_another_attempt_could_follow() -> None:
    policy = attrs.evolve(POLICY, max_retries=0)
    schedule = Schedule(policy, 2, 0.0)
    schedule.next(0.0)
    assert schedule.has_more(0.0)  # target 1 is left
    schedule.failed(0, 0.0, retry=True, retry_after=None)
    schedule.next(0.0)
    assert not schedule.has_more(0.0)  # nothing after target 1
    assert not Schedule(policy, 1, 0.0).has_more(61.0)  # past the deadline
