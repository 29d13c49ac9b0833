"""The count_tokens estimate for models that are not Anthropic's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gomodel.translate.messages_tokens import (
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    PDF_TOKENS,
    REPLY_TOKENS,
    estimate_input_tokens,
    text_tokens,
)
from tests.conftest import FIXTURES

HELLO = "Say 'Hello, World!' and nothing else."  # the request behind the recorded answers
BASE = REPLY_TOKENS + MESSAGE_TOKENS  # one user turn
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}}
USE = {"type": "tool_use", "id": "t", "name": "Read", "input": {"path": "/a"}}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def request(*turns: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "max_tokens": 1, "messages": list(turns), **fields}


def test_the_recorded_request_matches_openais_count() -> None:
    recorded = orjson.loads((FIXTURES / "openai" / "chat_completion.json").read_bytes())
    assert estimate_input_tokens(request(user(HELLO))) == recorded["usage"]["prompt_tokens"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("abcd", 1), ("abcde", 2), ("é", 1), ("今天天气", 3), ("x" * 400, 100)],
)
def test_text_is_utf8_bytes_over_four(text: str, tokens: int) -> None:
    assert text_tokens(text) == tokens


CASES: list[tuple[str, dict[str, Any], int]] = [
    ("string_content", request(user("abcdefgh")), BASE + 2),
    ("text_blocks", request(user([{"type": "text", "text": "abcd"}] * 3)), BASE + 3),
    ("system_string", request(user("abcd"), system="abcdefgh"), BASE + 1 + MESSAGE_TOKENS + 2),
    (
        "system_blocks",
        request(user("abcd"), system=[{"type": "text", "text": "abcd", "cache_control": {}}]),
        BASE + 1 + MESSAGE_TOKENS + 1,
    ),
    ("image_flat", request(user([IMAGE, IMAGE])), BASE + 2 * IMAGE_TOKENS),
    (
        "pdf_flat",
        request(user([{"type": "document", "source": {"type": "base64", "data": "JV" * 9000}}])),
        BASE + PDF_TOKENS,
    ),
    (
        "text_document",
        request(
            user(
                [
                    {
                        "type": "document",
                        "title": "abcd",
                        "source": {"type": "text", "data": "abcdefgh"},
                    }
                ]
            )
        ),
        BASE + 1 + 2,
    ),
    (
        "tool_use_and_result",
        request(
            user("abcd"),
            {"role": "assistant", "content": [USE]},
            user([{"type": "tool_result", "tool_use_id": "t", "content": "abcdefgh"}]),
        ),
        # turns: 3 messages + the tool message; "Read" + '{"path":"/a"}' (13 bytes)
        REPLY_TOKENS + 4 * MESSAGE_TOKENS + 1 + 1 + 4 + 2,
    ),
    (
        "result_images",
        request(user([{"type": "tool_result", "tool_use_id": "t", "content": [IMAGE]}])),
        BASE + MESSAGE_TOKENS + IMAGE_TOKENS,
    ),
    (
        "thinking_not_sent",
        request({"role": "assistant", "content": [{"type": "thinking", "thinking": "x" * 400}]}),
        BASE,
    ),
    (
        "tools",
        request(user(""), tools=[{"name": "f", "input_schema": {"type": "object"}, "x": 1}]),
        # {"name":"f","input_schema":{"type":"object"}} is 45 bytes
        BASE + 12,
    ),
    ("malformed_parts_count_nothing", request(user([1, {"type": "video"}]), tools="x"), BASE),
]


@pytest.mark.parametrize(("doc", "tokens"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_estimate(doc: dict[str, Any], tokens: int) -> None:
    assert estimate_input_tokens(doc) == tokens


def test_not_a_request_counts_the_reply_only() -> None:
    assert estimate_input_tokens({"messages": "x", "system": 5}) == REPLY_TOKENS


_text = st.text(max_size=40)


@given(st.lists(_text, min_size=1, max_size=5), _text)
def test_more_text_never_counts_less(texts: list[str], extra: str) -> None:
    """Adding text to a request never lowers the estimate, and text costs at most its bytes."""
    turns = [user(t) for t in texts]
    before = estimate_input_tokens(request(*turns))
    after = estimate_input_tokens(request(*turns, user(extra)))
    assert after >= before + MESSAGE_TOKENS
    assert after - before - MESSAGE_TOKENS <= len(extra.encode("utf-8", "replace"))
