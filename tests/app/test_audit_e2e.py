"""The audit log end to end: requests through the SDK, entries read back through the admin API
and straight from the database file (SQLite) or table (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import trio

from gomodel.testing import Reply
from tests.app.gateway import MASTER_KEY, UPSTREAM_KEY, Gateway, start_gateway
from tests.storage.pg import pg_schema

TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "created": 1,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


STREAM = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Let me "}),
    _chunk({"content": "check."}),
    _chunk(
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"ci'},
                }
            ]
        }
    ),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Oslo"}'}}]}),
    _chunk({}, "tool_calls"),
    {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16},
    },
]
ANSWER = {
    "id": "chatcmpl-u",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "created": 1,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_9",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
}
ENV = {
    "LOGGING_ENABLED": "true",
    "LOGGING_LOG_BODIES": "true",
    "LOGGING_LOG_HEADERS": "true",
    "LOGGING_FLUSH_INTERVAL": "0.02",
    "LOGGING_MAX_BODY_SIZE": "4K",
}


async def _audited(nursery: trio.Nursery, tmp_path: Path, **env: str) -> Gateway:
    settings = {**ENV, "SQLITE_PATH": str(tmp_path / "gw.db"), **env}
    return await start_gateway(nursery, tmp_path, settings)


async def _entries(gw: Gateway, count: int, **params: str) -> list[dict[str, Any]]:
    base = gw.url.removesuffix("/v1")
    async with gw.http() as client:
        with trio.fail_after(10):
            while True:
                page = await client.get(base + "/admin/api/v1/audit/log", params=params)
                assert page.status_code == 200, page.text
                entries: list[dict[str, Any]] = page.json()["entries"]
                if len(entries) >= count:
                    return entries
                await trio.sleep(0.02)


async def _tool_requests(gw: Gateway) -> None:
    gw.mock.script(Reply.json(ANSWER), path="/chat/completions")
    gw.mock.script(Reply.sse(STREAM), path="/chat/completions")
    messages = [{"role": "user", "content": f"weather? my key is {UPSTREAM_KEY}"}]
    async with gw.http() as client:
        unary = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o-mini", "messages": messages, "tools": [TOOL]},
            headers={"x-request-id": "req-unary", "cookie": "session=abcdef123456"},
        )
        assert unary.status_code == 200
        body = {"model": "gpt-4o-mini", "messages": messages, "tools": [TOOL], "stream": True}
        async with client.stream(
            "POST", "/chat/completions", json=body, headers={"x-request-id": "req-stream"}
        ) as stream:
            text = b"".join([part async for part in stream.aiter_bytes()])
        assert b"get_weather" in text


async def test_streamed_and_unary_answers_reassembled(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    gw = await _audited(nursery, tmp_path)
    await _tool_requests(gw)
    entries = await _entries(gw, 2)
    by_id = {e["request_id"]: e for e in entries}
    assert [e["request_id"] for e in entries] == ["req-stream", "req-unary"]  # newest first

    unary = by_id["req-unary"]
    assert (unary["status"], unary["termination"], unary["stream"]) == (200, "completed", False)
    assert (unary["provider"], unary["model"], unary["route"]) == ("openai", "gpt-4o-mini", "chat")
    assert unary["auth_method"] == "master_key" and unary["user_path"] == "/"
    assert (unary["input_tokens"], unary["output_tokens"]) == (5, 6)
    call = unary["data"]["response_body"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"] == {"name": "get_weather", "arguments": '{"city": "Rome"}'}
    assert unary["data"]["request_body"]["tools"] == [TOOL]
    assert unary["duration_ms"] >= unary["overhead_ms"] > 0

    streamed = by_id["req-stream"]
    assert streamed["stream"] is True and streamed["route_kind"] == "rewrite; usage_injected"
    answer = streamed["data"]["response_body"]
    assert answer["object"] == "chat.completion" and answer["id"] == "chatcmpl-s"
    message = answer["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
        }
    ]
    assert answer["choices"][0]["finish_reason"] == "tool_calls"
    assert answer["usage"]["completion_tokens"] == 9
    assert answer["stream_events"] == len(STREAM) - 1  # the injected usage chunk was not sent
    assert streamed["data"]["response_headers"]["content-type"].startswith("text/event-stream")

    base = gw.url.removesuffix("/v1")
    async with gw.http() as client:
        one = await client.get(base + "/admin/audit/log/req-unary")
        missing = await client.get(base + "/admin/api/v1/audit/log/nope")
    assert one.status_code == 200 and one.json()["id"] == unary["id"]
    assert missing.status_code == 404


def _database_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("gw.db*"))


async def test_secrets_never_reach_sqlite(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The provider key in a body, the bearer token and a cookie: none is in the file (nor its
    WAL), while the entries are."""
    gw = await _audited(nursery, tmp_path)
    await _tool_requests(gw)
    [_, unary] = await _entries(gw, 2)
    assert unary["data"]["request_headers"]["authorization"] == "[REDACTED]"
    assert unary["data"]["request_headers"]["cookie"] == "[REDACTED]"
    assert "[REDACTED]" in unary["data"]["request_body"]["messages"][0]["content"]
    stored = _database_bytes(tmp_path)
    assert b"req-stream" in stored and b"weather? my key is [REDACTED]" in stored
    for secret in (UPSTREAM_KEY, MASTER_KEY, "abcdef123456"):
        assert secret.encode() not in stored


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema() as url:
        yield url


async def test_secrets_never_reach_postgres(
    nursery: trio.Nursery, tmp_path: Path, pg_url: str
) -> None:
    gw = await _audited(nursery, tmp_path, STORAGE_TYPE="postgresql", POSTGRES_URL=pg_url)
    await _tool_requests(gw)
    await _entries(gw, 2)

    def table_text() -> str:
        with psycopg.connect(pg_url) as conn:
            rows = conn.execute("SELECT audit_log::text FROM audit_log").fetchall()
        return "\n".join(row[0] for row in rows)

    text = await trio.to_thread.run_sync(table_text)
    assert "req-unary" in text and "get_weather" in text
    for secret in (UPSTREAM_KEY, MASTER_KEY, "abcdef123456"):
        assert secret not in text


async def test_body_cap_recorded(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A request body past LOGGING_MAX_BODY_SIZE is cut there; its size and the cap are kept,
    and a key straddling the cut leaves no part of itself."""
    gw = await _audited(nursery, tmp_path, LOGGING_MAX_BODY_SIZE="1K")
    filler = "a" * 1000
    content = filler + UPSTREAM_KEY + "b" * 3000
    async with gw.http() as client:
        response = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]},
        )
    assert response.status_code == 200
    [entry] = await _entries(gw, 1)
    data = entry["data"]
    assert data["request_body_truncated"] is True and data["body_cap"] == 1024
    assert data["request_body_size"] > 4000
    assert len(data["request_body"].encode()) <= 1024
    assert UPSTREAM_KEY[:6] not in data["request_body"]
    assert data["response_body_truncated"] is True  # the mock echoes the prompt
    assert data["response_body_size"] > 4000


async def test_off_without_bodies_and_headers(nursery: trio.Nursery, tmp_path: Path) -> None:
    """LOGGING_ENABLED alone: the entry, without bodies or headers."""
    gw = await start_gateway(
        nursery,
        tmp_path,
        {
            "LOGGING_ENABLED": "true",
            "LOGGING_FLUSH_INTERVAL": "0.02",
            "SQLITE_PATH": str(tmp_path / "gw.db"),
        },
    )
    async with gw.sdk() as sdk:
        await sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )  # type: ignore[arg-type]
    [entry] = await _entries(gw, 1)
    assert entry["data"] == {} and entry["status"] == 200


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("status=abc", "status"),
        ("status=99", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("since=yesterday", "since"),
        ("since=2025-02-01&until=2025-01-01", "until"),
        ("cursor=%%%", "cursor"),
        ("cursor=WyJ4Il0", "cursor"),
        ("user_path=/a/../b", "user_path"),
        ("colour=blue", "colour"),
    ],
)
async def test_bad_filters_are_400(
    nursery: trio.Nursery, tmp_path: Path, query: str, param: str
) -> None:
    gw = await _audited(nursery, tmp_path)
    async with gw.http() as client:
        response = await client.get(gw.url.removesuffix("/v1") + "/admin/api/v1/audit/log?" + query)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


async def test_filters_and_cursor_pages(nursery: trio.Nursery, tmp_path: Path) -> None:
    gw = await _audited(nursery, tmp_path)
    async with gw.http() as client:
        for n in range(5):
            await client.post(
                "/chat/completions",
                json={
                    "model": "gpt-4o" if n % 2 else "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "x"}],
                },
                headers={
                    "x-request-id": f"r{n}",
                    "x-gomodel-user-path": "/team/a" if n < 2 else "/other",
                },
            )
    await _entries(gw, 5)
    assert [e["request_id"] for e in await _entries(gw, 2, model="gpt-4o")] == ["r3", "r1"]
    assert {e["request_id"] for e in await _entries(gw, 2, user_path="/team")} == {"r0", "r1"}
    seen: list[str] = []
    cursor = None
    base = gw.url.removesuffix("/v1")
    async with gw.http() as client:
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get(base + "/admin/api/v1/audit/log", params=params)).json()
            seen += [e["request_id"] for e in page["entries"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    async with httpx.AsyncClient() as anonymous:
        denied = await anonymous.get(base + "/admin/api/v1/audit/log")
    assert seen == ["r4", "r3", "r2", "r1", "r0"]
    assert denied.status_code == 401
