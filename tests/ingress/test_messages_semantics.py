"""The Messages peek: what decides the route, and the conversation's shape, checked for every
provider before anything goes upstream."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gomodel.errors import InvalidRequest
from gomodel.ingress.semantics import Operation, parse_messages

HI = [{"role": "user", "content": "hi"}]
CALL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
RESULT = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}


def _parse(**fields: Any) -> Any:
    return parse_messages(orjson.dumps({"model": "claude-x", "messages": HI, **fields}))


def test_reads_what_decides_the_route() -> None:
    """Selector, provider field, stream flag and whether max_tokens is there."""
    semantics = _parse(model="anthropic/claude-x", provider="anthropic", stream=True, max_tokens=9)
    assert semantics.operation is Operation.MESSAGES
    assert (semantics.model, semantics.provider) == ("anthropic/claude-x", "anthropic")
    assert semantics.stream and semantics.has_max_tokens
    bare = _parse(max_tokens=None)
    assert not bare.stream and not bare.has_max_tokens
    assert _parse(max_tokens=0).has_max_tokens  # Anthropic's cache pre-warm


def test_unknown_blocks_and_fields_are_left_to_the_provider() -> None:
    """Block types and fields the gateway does not know pass: Anthropic knows more of them."""
    content = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "brand_new_beta_block", "x": 1},
    ]
    messages = [*HI, {"role": "assistant", "content": content}]
    semantics = _parse(messages=messages, container="c_1", system=[{"type": "text", "text": "s"}])
    assert semantics.doc["container"] == "c_1"


def test_tool_round_trip_passes() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [CALL]},
        {"role": "user", "content": [RESULT]},
    ]
    assert _parse(messages=messages).model == "claude-x"


@pytest.mark.parametrize(
    ("fields", "param", "fragment"),
    [
        ({"model": None}, "model", "model is required"),
        ({"stream": "yes"}, "stream", "boolean"),
        ({"max_tokens": "10"}, "max_tokens", "integer"),
        ({"max_tokens": -1}, "max_tokens", "integer"),
        ({"max_tokens": True}, "max_tokens", "integer"),
        ({"system": 5}, "system", "a string or an array of text blocks"),
        ({"system": [{"type": "image"}]}, "system[0]", "a text block"),
        ({"system": [{"type": "text", "text": 1}]}, "system[0].text", "a string"),
        ({"messages": []}, "messages", "non-empty array"),
        ({"messages": "hi"}, "messages", "non-empty array"),
        ({"messages": ["hi"]}, "messages[0]", "an object"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "user, assistant"),
        ({"messages": [{"role": "user"}]}, "messages[0].content", "a string or a non-empty"),
        ({"messages": [{"role": "user", "content": []}]}, "messages[0].content", "non-empty"),
        ({"messages": [{"role": "user", "content": {}}]}, "messages[0].content", "a string or"),
        (
            {"messages": [{"role": "user", "content": [{"text": "no type"}]}]},
            "messages[0].content[0]",
            "a content block with a type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": 3}]}]},
            "messages[0].content[0]",
            "a content block with a type",
        ),
        (
            {"messages": [{"role": "assistant", "content": [{**CALL, "id": ""}]}]},
            "messages[0].content[0].id",
            "non-empty string",
        ),
        (
            {"messages": [{"role": "user", "content": [RESULT]}]},
            "messages[0].content[0].tool_use_id",
            "follows no tool_use block",
        ),
        (
            {"messages": [{"role": "user", "content": [{**RESULT, "tool_use_id": 7}]}]},
            "messages[0].content[0].tool_use_id",
            "non-empty string",
        ),
    ],
)
def test_malformed_is_400_naming_the_path(
    fields: dict[str, Any], param: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequest) as info:
        _parse(**fields)
    assert info.value.param == param
    assert fragment in info.value.message


def test_deeply_nested_block_is_described_not_dumped() -> None:
    """A value too deep to write back still gets a 400 (never an encoder crash)."""
    body = (
        b'{"model":"m","messages":[{"role":"user","content":[' + b"[" * 300 + b"]" * 300 + b"]}]}"
    )
    with pytest.raises(InvalidRequest) as info:
        parse_messages(body)
    assert info.value.param == "messages[0].content[0]"
    assert "deeply nested" in info.value.message
