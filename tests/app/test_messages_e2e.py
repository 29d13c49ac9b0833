"""``/v1/messages`` end to end: hypercorn, the mock in its Anthropic and OpenAI dialects, the
official ``anthropic`` SDK (sync and async), and the recorded Anthropic payloads byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import attrs
import httpx
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream, Reply
from gomodel.translate.messages_tokens import estimate_input_tokens
from tests.app.gateway import MASTER_KEY, ONE_ATTEMPT, UPSTREAM_KEY, Gateway, start_gateway
from tests.conftest import FIXTURES, load_stream

KEY = "sk-ant-secret"
CLAUDE = "claude-sonnet-4-20250514"
GPT = "gpt-4o-mini"
HI: list[Any] = [{"role": "user", "content": "hi"}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
RECORDED = sorted(p.name for p in (FIXTURES / "anthropic").glob("messages*.json"))
T = TypeVar("T")


@attrs.frozen
class Side:
    """A gateway in front of one kind of provider, and what a Messages call to it looks like."""

    gw: Gateway
    model: str
    route: str
    upstream_path: str  # the path suffix of the provider request

    @property
    def base_url(self) -> str:
        return self.gw.url.removesuffix("/v1")

    def sdk(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", MASTER_KEY)  # x-api-key, as Anthropic's own clients send
        return anthropic.Anthropic(base_url=self.base_url, max_retries=0, **kwargs)

    def async_sdk(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            base_url=self.base_url, auth_token=MASTER_KEY, max_retries=0
        )

    async def in_thread(self, fn: Callable[[anthropic.Anthropic], T]) -> T:
        def run() -> T:
            with self.sdk() as client:
                return fn(client)

        return await trio.to_thread.run_sync(run)

    def upstream(self) -> list[Any]:
        return [r for r in self.gw.mock.requests if r.path.endswith(self.upstream_path)]


async def _claude(nursery: trio.Nursery, tmp_path: Path, env: dict[str, str] | None = None) -> Side:
    gw = await start_gateway(
        nursery,
        tmp_path,
        env,
        mock=MockUpstream(models=(CLAUDE,), require_key=KEY, dialect="anthropic"),
        provider=lambda url: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url},
    )
    return Side(gw, CLAUDE, "passthrough", "/messages")


async def _gpt(nursery: trio.Nursery, tmp_path: Path) -> Side:
    return Side(
        await start_gateway(nursery, tmp_path), GPT, "translate; dialect", "/chat/completions"
    )


@pytest.fixture
async def claude(nursery: trio.Nursery, tmp_path: Path) -> Side:
    return await _claude(nursery, tmp_path)


@pytest.fixture(params=["anthropic", "openai"])
async def side(request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path) -> Side:
    return await (_claude if request.param == "anthropic" else _gpt)(nursery, tmp_path)


async def test_create_sync_and_async(side: Side) -> None:
    """messages.create answers with the text and the counts, and says which route it took."""

    def sync(client: anthropic.Anthropic) -> Any:
        return client.messages.with_raw_response.create(
            model=side.model, max_tokens=64, messages=HI
        )

    raw = await side.in_thread(sync)
    message = raw.parse()
    async with side.async_sdk() as client:
        again = await client.messages.create(model=side.model, max_tokens=64, messages=HI)
    assert raw.headers["x-gomodel-route"] == side.route
    for answer in (message, again):
        assert [b.type for b in answer.content] == ["text"]
        assert answer.content[0].text == "Mock response to: hi"  # type: ignore[union-attr]
        assert answer.stop_reason == "end_turn"
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (10, 20)
    records = await side.gw.records(2)
    assert [(r.endpoint, r.stream, r.complete) for r in records] == [
        ("/v1/messages", False, True)
    ] * 2
    assert {r.route for r in records} == {side.route.split(";")[0]}
    assert all(r.usage is not None and r.usage.total_tokens == 30 for r in records)


async def test_stream_sync_and_async(side: Side) -> None:
    """messages.stream gives the text as it comes and a final message with the counts."""

    def sync(client: anthropic.Anthropic) -> tuple[str, Any]:
        with client.messages.stream(model=side.model, max_tokens=64, messages=HI) as stream:
            return "".join(stream.text_stream), stream.get_final_message()

    text, final = await side.in_thread(sync)
    async with (
        side.async_sdk() as client,
        client.messages.stream(model=side.model, max_tokens=64, messages=HI) as stream,
    ):
        async_text = "".join([piece async for piece in stream.text_stream])
        async_final = await stream.get_final_message()
    assert text == async_text == "Mock response to: hi"
    for message in (final, async_final):
        assert message.stop_reason == "end_turn"
        assert message.usage.output_tokens == 20
    records = await side.gw.records(2)
    assert all(r.stream and r.complete and r.termination.value == "completed" for r in records)
    assert all(r.usage is not None and r.usage.total_tokens == 30 for r in records)


def _openai_tool_call(stream: bool) -> Reply:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"Warsaw"}'},
    }
    if not stream:
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        usage = {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
        return Reply.json({"id": "chatcmpl-t", "choices": [choice], "usage": usage})
    first = {**call, "index": 0, "function": {"name": "get_weather", "arguments": ""}}
    pieces = [first, {"index": 0, "function": {"arguments": '{"city":'}}]
    pieces.append({"index": 0, "function": {"arguments": '"Warsaw"}'}})
    chunks: list[Any] = [
        {"id": "chatcmpl-t", "choices": [{"index": 0, "delta": {"tool_calls": [p]}}]}
        for p in pieces
    ]
    chunks.append(
        {"id": "chatcmpl-t", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    )
    usage = {"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}
    chunks.append({"id": "chatcmpl-t", "choices": [], "usage": usage})
    return Reply.sse(chunks)


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_use_round_trip(side: Side, stream: bool) -> None:
    """A forced tool call comes back as a tool_use block; its result goes back up as the
    provider's own tool-result form, and the conversation goes on."""
    if side.route != "passthrough":
        side.gw.mock.script(_openai_tool_call(stream), path="/chat/completions")
    ask: dict[str, Any] = {
        "model": side.model,
        "max_tokens": 256,
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather"},
    }

    def run(client: anthropic.Anthropic) -> tuple[Any, Any]:
        if stream:
            with client.messages.stream(messages=HI, **ask) as events:
                first = events.get_final_message()
        else:
            first = client.messages.create(messages=HI, **ask)
        [call] = [block for block in first.content if block.type == "tool_use"]
        turns = [
            *HI,
            {"role": "assistant", "content": [block.model_dump() for block in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}],
            },
        ]
        second = client.messages.create(messages=turns, **{**ask, "tool_choice": {"type": "auto"}})
        return first, second

    first, second = await side.in_thread(run)
    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Warsaw"}
    assert call.id == ("toolu_mock_123" if side.route == "passthrough" else "call_1")
    assert second.stop_reason == "end_turn"
    sent = side.upstream()[-1].json
    if side.route == "passthrough":
        result = sent["messages"][2]["content"][0]
        assert result == {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}
    else:
        assistant, tool = sent["messages"][1], sent["messages"][2]
        assert assistant["tool_calls"][0]["id"] == "call_1"
        assert orjson.loads(assistant["tool_calls"][0]["function"]["arguments"]) == call.input
        assert tool == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


@pytest.mark.parametrize("name", RECORDED)
async def test_recorded_answer_replays_byte_for_byte(claude: Side, name: str) -> None:
    """The fast path: the client's bytes reach Anthropic and Anthropic's bytes reach the client,
    whatever they hold (odd spacing, fields the gateway does not know)."""
    recorded = (FIXTURES / "anthropic" / name).read_bytes()
    headers = (
        ("content-type", "application/json"),
        ("request-id", "req_011CRecorded"),
        ("anthropic-ratelimit-requests-remaining", "49"),  # the operator's account: not relayed
    )
    reply = Reply(200, headers, (recorded,), chunked=False)
    claude.gw.mock.script(reply, path="/messages")
    sent = b'{"model": "%s",  "max_tokens": 64, "messages": [{"role":"user","content":"hi"}]}'
    sent %= CLAUDE.encode()
    async with claude.gw.http() as client:
        response = await client.post("/messages", content=sent)
    assert response.status_code == 200
    assert response.content == recorded
    assert response.headers["x-gomodel-route"] == "passthrough"
    assert response.headers["request-id"] == "req_011CRecorded"
    assert "anthropic-ratelimit-requests-remaining" not in response.headers
    assert claude.upstream()[-1].body == sent
    [record] = await claude.gw.records(1)
    assert record.usage is not None and record.usage.input_tokens > 0 and record.complete


async def test_recorded_stream_replays_byte_for_byte(claude: Side) -> None:
    """Every event of the recorded stream, ping and trailing spaces included, as it came."""
    recorded = load_stream("anthropic/messages_stream.txt")
    claude.gw.mock.script(Reply(200, (("content-type", "text/event-stream"),), (recorded,)))
    sent = (
        b'{"model":"%s","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
    )
    sent %= CLAUDE.encode()
    async with claude.gw.http() as client:
        response = await client.post("/messages", content=sent)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == recorded
    assert claude.upstream()[-1].body == sent
    [record] = await claude.gw.records(1)
    assert record.complete and record.provider_id == "msg_01SJmPi7XXP8qscFQiHPR9oy"
    assert record.usage is not None
    assert (record.usage.input_tokens, record.usage.output_tokens) == (10, 5)


async def test_anthropic_error_event_ends_the_stream_as_sent(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Anthropic's own mid-stream error reaches the client as Anthropic sent it, once; the
    SDK raises it and the row says the provider failed (with retries off: with them, an error
    right after message_start is retried, tests/pipeline/test_routing.py)."""
    claude = await _claude(nursery, tmp_path, ONE_ATTEMPT)
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": CLAUDE,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1},
        },
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events = [
        b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n",
        b"event: error\ndata: " + orjson.dumps(error) + b"\n\n",
    ]
    claude.gw.mock.script(Reply.sse(events, done=False), path="/messages")
    body = {"model": CLAUDE, "max_tokens": 64, "messages": HI, "stream": True}
    async with claude.gw.http() as client:
        response = await client.post("/messages", json=body)
    assert response.content == b"".join(events)

    def run(client: anthropic.Anthropic) -> None:
        claude.gw.mock.script(Reply.sse(events, done=False), path="/messages")
        with client.messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            stream.get_final_message()

    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        await claude.in_thread(run)
    records = await claude.gw.records(2)
    assert {r.termination.value for r in records} == {"upstream_error"}


async def test_translated_stream_failure_ends_with_an_error_event(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """A translated stream the provider breaks off ends with Anthropic's error frame."""
    side = await _gpt(nursery, tmp_path)
    chunk = {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}
    side.gw.mock.script(Reply.sse([chunk], done=False), path="/chat/completions")
    body = {"model": GPT, "max_tokens": 64, "messages": HI, "stream": True}
    async with side.gw.http() as client:
        response = await client.post("/messages", json=body)
    *_, last = response.content.strip().split(b"\n\n")
    name, data = last.split(b"\n")
    assert name == b"event: error"
    assert orjson.loads(data.removeprefix(b"data: "))["error"]["type"] == "api_error"
    assert b"Hel" in response.content
    [record] = await side.gw.records(1)
    assert record.termination.value == "upstream_eof"


async def test_only_anthropic_headers_cross(side: Side) -> None:
    """anthropic-version and anthropic-beta reach Anthropic (never another provider); the
    client's credentials and everything else stay behind."""
    headers = [
        ("x-api-key", MASTER_KEY),
        ("anthropic-version", "2023-06-01"),
        ("anthropic-beta", "interleaved-thinking-2025-05-14"),
        ("anthropic-beta", "fine-grained-tool-streaming-2025-05-14"),
        ("cookie", "session=1"),
        ("openai-organization", "org-x"),
        ("x-forwarded-for", "10.0.0.1"),
    ]
    body = {"model": side.model, "max_tokens": 64, "messages": HI}
    async with httpx.AsyncClient(base_url=side.gw.url, timeout=10) as client:
        response = await client.post("/messages", json=body, headers=headers)
    assert response.status_code == 200
    upstream = side.upstream()[-1]
    names = {name for name, _ in upstream.headers}
    assert not names & {"cookie", "openai-organization", "x-forwarded-for"}
    if side.route == "passthrough":
        assert upstream.header("x-api-key") == KEY
        assert upstream.header("anthropic-version") == "2023-06-01"
        assert [v for k, v in upstream.headers if k == "anthropic-beta"] == [
            "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
        ]
        assert "authorization" not in names
    else:
        assert upstream.header("authorization") == f"Bearer {UPSTREAM_KEY}"
        assert not any(name.startswith("anthropic-") for name in names)


async def test_claude_code_style_setup(claude: Side, monkeypatch: pytest.MonkeyPatch) -> None:
    """ANTHROPIC_BASE_URL at the gateway and ANTHROPIC_AUTH_TOKEN a gateway key, as Claude Code
    is set up: the beta client's /v1/messages?beta=true works, its betas go upstream."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", claude.base_url)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", MASTER_KEY)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    def run() -> Any:
        with anthropic.Anthropic(max_retries=0) as client:
            return client.beta.messages.create(
                model=CLAUDE,
                max_tokens=64,
                messages=HI,
                betas=["interleaved-thinking-2025-05-14"],
            )

    message = await trio.to_thread.run_sync(run)
    assert message.content[0].text == "Mock response to: hi"
    upstream = claude.upstream()[-1]
    assert upstream.header("anthropic-beta") == "interleaved-thinking-2025-05-14"
    assert upstream.query == ""  # ?beta=true is the SDK's marker, not Anthropic's business


async def test_rewrite_only_where_needed(claude: Side) -> None:
    """A qualified selector, the provider field and a missing max_tokens are the only edits;
    the route header names them."""
    body = {
        "model": f"anthropic/{CLAUDE}",
        "provider": "anthropic",
        "messages": HI,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u-1"},
    }
    async with claude.gw.http() as client:
        response = await client.post("/messages", json=body)
    assert response.status_code == 200, response.text
    route = "rewrite; qualified_selector, provider_field, max_tokens_default"
    assert response.headers["x-gomodel-route"] == route
    sent = claude.upstream()[-1].json
    assert sent == {
        "model": CLAUDE,
        "messages": HI,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u-1"},
        "max_tokens": 2048 + 4096,
    }
    [record] = await claude.gw.records(1)
    assert (record.route, record.requested_model, record.model) == (
        "rewrite",
        f"anthropic/{CLAUDE}",
        CLAUDE,
    )


async def test_translated_request_fills_max_tokens(nursery: trio.Nursery, tmp_path: Path) -> None:
    side = await _gpt(nursery, tmp_path)
    async with side.gw.http() as client:
        response = await client.post("/messages", json={"model": f"openai/{GPT}", "messages": HI})
    assert (
        response.headers["x-gomodel-route"]
        == "translate; dialect, qualified_selector, max_tokens_default"
    )
    assert side.upstream()[-1].json == {
        "model": GPT,
        "messages": HI,
        "max_tokens": 4096,
    }
    assert response.json()["model"] == GPT


async def test_count_tokens_asks_anthropic(claude: Side) -> None:
    """Anthropic counts its own models; the call leaves no usage row."""

    def run(client: anthropic.Anthropic) -> int:
        counted = client.messages.count_tokens(model=f"anthropic/{CLAUDE}", messages=HI)
        return counted.input_tokens

    assert await claude.in_thread(run) == 14
    [request] = [r for r in claude.gw.mock.requests if r.path.endswith("/messages/count_tokens")]
    assert request.json == {"model": CLAUDE, "messages": HI}
    assert request.header("x-api-key") == KEY
    assert request.header("anthropic-version") is not None
    await trio.sleep(0.05)
    assert claude.gw.usage.records == []


async def test_count_tokens_estimates_elsewhere(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Other models get the documented estimate, without a provider call or a usage row."""
    side = await _gpt(nursery, tmp_path)
    doc: dict[str, Any] = {
        "model": GPT,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "What is the capital of France? " * 20}],
        "tools": [WEATHER],
    }

    def run(client: anthropic.Anthropic) -> int:
        return client.messages.count_tokens(**doc).input_tokens

    counted = await side.in_thread(run)
    assert counted == estimate_input_tokens(doc)
    assert 150 < counted < 250
    assert not side.upstream()
    await trio.sleep(0.05)
    assert side.gw.usage.records == []


async def test_count_tokens_rejects_what_a_real_request_would(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """The estimate validates first: the same bad input, the same 400 as /v1/messages."""
    side = await _gpt(nursery, tmp_path)
    image = {"type": "image", "source": {"type": "file", "file_id": "file_1"}}
    body = {"model": GPT, "max_tokens": 64, "messages": [{"role": "user", "content": [image]}]}
    async with side.gw.http() as client:
        counted = await client.post("/messages/count_tokens", json=body)
        created = await client.post("/messages", json=body)
    assert counted.status_code == created.status_code == 400
    assert counted.json() == created.json()
    assert counted.json()["error"]["type"] == "invalid_request_error"
    assert not side.upstream()
