"""The stored usage row, for each dialect and surface, against the recorded provider payloads.

Each case sends one request through hypercorn to the mock provider replaying a recording, lets
the gateway write its row to SQLite, and reads the row back: the counts must be OpenAI-style
(cache tokens inside the input, reasoning inside the output) and the cost must be the one the
shipped price table gives for them, computed here independently. The Anthropic recordings
carry no cache tokens, so those cases put cache counts into the recorded usage objects.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import pytest
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, Reply, Sleep, serve_mock_upstream
from tests.conftest import FIXTURES, load_stream

HI = [{"role": "user", "content": "hi"}]
PRICES = orjson.loads((Path("gomodel/usage/prices.json")).read_bytes())["prices"]
CACHED_ANTHROPIC = {
    "input_tokens": 5000,
    "cache_read_input_tokens": 2000,
    "cache_creation_input_tokens": 3000,
    "output_tokens": 1000,
}
# (input, output, total, cached, cache writes, reasoning) of CACHED_ANTHROPIC, OpenAI-style.
CACHED_COUNTS = (10_000, 1000, 11_000, 2000, 3000, 0)
COLUMNS = (
    "endpoint, route, stream, status, termination, complete, input_tokens, output_tokens, "
    "total_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, total_cost_nano, "
    "latency_ms, overhead_ms"
)


def _json(name: str, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((FIXTURES / name).read_bytes())
    return doc | changes


def _cached_anthropic_stream() -> bytes:
    """The recorded Anthropic stream with cache counts in message_start and message_delta."""
    raw = load_stream("anthropic/messages_stream.txt")
    recorded = b'"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0'
    cached = (
        b'"input_tokens":5000,"cache_creation_input_tokens":3000,"cache_read_input_tokens":2000'
    )
    assert raw.count(recorded) == 2
    raw = raw.replace(recorded, cached)
    assert raw.count(b'"output_tokens":5}') == 1
    return raw.replace(b'"output_tokens":5}', b'"output_tokens":1000}')


def _openai_stream_with_usage() -> bytes:
    """The recorded OpenAI stream (recorded without usage) with its usage chunk put back."""
    raw = load_stream("openai/chat_completion_stream.txt")
    usage = {"prompt_tokens": 17, "completion_tokens": 4, "total_tokens": 21}
    chunk = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "choices": [], "usage": usage}
    done = b"data: [DONE]\n\n"
    return raw.replace(done, b"data: " + orjson.dumps(chunk) + b"\n\n" + done)


def _sse(raw: bytes) -> Reply:
    return Reply(200, (("content-type", "text/event-stream"),), (raw,))


@attrs.frozen
class Case:
    id: str
    provider: str  # the provider type the mock plays
    path: str  # the client's path
    body: dict[str, Any]
    reply: Reply  # the recording the mock replays
    counts: tuple[int, int, int, int, int, int]
    price: tuple[str, str]  # provider type and model of the price table row
    route: str


CASES = [
    Case(
        "chat-openai",
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HI},
        Reply.json(_json("openai/chat_completion.json")),
        (17, 4, 21, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "passthrough",
    ),
    Case(
        "chat-openai-stream-usage-injected",
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HI, "stream": True},
        _sse(_openai_stream_with_usage()),
        (17, 4, 21, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "rewrite",
    ),
    Case(
        "chat-groq-stream",
        "groq",
        "/v1/chat/completions",
        {
            "model": "llama-3.3-70b-versatile",
            "messages": HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        _sse(load_stream("groq/chat_completion_stream.txt")),
        (38, 4, 42, 0, 0, 0),
        ("groq", "llama-3.3-70b-versatile"),
        "passthrough",
    ),
    Case(
        "chat-xai-reasoning",
        "xai",
        "/v1/chat/completions",
        {"model": "grok-3-mini", "messages": HI},
        Reply.json(_json("xai/chat_completion.json")),
        (10, 410, 420, 3, 0, 375),
        ("xai", "grok-3-mini"),
        "passthrough",
    ),
    Case(
        "chat-anthropic-cached",
        "anthropic",
        "/v1/chat/completions",
        {"model": "claude-sonnet-4-20250514", "messages": HI},
        Reply.json(_json("anthropic/messages.json", usage=CACHED_ANTHROPIC)),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "translate",
    ),
    Case(
        "chat-anthropic-cached-stream",
        "anthropic",
        "/v1/chat/completions",
        {"model": "claude-sonnet-4-20250514", "messages": HI, "stream": True},
        _sse(_cached_anthropic_stream()),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "translate",
    ),
    Case(
        "responses-openai",
        "openai",
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "hi"},
        Reply.json(_json("openai/responses.json")),
        (17, 5, 22, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "passthrough",
    ),
    Case(
        "responses-openai-stream",
        "openai",
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "hi", "stream": True},
        _sse(load_stream("openai/responses_stream.txt")),
        (17, 5, 22, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "passthrough",
    ),
    Case(
        "responses-xai-stream-reasoning",
        "xai",
        "/v1/responses",
        {"model": "grok-3-mini", "input": "hi", "stream": True},
        _sse(load_stream("xai/responses_stream.txt")),
        (17, 185, 202, 3, 0, 181),
        ("xai", "grok-3-mini"),
        "passthrough",
    ),
    Case(
        "responses-anthropic-cached",
        "anthropic",
        "/v1/responses",
        {"model": "claude-sonnet-4-20250514", "input": "hi"},
        Reply.json(_json("anthropic/messages.json", usage=CACHED_ANTHROPIC)),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "translate",
    ),
    Case(
        "responses-anthropic-cached-stream",
        "anthropic",
        "/v1/responses",
        {"model": "claude-sonnet-4-20250514", "input": "hi", "stream": True},
        _sse(_cached_anthropic_stream()),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "translate",
    ),
    Case(
        "messages-anthropic-cached",
        "anthropic",
        "/v1/messages",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 64, "messages": HI},
        Reply.json(_json("anthropic/messages.json", usage=CACHED_ANTHROPIC)),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "passthrough",
    ),
    Case(
        "messages-anthropic-cached-stream",
        "anthropic",
        "/v1/messages",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 64, "messages": HI, "stream": True},
        _sse(_cached_anthropic_stream()),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "passthrough",
    ),
    Case(
        "messages-anthropic-default-max-tokens",
        "anthropic",
        "/v1/messages",
        {"model": "claude-sonnet-4-20250514", "messages": HI},
        Reply.json(_json("anthropic/messages.json", usage=CACHED_ANTHROPIC)),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "rewrite",
    ),
    Case(
        "messages-openai",
        "openai",
        "/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 64, "messages": HI},
        Reply.json(_json("openai/chat_completion.json")),
        (17, 4, 21, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "translate",
    ),
    Case(
        "messages-openai-stream",
        "openai",
        "/v1/messages",
        {"model": "gpt-4o-mini", "max_tokens": 64, "messages": HI, "stream": True},
        _sse(_openai_stream_with_usage()),
        (17, 4, 21, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "translate",
    ),
    Case(
        "messages-xai-reasoning",
        "xai",
        "/v1/messages",
        {"model": "grok-3-mini", "max_tokens": 64, "messages": HI},
        Reply.json(_json("xai/chat_completion.json")),
        (10, 410, 420, 3, 0, 375),
        ("xai", "grok-3-mini"),
        "translate",
    ),
    Case(
        "embeddings-openai",
        "openai",
        "/v1/embeddings",
        {"model": "text-embedding-3-small", "input": "hi"},
        Reply.json(
            {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "model": "text-embedding-3-small",
                "usage": {"prompt_tokens": 8, "total_tokens": 8},
            }
        ),
        (8, 0, 8, 0, 0, 0),
        ("openai", "text-embedding-3-small"),
        "passthrough",
    ),
    Case(
        "passthrough-anthropic-cached",
        "anthropic",
        "/p/anthropic/messages",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 64, "messages": HI},
        Reply.json(_json("anthropic/messages.json", usage=CACHED_ANTHROPIC)),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "passthrough",
    ),
    Case(
        "passthrough-anthropic-cached-stream",
        "anthropic",
        "/p/anthropic/messages",
        {"model": "claude-sonnet-4-20250514", "max_tokens": 64, "messages": HI, "stream": True},
        _sse(_cached_anthropic_stream()),
        CACHED_COUNTS,
        ("anthropic", "claude-sonnet-4"),
        "passthrough",
    ),
    Case(
        "passthrough-openai",
        "openai",
        "/p/openai/chat/completions",
        {"model": "gpt-4o-mini", "messages": HI},
        Reply.json(_json("openai/chat_completion.json")),
        (17, 4, 21, 0, 0, 0),
        ("openai", "gpt-4o-mini"),
        "passthrough",
    ),
]


def _expected_cost(counts: tuple[int, ...], provider: str, model: str) -> int:
    """Nano-dollars, from the shipped rates (USD per million tokens)."""
    rates = {name: Decimal(value) for name, value in PRICES[provider][model].items()}
    total, output, _, cached, written, _ = counts
    fresh = total - cached - written
    usd = (
        fresh * rates["input"]
        + cached * rates.get("cached_input", rates["input"])
        + written * rates.get("cache_write", rates["input"])
        + output * rates["output"]
    ) / 1_000_000
    return int(usd / Decimal("1e-9"))


@asynccontextmanager
async def _gateway(tmp_path: Path, env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with usage in SQLite until the block ends; then a graceful shutdown, which
    writes every row."""
    env = {
        **env,
        "GOMODEL_MASTER_KEY": "mk",
        "SQLITE_PATH": str(tmp_path / "usage.db"),
        "USAGE_SPILL_DIR": str(tmp_path / "spill"),
        "USAGE_FLUSH_INTERVAL": "0.05",
    }
    app = GatewayApp(load_config(env, cwd=tmp_path))
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_gateway, app, shutdown_trigger=stop.wait))
        assert app.runtime is not None
        await app.runtime.initial_load.wait()
        headers = {"authorization": "Bearer mk"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
            try:
                yield client
            finally:
                stop.set()


def _rows(tmp_path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(tmp_path / "usage.db") as db:
        cursor = db.execute(f"SELECT {COLUMNS} FROM usage")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


async def _mock(nursery: trio.Nursery, provider: str) -> tuple[MockUpstream, dict[str, str]]:
    dialect = "anthropic" if provider == "anthropic" else "openai"
    models = ("gpt-4o-mini", "text-embedding-3-small", "llama-3.3-70b-versatile", "grok-3-mini")
    if provider == "anthropic":
        models = ("claude-sonnet-4-20250514",)
    mock = MockUpstream(models=models, dialect=dialect)
    url = await nursery.start(serve_mock_upstream, mock)
    prefix = provider.upper()
    return mock, {f"{prefix}_API_KEY": "k", f"{prefix}_BASE_URL": url}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_stored_row(case: Case, tmp_path: Path, nursery: trio.Nursery) -> None:
    """One request, one row: OpenAI-style counts and the price table's cost for them."""
    mock, env = await _mock(nursery, case.provider)
    upstream = {"/v1/embeddings": "/embeddings", "/v1/responses": "/responses"}.get(case.path)
    if case.provider == "anthropic":
        upstream = "/messages"
    mock.script(case.reply, path=upstream or "/chat/completions")
    async with _gateway(tmp_path, env) as client:
        response = await client.post(case.path, json=case.body)
        assert response.status_code == 200, response.text
    [row] = _rows(tmp_path)
    counts = tuple(
        row[c]
        for c in (
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "cached_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        )
    )
    assert counts == case.counts
    assert row["total_cost_nano"] == _expected_cost(case.counts, *case.price)
    assert (row["route"], row["stream"], row["status"]) == (
        case.route,
        case.body.get("stream", False),
        200,
    )
    assert (row["termination"], row["complete"]) == ("completed", 1)
    assert row["endpoint"] == case.path


async def test_failed_embeddings_request_leaves_its_row(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """An embeddings request the provider fails (500) reached it: it leaves one row."""
    mock, env = await _mock(nursery, "openai")
    env["RETRY_MAX_RETRIES"] = "0"  # one attempt, one row
    mock.script(Reply.error(500, "the embedder fell over"), path="/embeddings")
    async with _gateway(tmp_path, env) as client:
        body = {"model": "text-embedding-3-small", "input": "hi"}
        response = await client.post("/v1/embeddings", json=body)
        assert response.status_code == 500
    [row] = _rows(tmp_path)
    assert (row["endpoint"], row["status"], row["termination"]) == (
        "/v1/embeddings",
        500,
        "upstream_error",
    )
    assert (row["complete"], row["input_tokens"], row["total_cost_nano"]) == (0, 0, None)


async def test_failed_passthrough_call_counts_its_wait_as_upstream_time(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    """A passthrough call the provider fails after 0.5 s spent that time at the provider,
    not in the gateway: the overhead is a sliver of the latency."""
    mock, env = await _mock(nursery, "openai")
    env["RETRY_MAX_RETRIES"] = "0"  # one attempt, one row
    slow_failure = attrs.evolve(Reply.error(503, "overloaded"), headers_delay=0.5)
    mock.script(slow_failure, path="/chat/completions")
    async with _gateway(tmp_path, env) as client:
        body = {"model": "gpt-4o-mini", "messages": HI}
        response = await client.post("/p/openai/chat/completions", json=body)
        assert response.status_code == 503
    [row] = _rows(tmp_path)
    assert row["termination"] == "upstream_error"
    assert row["latency_ms"] >= 500
    # Gateway time is what is left when the provider's 0.5 s are taken out: the check holds
    # on a loaded machine too, since only the gateway's own work is in it.
    assert row["overhead_ms"] < row["latency_ms"] - 450


async def test_slow_stream_counts_gateway_time_apart(tmp_path: Path, nursery: trio.Nursery) -> None:
    """A stream the provider takes 0.3 s over keeps that time out of the overhead."""
    mock, env = await _mock(nursery, "openai")
    chunk = {"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}
    mock.script(Reply.sse([chunk, Sleep(0.3), chunk]), path="/chat/completions")
    async with _gateway(tmp_path, env) as client:
        body = {"model": "gpt-4o-mini", "messages": HI, "stream": True}
        response = await client.post("/v1/chat/completions", json=body)
        assert response.status_code == 200
    [row] = _rows(tmp_path)
    assert row["latency_ms"] >= 300 and row["overhead_ms"] < row["latency_ms"] - 250
