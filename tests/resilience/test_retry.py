"""The retry policy: backoff arithmetic, Retry-After, and which outcomes are tried again."""

from __future__ import annotations

import pytest

from gomodel.errors import (
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_from_upstream,
)
from gomodel.pipeline.outcome import Outcome
from gomodel.resilience.breaker import Verdict
from gomodel.resilience.retry import RetryPolicy, judge, parse_retry_after
from gomodel.termination import Termination as T

POLICY = RetryPolicy(jitter_factor=0.0)


@pytest.mark.parametrize(
    ("retry", "seconds"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0), (6, 30.0), (20, 30.0)],
)
def test_backoff_doubles_up_to_the_cap(retry: int, seconds: float) -> None:
    assert POLICY.backoff(retry) == seconds


@pytest.mark.parametrize(("unit", "seconds"), [(0.0, 3.6), (0.5, 4.0), (0.999999, 4.4)])
def test_jitter_stays_within_its_factor(unit: float, seconds: float) -> None:
    policy = RetryPolicy(jitter_factor=0.1)
    assert policy.backoff(3, unit) == pytest.approx(seconds, abs=1e-5)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 0.5 ", 0.5),
        ("0", 0.0),
        ("-1", None),
        ("soon", None),
        ("inf", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:05 GMT", 5.0),  # an HTTP date, against the wall clock
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(value, now) == seconds


def _failed(termination: T, error: GatewayError | None = None, *, started: bool = False) -> Outcome:
    status = 200 if started else (error.status if error else 499)
    return Outcome(status, termination, error=error, started=started)


UPSTREAM_503 = error_from_upstream("p", 503, b'{"error": {"message": "overloaded"}}')
UPSTREAM_429 = error_from_upstream("p", 429, b'{"error": {"message": "slow"}}', retry_after="7")
POOL = UpstreamUnavailable("p: no free connection", code="upstream_pool_exhausted")


@pytest.mark.parametrize(
    ("outcome", "retry", "verdict"),
    [
        (_failed(T.COMPLETED), False, Verdict.SUCCESS),
        (_failed(T.CLIENT_DISCONNECT), False, Verdict.NEUTRAL),
        (_failed(T.SHUTDOWN), False, Verdict.NEUTRAL),
        (_failed(T.STALLED_CLIENT, UpstreamError("x"), started=True), False, Verdict.NEUTRAL),
        # nothing reached the provider
        (_failed(T.CONNECT_ERROR, UpstreamError("refused")), True, Verdict.FAILURE),
        (_failed(T.CONNECT_ERROR, POOL), True, Verdict.NEUTRAL),
        # the provider failed before the response started
        (_failed(T.HEADER_TIMEOUT, UpstreamTimeout("t")), True, Verdict.FAILURE),
        (_failed(T.IDLE_TIMEOUT, UpstreamTimeout("t")), True, Verdict.FAILURE),
        (_failed(T.UPSTREAM_EOF, UpstreamError("cut")), True, Verdict.FAILURE),
        (_failed(T.EVENT_TOO_LARGE, UpstreamError("big")), True, Verdict.FAILURE),
        (_failed(T.UPSTREAM_ERROR, UPSTREAM_503), True, Verdict.FAILURE),
        (_failed(T.UPSTREAM_ERROR, UPSTREAM_429), True, Verdict.RATE_LIMITED),
        (
            _failed(T.UPSTREAM_ERROR, UpstreamError("reset", code="upstream_error")),
            True,
            Verdict.FAILURE,
        ),
        (_failed(T.UPSTREAM_ERROR, error_from_upstream("p", 500, b"")), True, Verdict.FAILURE),
        (_failed(T.UPSTREAM_ERROR, error_from_upstream("p", 501, b"")), False, Verdict.FAILURE),
        (_failed(T.UPSTREAM_ERROR, error_from_upstream("p", 400, b"")), False, Verdict.SUCCESS),
        (_failed(T.UPSTREAM_ERROR, error_from_upstream("p", 401, b"")), False, Verdict.SUCCESS),
        # after the response started, the error event is the answer
        (_failed(T.UPSTREAM_EOF, UpstreamError("cut"), started=True), False, Verdict.FAILURE),
    ],
)
def test_judge(outcome: Outcome, retry: bool, verdict: Verdict) -> None:
    judgement = judge(outcome, POLICY)
    assert (judgement.retry, judgement.verdict) == (retry, verdict)


def test_judge_reads_retry_after() -> None:
    assert judge(_failed(T.UPSTREAM_ERROR, UPSTREAM_429), POLICY).retry_after == 7.0


def test_statuses_are_configurable() -> None:
    policy = RetryPolicy(statuses=frozenset({401}))
    unauthorized = _failed(T.UPSTREAM_ERROR, error_from_upstream("p", 401, b""))
    assert judge(unauthorized, policy).retry
    assert not judge(_failed(T.UPSTREAM_ERROR, UPSTREAM_503), policy).retry


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (_failed(T.CONNECT_ERROR, UpstreamError("refused")), True),  # never sent
        (_failed(T.UPSTREAM_ERROR, UPSTREAM_503), False),
        (_failed(T.HEADER_TIMEOUT, UpstreamTimeout("t")), False),
        (_failed(T.UPSTREAM_ERROR, RateLimited("r", status=429)), False),
    ],
)
def test_a_request_that_is_not_idempotent_is_retried_only_when_never_sent(
    outcome: Outcome, retry: bool
) -> None:
    assert judge(outcome, POLICY, idempotent=False).retry is retry
