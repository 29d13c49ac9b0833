"""Anthropic behind the OpenAI API, end to end: hypercorn, the mock in Anthropic dialect, the
official ``openai`` SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import openai
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream, Reply
from tests.app.gateway import ONE_ATTEMPT, Gateway, start_gateway

KEY = "sk-ant-secret"
MODEL = "claude-sonnet-4-20250514"
HI = [{"role": "user", "content": "hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await _anthropic(nursery, tmp_path, {})


@pytest.fixture
async def gw1(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    """Retries off: an upstream error is the answer."""
    return await _anthropic(nursery, tmp_path, ONE_ATTEMPT)


async def _anthropic(nursery: trio.Nursery, tmp_path: Path, env: dict[str, str]) -> Gateway:
    return await start_gateway(
        nursery,
        tmp_path,
        env,
        mock=MockUpstream(models=(MODEL,), require_key=KEY, dialect="anthropic"),
        provider=lambda url: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url},
    )


def _sse(*events: tuple[str, dict[str, Any]]) -> Reply:
    body = [
        f"event: {name}\ndata: ".encode() + orjson.dumps(data) + b"\n\n" for name, data in events
    ]
    return Reply.sse(body, done=False)


def _messages_request(gw: Gateway) -> dict[str, Any]:
    [request] = [r for r in gw.mock.requests if r.path.endswith("/messages")]
    assert isinstance(request.json, dict)
    return request.json


async def test_models_listed(gw: Gateway) -> None:
    """Anthropic's model list appears as anthropic/<id>."""
    async with gw.sdk() as sdk:
        page = await sdk.models.list()
    assert [m.id for m in page.data] == [f"anthropic/{MODEL}"]


async def test_plain_chat(gw: Gateway) -> None:
    """A plain chat request is translated both ways; usage and finish reason are right."""
    async with gw.sdk() as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(
            model=MODEL,
            messages=[{"role": "system", "content": "Be brief."}, *HI],  # type: ignore[list-item]
            stop=["END"],
        )
    completion = raw.parse()
    assert raw.headers["x-gomodel-route"] == "translate; dialect"
    assert completion.choices[0].message.content == "Mock response to: hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (10, 20)
    sent = _messages_request(gw)
    assert sent["system"] == "Be brief."
    assert sent["stop_sequences"] == ["END"]
    assert sent["max_tokens"] == 4096
    upstream = gw.mock.requests[-1]
    assert upstream.header("x-api-key") == KEY
    assert upstream.header("anthropic-version") == "2023-06-01"
    [record] = gw.usage.records
    assert record.route == "translate"
    assert record.usage is not None and record.usage.input_tokens == 10


async def test_streaming_chat_with_usage(gw: Gateway) -> None:
    """A stream arrives as chat.completion.chunk events with the usage chunk asked for; its
    usage equals the non-streamed answer's."""

    def run(sdk: openai.OpenAI) -> list[Any]:
        return list(
            sdk.chat.completions.create(
                model=f"anthropic/{MODEL}",
                messages=HI,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
        )

    chunks = await gw.in_thread(run)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock response to: hi"
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 30
    [record] = await gw.records(1)
    assert record.stream and record.complete
    assert record.usage is not None and record.usage.total_tokens == 30


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(gw: Gateway, stream: bool) -> None:
    """A forced tool call comes back as tool_calls with its id and JSON arguments."""

    def run(sdk: openai.OpenAI) -> tuple[str | None, str, str, str]:
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "weather in Warsaw?"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
        }
        if not stream:
            message = sdk.chat.completions.create(**kwargs).choices[0]
            [call] = message.message.tool_calls or []
            return message.finish_reason, call.id, call.function.name, call.function.arguments  # type: ignore[union-attr]
        ids, names, arguments, finish = [], [], "", None
        for chunk in sdk.chat.completions.create(**kwargs, stream=True):
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert call.index == 0
                if call.id:
                    ids.append(call.id)
                if call.function and call.function.name:
                    names.append(call.function.name)
                if call.function and call.function.arguments:
                    arguments += call.function.arguments
        return finish, "".join(ids), "".join(names), arguments

    finish, call_id, name, arguments = await gw.in_thread(run)
    assert finish == "tool_calls"
    assert call_id == "toolu_mock_123"
    assert name == "get_weather"
    assert orjson.loads(arguments) == {"city": "Warsaw"}
    sent = _messages_request(gw)
    assert sent["tool_choice"] == {"type": "any"}
    assert sent["tools"][0]["name"] == "get_weather"


async def test_image_url(gw: Gateway) -> None:
    """An image part becomes an Anthropic image block."""
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.org/cat.png"}},
    ]
    async with gw.sdk() as sdk:
        await sdk.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}]
        )  # type: ignore[list-item,misc]
    [message] = _messages_request(gw)["messages"]
    assert message["content"][1] == {
        "type": "image",
        "source": {"type": "url", "url": "https://example.org/cat.png"},
    }


async def test_mid_stream_overloaded_error(gw: Gateway) -> None:
    """An Anthropic error event mid-stream ends the stream in an error the SDK raises."""
    gw.mock.script(
        _sse(
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": "msg_1",
                        "type": "message",
                        "role": "assistant",
                        "model": MODEL,
                        "content": [],
                        "usage": {"input_tokens": 10, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": "Hel"},
                },
            ),
            (
                "error",
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ),
        ),
        path="/messages",
    )
    seen: list[str] = []

    def consume(sdk: openai.OpenAI) -> None:
        for chunk in sdk.chat.completions.create(model=MODEL, messages=HI, stream=True):  # type: ignore[arg-type]
            if chunk.choices:
                seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as info:
        await gw.in_thread(consume)
    assert "Overloaded" in info.value.message
    assert "".join(seen) == "Hel"
    [record] = await gw.records(1)
    assert record.termination.value == "upstream_error"


@pytest.mark.parametrize(
    ("status", "error_type", "sdk_error", "expected_status"),
    [
        (429, "rate_limit_error", openai.RateLimitError, 429),
        (529, "overloaded_error", openai.InternalServerError, 503),
        (401, "authentication_error", openai.AuthenticationError, 401),
        (400, "invalid_request_error", openai.BadRequestError, 400),
    ],
)
async def test_anthropic_errors_become_openai_errors(
    gw1: Gateway,
    status: int,
    error_type: str,
    sdk_error: type[openai.APIStatusError],
    expected_status: int,
) -> None:
    """Anthropic error responses reach the SDK as OpenAI errors with the right status."""
    gw = gw1
    body = {"type": "error", "error": {"type": error_type, "message": f"{error_type}!"}}
    gw.mock.script(
        attrs.evolve(
            Reply.json(body, status=status),
            headers=(("content-type", "application/json"), ("retry-after", "4")),
        ),
        path="/messages",
    )
    async with gw.sdk() as sdk:
        with pytest.raises(sdk_error) as info:
            await sdk.chat.completions.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
    assert info.value.status_code == expected_status
    assert f"{error_type}!" in info.value.message
    assert info.value.code == error_type
    if status in (429, 529):
        assert info.value.response.headers["retry-after"] == "4"


async def test_field_without_anthropic_meaning_rejected(gw: Gateway) -> None:
    """A field Anthropic cannot honour is a 400 naming it, before any upstream call."""
    async with gw.sdk() as sdk:
        with pytest.raises(openai.BadRequestError) as info:
            await sdk.chat.completions.create(model=MODEL, messages=HI, n=3)  # type: ignore[arg-type]
    assert info.value.param == "n"
    assert not [r for r in gw.mock.requests if r.path.endswith("/messages")]
