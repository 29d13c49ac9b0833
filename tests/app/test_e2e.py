"""End to end: hypercorn on port 0, the mock upstream on port 0, the official ``openai`` SDK."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import orjson
import pytest
import trio

from gomodel.testing import Close, Reply, Reset
from gomodel.wire.sse import SSEDecoder
from tests.app.gateway import UPSTREAM_KEY, Gateway, start_gateway
from tests.conftest import FIXTURES, load_stream

HI = [{"role": "user", "content": "hi"}]


async def test_models_listed_qualified_and_sorted(gw: Gateway) -> None:
    """/v1/models lists the upstream's models as openai/<id>, sorted."""
    async with gw.sdk() as sdk:
        page = await sdk.models.list()
    assert [m.id for m in page.data] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert {m.owned_by for m in page.data} == {"openai"}


async def test_chat_completion_through_sdk(gw: Gateway) -> None:
    """chat.completions.create works unchanged and the provider gets the provider's key."""
    async with gw.sdk() as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
    completion = raw.parse()
    assert completion.choices[0].message.content == "Mock response to: hi"
    assert completion.usage is not None and completion.usage.total_tokens == 30
    assert raw.headers["x-gomodel-route"] == "passthrough"
    upstream = gw.mock.requests[-1]
    assert upstream.header("authorization") == f"Bearer {UPSTREAM_KEY}"
    [record] = gw.usage.records
    assert (record.provider, record.model, record.stream, record.complete) == (
        "openai",
        "gpt-4o-mini",
        False,
        True,
    )
    assert record.usage is not None and record.usage.total_tokens == 30


async def test_body_verbatim_and_unknown_fields_both_ways(gw: Gateway) -> None:
    """The client's bytes reach the provider unchanged; unknown response fields come back."""
    gw.mock.script(
        Reply.json(
            {
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "model": "gpt-4o",
                "choices": [],
                "service_tier": "flex",
                "vendor": {"k": [1, 2.5]},
            }
        ),
        path="/chat/completions",
    )
    body = (
        b'{"model": "gpt-4o",  "messages": [{"role":"user","content":"caf\\u00e9"}], "x_new": 1.50}'
    )
    async with gw.http() as client:
        response = await client.post("/chat/completions", content=body)
    assert response.status_code == 200
    assert gw.mock.requests[-1].body == body
    assert response.json()["vendor"] == {"k": [1, 2.5]}
    assert response.json()["service_tier"] == "flex"


async def test_qualified_selector_rewritten(gw: Gateway) -> None:
    """openai/gpt-4o goes upstream as gpt-4o and the route says rewrite."""
    async with gw.http() as client:
        response = await client.post(
            "/chat/completions", json={"model": "openai/gpt-4o", "messages": HI, "keep": True}
        )
    assert response.headers["x-gomodel-route"] == "rewrite; qualified_selector"
    assert gw.mock.requests[-1].json == {"model": "gpt-4o", "messages": HI, "keep": True}


async def test_request_id_reused_echoed_and_forwarded(gw: Gateway) -> None:
    """A well-formed X-Request-ID is echoed and sent upstream; a bad one is replaced."""
    async with gw.http() as client:
        good = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"x-request-id": "req-abc-123"},
        )
        bad = await client.get("/models", headers={"x-request-id": "has space"})
    assert good.headers["x-request-id"] == "req-abc-123"
    assert gw.mock.requests[-1].header("x-client-request-id") == "req-abc-123"
    assert bad.headers["x-request-id"] != "has space"
    assert len(bad.headers["x-request-id"]) == 36


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing authorization header"),
        ({"authorization": "Basic abc"}, "invalid authorization header format"),
        ({"authorization": "Bearer nope"}, "invalid master key"),
    ],
)
async def test_auth_required(gw: Gateway, headers: dict[str, str], message: str) -> None:
    """Without the master key the gateway answers 401 in the OpenAI envelope."""
    async with httpx.AsyncClient(base_url=gw.url) as client:
        response = await client.get("/models", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert message in error["message"]
    assert "x-request-id" in response.headers


async def test_health_is_open(gw: Gateway) -> None:
    """/health needs no key."""
    async with httpx.AsyncClient() as client:
        response = await client.get(gw.url.removesuffix("/v1") + "/health")
    assert response.json() == {"status": "ok"}


async def test_unknown_model_404(gw: Gateway) -> None:
    """An unknown model is a 404 model_not_found naming it, raised by the SDK as NotFoundError."""
    async with gw.sdk() as sdk:
        with pytest.raises(openai.NotFoundError) as info:
            await sdk.chat.completions.create(model="gpt-9", messages=HI)  # type: ignore[arg-type]
    assert info.value.code == "model_not_found"
    assert "gpt-9" in info.value.message
    assert all(r.path.endswith("/models") for r in gw.mock.requests)


async def test_unknown_route_and_method(gw: Gateway) -> None:
    """Unknown routes are 404 and wrong methods 405, both in the envelope."""
    async with gw.http() as client:
        missing = await client.get("/nope")
        wrong = await client.get("/chat/completions")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found_error"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["error"]["type"] == "invalid_request_error"


async def test_upstream_429_keeps_retry_after(gw1: Gateway) -> None:
    gw = gw1
    """A provider 429 reaches the client as 429 rate_limit_error with retry-after."""
    gw.mock.script(
        Reply.json(
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
            status=429,
            headers=[("retry-after", "3")],
        ),
        path="/chat/completions",
    )
    async with gw.sdk() as sdk:
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
    assert info.value.response.headers["retry-after"] == "3"
    assert info.value.code == "rate_limit_exceeded"
    assert "slow down" in info.value.message
    [record] = await gw.records(1)  # a failed request that reached the provider leaves a row
    assert (record.status, record.termination.value, record.usage) == (429, "upstream_error", None)


async def test_upstream_html_502_not_relayed(gw1: Gateway) -> None:
    gw = gw1
    """An HTML error page from an upstream load balancer never reaches the client."""
    gw.mock.script(Reply.html(502, "<h1>Bad Gateway</h1>"), path="/chat/completions")
    async with gw.http() as client:
        response = await client.post("/chat/completions", json={"model": "gpt-4o", "messages": HI})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/json"
    assert "<h1>" not in response.text
    assert response.json()["error"]["type"] == "provider_error"


async def test_upstream_unreachable_502(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A provider that refuses connections is a 502 provider_error, not a 500."""
    with trio.socket.socket() as sock:  # a port nobody listens on
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = await start_gateway(
        nursery,
        tmp_path,
        {"OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_MODELS": "gpt-4o"},
    )
    async with gw.http() as client:
        response = await client.post("/chat/completions", json={"model": "gpt-4o", "messages": HI})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


async def test_stream_through_sdk(gw: Gateway) -> None:
    """Streaming with the SDK gives the text, with no usage chunk the client did not ask for."""
    chunks = await gw.in_thread(
        lambda sdk: list(
            sdk.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)  # type: ignore[arg-type]
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Mock response to: hi"
    assert all(c.usage is None for c in chunks)
    assert gw.mock.requests[-1].json["stream_options"] == {"include_usage": True}
    [record] = await gw.records(1)
    assert record.usage is not None and record.usage.total_tokens == 30
    assert record.complete and record.route == "rewrite"


async def test_stream_byte_identical_when_client_asks_usage(gw: Gateway) -> None:
    """Passthrough: the client's stream is the provider's stream, byte for byte."""
    recorded = load_stream("groq/chat_completion_stream.txt")
    gw.mock.script(Reply.sse([recorded], done=False), path="/chat/completions")
    body = orjson.dumps(
        {
            "model": "gpt-4o",
            "messages": HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    async with gw.http() as client, client.stream("POST", "/chat/completions", content=body) as r:
        received = b"".join([chunk async for chunk in r.aiter_raw()])
        route = r.headers["x-gomodel-route"]
        content_type = r.headers["content-type"]
        buffering = r.headers["x-accel-buffering"]
    assert received == recorded
    assert gw.mock.requests[-1].body == body
    assert (route, buffering) == ("passthrough", "no")
    assert content_type.startswith("text/event-stream")


async def test_stream_error_after_start_raises_in_sdk(gw: Gateway) -> None:
    """An upstream that dies mid-stream ends in an error event the SDK raises, without [DONE]."""
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "par"}, "finish_reason": None}],
    }
    gw.mock.script(
        Reply(
            status=200,
            headers=(("content-type", "text/event-stream"),),
            body=(b"data: " + orjson.dumps(chunk) + b"\n\n", b'data: {"trunc', Close()),
        ),
        path="/chat/completions",
    )
    seen: list[str] = []

    def consume(sdk: openai.OpenAI) -> None:
        stream = sdk.chat.completions.create(model="gpt-4o", messages=HI, stream=True)  # type: ignore[arg-type]
        for c in stream:
            seen.append(c.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as info:
        await gw.in_thread(consume)
    assert seen == ["par"]
    assert "broke off" in info.value.message or "ended" in info.value.message
    [record] = await gw.records(1)
    assert record.termination.value == "upstream_eof"
    assert not record.complete


async def test_stream_error_event_wire_shape(gw1: Gateway) -> None:
    gw = gw1
    """The final event is data: {"error": {...}} and the body ends cleanly without [DONE]."""
    gw.mock.script(Reply.sse([{"choices": []}], done=False), path="/chat/completions")
    async with (
        gw.http() as client,
        client.stream(
            "POST", "/chat/completions", json={"model": "gpt-4o", "messages": HI, "stream": True}
        ) as r,
    ):
        body = b"".join([chunk async for chunk in r.aiter_bytes()])
    events = SSEDecoder().feed(body)
    assert events[-1].data is not None
    error = orjson.loads(events[-1].data)["error"]
    assert error["code"] == "stream_incomplete"
    assert b"[DONE]" not in body


async def test_client_disconnect_closes_upstream_through_hypercorn(gw: Gateway) -> None:
    """Real sockets: the client reads two chunks and leaves; the provider's socket closes
    promptly and the provider stops long before the end of its answer."""
    gw.mock.stream_gap = 0.05  # 100 chunks over 5 s
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 500}], "stream": True}
    async with gw.http() as client, client.stream("POST", "/chat/completions", json=body) as r:
        seen = 0
        async for line in r.aiter_lines():
            seen += line.startswith("data: ")
            if seen == 2:
                break
        left_at = trio.current_time()
    [conn] = [
        c for c in gw.mock.connections if c.requests and c.id == gw.mock.requests[-1].connection_id
    ]
    with trio.fail_after(5):
        closed_at = await gw.mock.wait_closed(conn.id)
    assert conn.closed_by == "client"
    # Caused by the client's leaving: after it, and before the provider would have finished
    # (its last chunk is due 99 gaps after the request; the mock shares this process's clock).
    # In practice about a millisecond after; see `nox -s bench`.
    [request] = [r for r in gw.mock.requests if r.connection_id == conn.id and r.method == "POST"]
    assert left_at <= closed_at < request.received_at + 99 * gw.mock.stream_gap
    [record] = await gw.records(1)
    assert record.termination.value == "client_disconnect"


async def test_upstream_reset_mid_stream(gw: Gateway) -> None:
    """Row 9: a TCP reset from the provider mid-stream ends in an error event the SDK raises;
    nothing is logged as an application error."""
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "one"}, "finish_reason": None}],
    }
    gw.mock.script(Reply.sse([chunk, Reset()], done=False), path="/chat/completions")
    seen: list[str] = []

    def consume(sdk: openai.OpenAI) -> None:
        stream = sdk.chat.completions.create(model="gpt-4o", messages=HI, stream=True)  # type: ignore[arg-type]
        for c in stream:
            seen.append(c.choices[0].delta.content or "")

    with pytest.raises(openai.APIError):
        await gw.in_thread(consume)
    assert seen == ["one"]
    [record] = await gw.records(1)
    assert record.termination.value in {"upstream_error", "upstream_eof"}


@pytest.mark.parametrize(
    "fixture",
    [
        "openai/chat_completion.json",
        "openai/chat_with_tools.json",
        "openai/chat_completion_reasoning.json",
        "openai/chat_json_mode.json",
        "groq/chat_completion.json",
        "gemini/chat_completion.json",
        "xai/chat_completion.json",
    ],
)
async def test_recorded_answers_relayed_verbatim_and_accounted(gw: Gateway, fixture: str) -> None:
    """Recorded provider answers reach the client byte for byte; their usage is recorded."""
    recorded = (FIXTURES / fixture).read_bytes()
    gw.mock.script(Reply(body=(recorded,), chunked=False), path="/chat/completions")
    async with gw.http() as client:
        response = await client.post("/chat/completions", json={"model": "gpt-4o", "messages": HI})
    assert response.content == recorded
    expected = orjson.loads(recorded)["usage"]
    [record] = await gw.records(1)
    assert record.usage is not None
    assert record.usage.input_tokens == expected["prompt_tokens"]
    # OpenAI-style: the output is the whole completion (xAI counts reasoning on top of it).
    assert record.usage.output_tokens == expected["total_tokens"] - expected["prompt_tokens"]
    assert record.model == orjson.loads(recorded)["model"]


async def test_user_path_and_timings_recorded(gw: Gateway) -> None:
    """X-GoModel-User-Path is normalised onto the usage record, with latency and overhead;
    a malformed one is a 400 before any upstream call."""
    async with gw.http() as client:
        ok = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"x-gomodel-user-path": "team//alpha/"},
        )
        bad = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"x-gomodel-user-path": "/team/../root"},
        )
    assert ok.status_code == 200
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "X-GoModel-User-Path"
    [record] = await gw.records(1)
    assert record.user_path == "/team/alpha"
    assert record.latency_ms is not None and record.latency_ms > 0
    assert record.ttfb_ms is not None and record.ttfb_ms <= record.latency_ms
    assert record.overhead_ms is not None and 0 <= record.overhead_ms <= record.latency_ms
    assert len([r for r in gw.mock.requests if r.path.endswith("/chat/completions")]) == 1
