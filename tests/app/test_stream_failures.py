"""What a client sees when an OpenAI-compatible provider fails inside a 200 stream, and when a
body the gateway must re-encode is nested past what it can write back."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from gomodel.testing import Reply
from tests.app.gateway import Gateway

HI = [{"role": "user", "content": "hi"}]
CONTENT = {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}


@pytest.mark.parametrize(
    ("first", "status"),
    [
        ({"error": {"message": "slow down", "code": 429}}, 429),  # OpenRouter's style
        ({"error": {"message": "upstream died", "type": "server_error"}}, 502),
    ],
)
async def test_error_as_first_event_gets_a_real_status(
    gw1: Gateway, first: dict[str, Any], status: int
) -> None:
    """A 200 stream whose first event is an error object is answered with an error status,
    not relayed after a 200 the client would take for success (retries off)."""
    gw = gw1
    gw.mock.script(Reply.sse([first, CONTENT]), path="/chat/completions")
    async with gw.http() as client:
        body = {"model": "gpt-4o", "messages": HI, "stream": True}
        response = await client.post("/chat/completions", json=body)
    assert response.status_code == status
    assert "slow down" in response.text or "upstream died" in response.text
    [record] = await gw.records(1)
    assert (record.status, record.termination.value) == (status, "upstream_error")


async def test_empty_stream_is_a_502(gw1: Gateway) -> None:
    """A 200 stream with nothing but ``[DONE]`` is an empty answer: 502, not a silent 200."""
    gw = gw1
    gw.mock.script(Reply.sse([]), path="/chat/completions")
    async with gw.http() as client:
        body = {"model": "gpt-4o", "messages": HI, "stream": True}
        response = await client.post("/chat/completions", json=body)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "empty_stream"


async def test_error_after_content_ends_the_stream_with_one_error_event(gw: Gateway) -> None:
    """After content, an in-band error ends the stream with the gateway's error event (which
    the SDK raises), the provider's message in it, and no ``[DONE]``."""
    failure = {"error": {"message": "context overflow", "code": "context_length_exceeded"}}
    gw.mock.script(Reply.sse([CONTENT, failure]), path="/chat/completions")

    def run(sdk: openai.OpenAI) -> tuple[list[str], str]:
        seen = []
        try:
            for chunk in sdk.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                seen.append(chunk.choices[0].delta.content or "")
        except openai.APIError as error:
            return seen, error.message
        raise AssertionError("the stream ended without an error")

    seen, message = await gw.in_thread(run)
    assert seen == ["Hel"] and "context overflow" in message
    [record] = await gw.records(1)
    assert (record.status, record.termination.value) == (200, "upstream_error")


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # rewrite: a qualified selector makes the gateway re-encode the body
        ("/chat/completions", {"model": "openai/gpt-4o", "messages": HI, "x": _deep(400)}),
        ("/embeddings", {"model": "openai/gpt-4o", "input": "hi", "x": _deep(400)}),
        ("/responses", {"model": "openai/gpt-4o", "input": "hi", "x": _deep(400)}),
    ],
)
async def test_body_too_deep_to_re_encode_is_a_400(
    gw: Gateway, path: str, body: dict[str, Any]
) -> None:
    """orjson reads 1024 levels but writes 254: a body the gateway would have to re-encode
    past that is a 400 before any upstream call, never a 500."""
    async with gw.http() as client:
        response = await client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "body_too_deep"
    assert not [r for r in gw.mock.requests if r.method == "POST"]


async def test_deep_body_on_the_fast_path_is_forwarded(gw: Gateway) -> None:
    """The fast path never re-encodes: the same nesting goes upstream byte for byte."""
    async with gw.http() as client:
        body = {"model": "gpt-4o", "messages": HI, "x": _deep(400)}
        response = await client.post("/chat/completions", json=body)
    assert response.status_code == 200
