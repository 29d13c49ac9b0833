"""/v1/responses end to end with the openai SDK: native providers relayed, others translated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest
import trio

from gomodel.testing import MockUpstream, Reply
from tests.app.gateway import Gateway, start_gateway
from tests.conftest import FIXTURES, load_stream


async def test_native_responses_relayed_verbatim(gw: Gateway) -> None:
    """A native provider's Responses answer reaches the SDK byte for byte, usage recorded."""
    recorded = (FIXTURES / "openai/responses.json").read_bytes()
    gw.mock.script(Reply(body=(recorded,), chunked=False), path="/responses")
    async with gw.sdk() as sdk:
        raw = await sdk.responses.with_raw_response.create(model="gpt-4o", input="hi")
    assert raw.http_response.content == recorded
    assert raw.headers["x-gomodel-route"] == "passthrough"
    assert raw.parse().output_text
    assert gw.mock.requests[-1].path.endswith("/responses")
    [record] = await gw.records(1)
    assert record.endpoint == "/v1/responses"
    assert record.usage is not None and record.usage.total_tokens > 0


async def test_native_responses_stream_byte_identical(gw: Gateway) -> None:
    """A native Responses stream is relayed event by event, byte for byte."""
    recorded = load_stream("openai/responses_stream.txt")
    gw.mock.script(Reply.sse([recorded], done=False), path="/responses")
    async with (
        gw.http() as client,
        client.stream(
            "POST", "/responses", json={"model": "gpt-4o", "input": "hi", "stream": True}
        ) as response,
    ):
        received = b"".join([chunk async for chunk in response.aiter_raw()])
    assert received == recorded
    [record] = await gw.records(1)
    assert record.complete and record.usage is not None


async def test_translated_responses(translated: Gateway) -> None:
    """A provider without the Responses API answers responses.create through chat."""
    async with translated.sdk() as sdk:
        raw = await sdk.responses.with_raw_response.create(
            model="llama-3", input="hi", instructions="Be brief.", max_output_tokens=50
        )
    response = raw.parse()
    assert response.output_text == "Mock response to: hi"
    assert response.status == "completed"
    assert response.usage is not None and response.usage.total_tokens == 30
    assert raw.headers["x-gomodel-route"] == "translate; dialect"
    sent = translated.mock.requests[-1]
    assert sent.path.endswith("/chat/completions")
    assert isinstance(sent.json, dict)
    assert sent.json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.json["max_tokens"] == 50


async def test_translated_responses_stream(translated: Gateway) -> None:
    """responses.stream works on a translated provider: text deltas, then completed with usage."""

    def run(sdk: openai.OpenAI) -> tuple[str, Any]:
        with sdk.responses.stream(model="llama-3", input="hi") as stream:
            text = "".join(
                event.delta for event in stream if event.type == "response.output_text.delta"
            )
            return text, stream.get_final_response()

    text, final = await translated.in_thread(run)
    assert text == "Mock response to: hi"
    assert final.usage is not None and final.usage.total_tokens == 30
    sent = translated.mock.requests[-1]
    assert isinstance(sent.json, dict)
    assert sent.json["stream_options"] == {"include_usage": True}
    [record] = await translated.records(1)
    assert record.stream and record.complete and record.route == "translate"


async def test_responses_bad_request(gw: Gateway) -> None:
    """A Responses request without a model is a 400 naming it."""
    async with gw.http() as client:
        response = await client.post("/responses", json={"input": "hi"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "model"


async def test_native_responses_stream_through_sdk(gw: Gateway) -> None:
    """responses.stream on a native provider: the SDK assembles the recorded stream."""
    gw.mock.script(
        Reply.sse([load_stream("openai/responses_stream.txt")], done=False), path="/responses"
    )

    def run(sdk: openai.OpenAI) -> tuple[str, Any]:
        with sdk.responses.stream(model="gpt-4o", input="hi") as stream:
            text = "".join(
                event.delta for event in stream if event.type == "response.output_text.delta"
            )
            return text, stream.get_final_response()

    text, final = await gw.in_thread(run)
    assert text
    assert final.output_text == text
    assert final.usage is not None


@pytest.fixture
async def anthropic_gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await start_gateway(
        nursery,
        tmp_path,
        mock=MockUpstream(models=("claude-sonnet-4",), dialect="anthropic"),
        provider=lambda url: {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": url},
    )


async def test_anthropic_responses_both_ways(anthropic_gw: Gateway) -> None:
    """Responses on an Anthropic model: Responses -> chat -> Messages and back, streamed and not."""

    def run(sdk: openai.OpenAI) -> tuple[str, str, Any]:
        plain = sdk.responses.create(model="claude-sonnet-4", input="hi").output_text
        with sdk.responses.stream(model="claude-sonnet-4", input="hi") as stream:
            text = "".join(
                event.delta for event in stream if event.type == "response.output_text.delta"
            )
            return plain, text, stream.get_final_response()

    plain, streamed, final = await anthropic_gw.in_thread(run)
    assert plain == streamed == "Mock response to: hi"
    assert final.usage is not None and final.usage.total_tokens == 30
    sent = [r for r in anthropic_gw.mock.requests if r.path.endswith("/messages")]
    assert len(sent) == 2
    assert all(isinstance(r.json, dict) and r.json["max_tokens"] == 4096 for r in sent)
    records = await anthropic_gw.records(2)
    assert {r.stream for r in records} == {False, True}
    assert all(r.usage is not None and r.usage.total_tokens == 30 for r in records)


async def test_translated_stream_without_done_still_completes(translated: Gateway) -> None:
    """A chat stream that ends after its finish_reason but without ``[DONE]`` (only the
    terminator was lost) still gives the client ``response.completed``, and the request counts
    as completed: the translator's finish() runs at the end of the upstream body."""
    chunks = [
        {"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
    ]
    translated.mock.script(Reply.sse(chunks, done=False), path="/chat/completions")

    def run(sdk: openai.OpenAI) -> Any:
        with sdk.responses.stream(model="llama-3", input="hi") as stream:
            return stream.get_final_response()

    final = await translated.in_thread(run)
    assert (final.status, final.output_text) == ("completed", "Hi")
    [record] = await translated.records(1)
    assert (record.termination.value, record.complete) == ("completed", True)
    assert record.usage is not None and record.usage.total_tokens == 4


async def test_translated_request_is_decided_once(
    anthropic_gw: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Responses stream to Anthropic (Responses -> chat -> Messages) is translated to chat and
    its chat route decided once, for both the upstream body and the stream stage (it was once
    translated, dumped, parsed and decided a second time for the stream)."""
    import sys

    from gomodel.routing import decision
    from gomodel.translate import responses as translation

    calls = {"responses_to_chat": 0, "decide": 0}
    for name, module in (("responses_to_chat", translation), ("decide", decision)):
        original = getattr(module, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        # Wherever the function was imported by name, count it there too.
        for loaded in list(sys.modules.values()):
            if getattr(loaded, "__name__", "").startswith("gomodel") and (
                getattr(loaded, name, None) is original
            ):
                monkeypatch.setattr(loaded, name, counted)

    def run(sdk: openai.OpenAI) -> str:
        with sdk.responses.stream(model="claude-sonnet-4", input="hi") as stream:
            return stream.get_final_response().output_text

    assert await anthropic_gw.in_thread(run) == "Mock response to: hi"
    assert calls["responses_to_chat"] == 1
    # At most one decision for the Responses request and one for the chat request made of it.
    assert calls["decide"] <= 2
