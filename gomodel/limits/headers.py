"""OpenAI's rate-limit headers from an :class:`~gomodel.limits.model.Admission`.

``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` describe, per metric, the counter that
binds (:meth:`Admission.tightest`): on a refusal the one that refused, else the one with the
least left. ``reset`` is the time until its window starts again, written as OpenAI writes it
(``1s``, ``6m0s``, ``17ms``). A refusal also gets ``retry-after`` in whole seconds (rounded up)
when waiting can help.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import math
from datetime import timedelta

from gomodel.limits.model import Admission, Metric

__all__ = ["format_reset", "header_bytes", "rate_limit_headers"]


def format_reset(seconds: float) -> str:
    """A duration as OpenAI's headers write it: ``850ms``, ``1s``, ``1.5s``, ``6m0s``, ``1h2m3s``
    (rounded up to the millisecond: a client that waits that long finds the window reset)."""
    return _format_ms(max(0, math.ceil(round(seconds * 1000, 6))))


def _format_ms(ms: int) -> str:
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}" if rest % 1000 == 0 else f"{rest / 1000:.3f}".rstrip("0")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


_MS = timedelta(milliseconds=1)
_NAMES = {
    metric: tuple(f"x-ratelimit-{part}-{metric.value}" for part in ("limit", "remaining", "reset"))
    for metric in (Metric.REQUESTS, Metric.TOKENS)
}
_NAME_BYTES = {name: name.encode() for names in _NAMES.values() for name in names}


def rate_limit_headers(admission: Admission) -> dict[str, str]:
    """The headers for the response to a request (admitted: its 2xx; refused: the 429)."""
    headers: dict[str, str] = {}
    for metric, (limit, remaining, reset) in _NAMES.items():
        counter = admission.tightest(metric)
        if counter is None:
            continue
        headers[limit] = str(counter.limit.limit)
        headers[remaining] = str(counter.remaining)
        if counter.resets_at is not None:
            # Whole milliseconds, rounded up, from the datetimes' exact difference.
            headers[reset] = _format_ms(max(0, -((admission.at - counter.resets_at) // _MS)))
    if not admission.admitted and admission.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(admission.retry_after)))
    return headers


def header_bytes(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """``headers`` as ASGI wants them; the names are encoded once, at import."""
    names = _NAME_BYTES
    return [(names.get(k) or k.encode(), v.encode()) for k, v in headers.items()]
