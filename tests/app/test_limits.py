"""The gateway's own capacity limits: MAX_CONCURRENT_REQUESTS (a 503 the SDKs retry) and
UPSTREAM_MAX_BODY_SIZE (a 502 instead of an unbounded buffer). RELIABILITY.md §8 row 24's
resource side; the connection limits are in tests/test_serve.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import trio
import trio.testing

from gomodel.testing import Reply, Silence
from tests.app.gateway import ONE_ATTEMPT, start_gateway
from tests.relay.harness import open_harness

LONG = [{"role": "user", "content": "x" * 500}]
HI = [{"role": "user", "content": "hi"}]


async def _get(app: Any, path: str) -> tuple[int, bytes]:
    """A GET straight to the ASGI app."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(sent[0]["status"]), body


def _header(server: Any, name: bytes) -> bytes | None:
    for _, message in server.messages:
        if message["type"] == "http.response.start":
            return dict(message["headers"]).get(name)
    return None


async def test_concurrent_requests_past_the_limit_get_503(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """With MAX_CONCURRENT_REQUESTS=2 and two streams running, a third request is answered
    503 at once (the OpenAI envelope, retry-after: 1) without reaching the provider, while the
    probes still answer; once a stream ends its slot serves the next request."""
    async with open_harness(tmp_path, {"MAX_CONCURRENT_REQUESTS": "2"}) as h:
        first, _ = await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        await h.request({"model": "gpt-4o", "messages": LONG, "stream": True})
        chats = len(h.mock.requests)
        refused, _ = await h.request({"model": "gpt-4o", "messages": HI})
        assert refused.status == 503
        error = orjson.loads(refused.body)["error"]
        assert error["type"] == "server_error"
        assert error["code"] == "server_overloaded"
        assert "MAX_CONCURRENT_REQUESTS" in error["message"]
        assert _header(refused, b"retry-after") == b"1"
        assert len(h.mock.requests) == chats
        assert (await _get(h.app, "/health"))[0] == 200
        assert (await _get(h.app, "/ready"))[0] == 200
        assert (await _get(h.app, "/v1/models"))[0] == 503  # every other route counts
        await first.disconnect()
        await trio.testing.wait_all_tasks_blocked()
        again, _ = await h.request({"model": "gpt-4o", "messages": HI})
        await trio.sleep(1)
        assert again.status == 200
        assert h.app.in_flight == 1  # the second stream


async def test_the_sdk_sees_a_retryable_503(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Through hypercorn: the official SDK gets a 503 it would retry (it honours retry-after),
    and the slot is free again once the request holding it has gone."""
    # One attempt: a stream that might be retried would hold its prelude, and never start.
    gw = await start_gateway(nursery, tmp_path, {"MAX_CONCURRENT_REQUESTS": "1", **ONE_ATTEMPT})
    gw.mock.script(Reply.sse([{"choices": []}, Silence()], done=False), path="/chat/completions")
    async with gw.http() as client:
        body = {"model": "gpt-4o", "messages": HI, "stream": True}
        async with client.stream("POST", "/chat/completions", json=body) as held:
            assert held.status_code == 200
            async with gw.sdk() as sdk:
                try:
                    await sdk.chat.completions.create(model="gpt-4o", messages=HI)
                except openai.InternalServerError as exc:
                    refused = exc
                else:
                    raise AssertionError("served past MAX_CONCURRENT_REQUESTS")
        assert refused.status_code == 503
        assert refused.response.headers["retry-after"] == "1"
        assert refused.code == "server_overloaded"
        with trio.fail_after(10):  # the gateway sees the stream's client leave within ms
            while (await client.get("/models")).status_code != 200:  # noqa: ASYNC110
                await trio.sleep(0.01)


async def test_upstream_answer_larger_than_the_limit_is_a_502(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A non-streamed answer larger than UPSTREAM_MAX_BODY_SIZE (16 MiB by default) is not held
    in memory: 502 upstream_body_too_large; a larger limit lets the same answer through."""
    content = "y" * (17 * 1024 * 1024)
    big = Reply.json(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
        }
    )
    for env, status in (({}, 502), ({"UPSTREAM_MAX_BODY_SIZE": "32M"}, 200)):
        async with open_harness(tmp_path, {**env, **ONE_ATTEMPT}) as h:
            h.mock.script(big, path="/chat/completions")
            server, _ = await h.request({"model": "gpt-4o", "messages": HI})
            await trio.testing.wait_all_tasks_blocked()
            assert server.status == status
            if status == 502:
                error = orjson.loads(server.body)["error"]
                assert error["code"] == "upstream_body_too_large"
                assert "UPSTREAM_MAX_BODY_SIZE" in error["message"]
            else:
                assert len(server.body) > len(content)
