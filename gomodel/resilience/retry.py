"""The retry policy: how long to back off, what ``Retry-After`` asks for, and which outcomes of
an attempt may be tried again (on the same deployment or on the next target).

:func:`judge` reads one attempt's frozen :class:`~gomodel.pipeline.outcome.Outcome`:

* answered (completed, or failed after the client's response started: the stream's error event
  is the answer), the client gone, the gateway shutting down: never retried;
* nothing reached the provider (a connect error, a connect timeout, no free pooled connection):
  always retried, whatever the request;
* the provider failed before the response started: a header timeout, a stall before the first
  event, an empty or cut stream, an oversized or malformed first event: retried;
  an error status (also an error event as the stream's first event, with the status it names):
  retried when the status is in ``FAILOVER_RETRY_ON_STATUSES``. A reset before the response
  headers is a 502;
* a request that is not idempotent (a passthrough ``POST`` without ``Idempotency-Key``) is
  retried only when nothing reached the provider.

It also says what the attempt means for the deployment's circuit breaker (:class:`Verdict`).

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import email.utils
import math

import attrs

from gomodel.pipeline.outcome import Outcome
from gomodel.resilience.breaker import Verdict
from gomodel.termination import Termination

__all__ = ["DEFAULT_STATUSES", "Judgement", "RetryPolicy", "judge", "parse_retry_after"]

DEFAULT_STATUSES = frozenset({429, 500, 502, 503, 504})

# Nothing reached the provider: safe to send again, whatever the request does.
_UNSENT = frozenset({Termination.CONNECT_ERROR})
# The provider took the request and failed before the client's response started.
_BROKEN = frozenset(
    {
        Termination.HEADER_TIMEOUT,
        Termination.IDLE_TIMEOUT,
        Termination.DEADLINE,
        Termination.UPSTREAM_EOF,
        Termination.EVENT_TOO_LARGE,
    }
)
# Ends that say nothing about the provider.
_NEUTRAL = frozenset(
    {Termination.CLIENT_DISCONNECT, Termination.SHUTDOWN, Termination.STALLED_CLIENT}
)


@attrs.frozen(slots=True)
class RetryPolicy:
    max_retries: int = 3  # RETRY_MAX_RETRIES: attempts after every target was tried once
    initial_backoff: float = 1.0  # RETRY_INITIAL_BACKOFF
    max_backoff: float = 30.0  # RETRY_MAX_BACKOFF
    backoff_factor: float = 2.0  # RETRY_BACKOFF_FACTOR
    jitter_factor: float = 0.1  # RETRY_JITTER_FACTOR: +-10 %
    total_timeout: float = 60.0  # RETRY_TOTAL_TIMEOUT: no attempt starts later than this
    failover: bool = True  # FAILOVER_ENABLED
    failover_max_attempts: int = 3  # FAILOVER_MAX_ATTEMPTS: targets tried, the first included
    statuses: frozenset[int] = DEFAULT_STATUSES  # FAILOVER_RETRY_ON_STATUSES

    def backoff(self, retry: int, unit: float = 0.5) -> float:
        """The wait before retry number ``retry`` (1-based): ``initial * factor^(retry-1)``,
        at most ``max_backoff``, then jittered by ``+-jitter_factor``; ``unit`` is a uniform
        draw from [0, 1) (0.5: no jitter)."""
        base = min(self.initial_backoff * self.backoff_factor ** (retry - 1), self.max_backoff)
        return max(base * (1.0 + self.jitter_factor * (2.0 * unit - 1.0)), 0.0)


@attrs.frozen(slots=True)
class Judgement:
    retry: bool  # another attempt may serve the request
    verdict: Verdict  # for the deployment's circuit breaker
    retry_after: float | None = None  # seconds the provider asked to be left alone
    detail: str | None = None  # the failure, for the breaker's statistics


def judge(
    outcome: Outcome,
    policy: RetryPolicy,
    *,
    idempotent: bool = True,
    now_epoch: float | None = None,
) -> Judgement:
    """What one attempt's outcome means: retry or not, and for the breaker."""
    termination = outcome.termination
    error = outcome.error
    detail = None if error is None else f"{error.status} {error.message}"[:300]
    if termination in _NEUTRAL:
        return Judgement(False, Verdict.NEUTRAL)
    if termination is Termination.COMPLETED:
        return Judgement(False, Verdict.SUCCESS)
    if outcome.started or error is None:
        # The answer is out (a stream ended by its error event): the provider broke it.
        return Judgement(False, Verdict.FAILURE, detail=detail)
    if termination in _UNSENT:
        # No free pooled connection is the gateway's own limit, not the provider's health.
        pool = error.code == "upstream_pool_exhausted"
        return Judgement(True, Verdict.NEUTRAL if pool else Verdict.FAILURE, detail=detail)
    if termination in _BROKEN:
        return Judgement(idempotent, Verdict.FAILURE, detail=detail)
    status = error.status
    retry_after = parse_retry_after(error.headers.get("retry-after"), now_epoch)
    if status == 429:
        verdict = Verdict.RATE_LIMITED
    elif status >= 500:
        verdict = Verdict.FAILURE
    else:
        verdict = Verdict.SUCCESS  # the deployment answered; the request itself was refused
    return Judgement(idempotent and status in policy.statuses, verdict, retry_after, detail)


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds, or an HTTP date (needs
    ``now_epoch``, the wall clock). ``None`` when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        if now_epoch is None:
            return None
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return max(when.timestamp() - now_epoch, 0.0)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
