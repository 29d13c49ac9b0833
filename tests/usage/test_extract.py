"""A Usage holds OpenAI-style counts from the moment it is built, for every recorded dialect."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gomodel.translate.anthropic_response import usage_from_anthropic
from gomodel.usage.extract import Usage, usage_from_object
from tests.conftest import FIXTURES


def _usage(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())["usage"]


@pytest.mark.parametrize(
    ("fixture", "counts"),
    [
        # (input, output, total, cached, cache writes, reasoning)
        ("openai/chat_completion.json", (17, 4, 21, 0, 0, 0)),
        ("openai/chat_completion_reasoning.json", (13, 85, 98, 0, 0, 64)),  # reasoning inside
        ("openai/responses.json", (17, 5, 22, 0, 0, 0)),
        ("groq/chat_completion.json", (38, 4, 42, 0, 0, 0)),
        ("gemini/chat_completion.json", (4, 2, 6, 0, 0, 0)),
        # xAI's chat counts reasoning on top of completion_tokens (10 + 35 + 375 = 420): the
        # Usage counts it inside, as OpenAI does; its Responses API already counts it inside.
        ("xai/chat_completion.json", (10, 410, 420, 3, 0, 375)),
        ("xai/responses.json", (17, 276, 293, 3, 0, 272)),
    ],
)
def test_openai_shapes(fixture: str, counts: tuple[int, ...]) -> None:
    """Chat and Responses usage objects, as the providers recorded them."""
    usage = usage_from_object(_usage(fixture))
    assert usage is not None
    assert counts == (
        usage.input_tokens,
        usage.output_tokens,
        usage.total_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    )


def test_anthropic_cache_tokens_are_inside_input() -> None:
    """Anthropic's input_tokens leaves cache reads and writes out; the Usage counts them in."""
    raw = {**_usage("anthropic/messages.json"), "cache_read_input_tokens": 2000}
    raw |= {"input_tokens": 5000, "cache_creation_input_tokens": 3000, "output_tokens": 1000}
    assert usage_from_anthropic(raw) == Usage(
        input_tokens=10_000,
        output_tokens=1000,
        total_tokens=11_000,
        cached_tokens=2000,
        cache_write_tokens=3000,
    )


def test_nothing_counted_is_no_usage() -> None:
    """All-zero usage objects (sent mid-stream by some providers) count nothing."""
    assert usage_from_object({"prompt_tokens": 0, "completion_tokens": 0}) is None
    assert usage_from_object(None) is None
    assert usage_from_anthropic({"input_tokens": 0, "output_tokens": 0}) is None
