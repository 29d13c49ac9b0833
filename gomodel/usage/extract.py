"""Token counts from provider bodies and stream events (SPEC §5.4), as one frozen value.

A :class:`Usage` holds OpenAI-style counts from the moment it is built, whatever the dialect:
``input_tokens`` is the whole prompt (cache reads and writes included), ``output_tokens`` the
whole completion (reasoning included), ``total_tokens`` their sum as the provider reports it.
Each dialect's extraction normalises (:func:`usage_from_object` here for the OpenAI and
Responses shapes, ``usage_from_anthropic`` for Anthropic's); nothing downstream corrects them.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["Usage", "usage_from_object"]


@attrs.frozen(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens read from the provider's cache
    cache_write_tokens: int = 0  # prompt tokens written to the cache (Anthropic)
    reasoning_tokens: int = 0
    # The provider's own usage object, for fields the gateway has no name for.
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def usage_from_object(usage: object) -> Usage | None:
    """A :class:`Usage` from an OpenAI chat or Responses usage object.

    ``None`` if it counts nothing (providers send all-zero usage objects mid-stream).
    """
    if not isinstance(usage, Mapping):
        return None
    input_tokens = _int(usage.get("prompt_tokens")) or _int(usage.get("input_tokens"))
    output_tokens = _int(usage.get("completion_tokens")) or _int(usage.get("output_tokens"))
    total = _int(usage.get("total_tokens"))
    if not (input_tokens or output_tokens or total):
        return None
    prompt_details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    completion_details = usage.get("completion_tokens_details") or usage.get(
        "output_tokens_details"
    )
    cached = _int(usage.get("cache_read_input_tokens"))
    if isinstance(prompt_details, Mapping):
        cached = cached or _int(prompt_details.get("cached_tokens"))
    reasoning = 0
    if isinstance(completion_details, Mapping):
        reasoning = _int(completion_details.get("reasoning_tokens"))
    if reasoning and total == input_tokens + output_tokens + reasoning:
        # xAI (and any provider like it) counts reasoning on top of completion_tokens.
        output_tokens += reasoning
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total or input_tokens + output_tokens,
        cached_tokens=cached,
        cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
        reasoning_tokens=reasoning,
        raw=dict(usage),
    )
