"""Resilience: circuit breakers per deployment, the retry policy, and the attempt schedule.

* :mod:`~gomodel.resilience.breaker`: :class:`CircuitBreaker`, a state machine over an
  injected clock (closed -> open -> half-open -> closed);
* :mod:`~gomodel.resilience.retry`: :class:`RetryPolicy` (backoff, ``Retry-After``, which
  outcomes are retried) and :func:`judge`, one attempt's outcome as a verdict;
* :mod:`~gomodel.resilience.schedule`: :class:`Schedule`, which attempt comes next and after
  how long a wait.

The attempt loop that drives them is :mod:`gomodel.pipeline.attempts`. Pure: no trio, httpx or
hypercorn.
"""
