"""Virtual models and deployment strategies through the whole gateway, in memory: which
deployment a request lands on, the route header it gets, and what the provider receives."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import trio
import trio.testing

from gomodel.testing import MockUpstream, Reply, faults
from tests.pipeline.harness import Pool, open_pool

HI = [{"role": "user", "content": "hi"}]


def pool_yaml(strategy: str, *weights: int) -> str:
    names = "abc"[: len(weights)]
    deployments = "\n".join(
        f'      - {{name: {n}, api_key: k{n}, base_url: "http://{n}.test/v1", weight: {w}}}'
        for n, w in zip(names, weights, strict=True)
    )
    return f"""
providers:
  pool:
    type: openai
    strategy: {strategy}
    deployments:
{deployments}
"""


def mocks(*names: str, **kw: object) -> dict[str, MockUpstream]:
    return {f"pool.{n}": MockUpstream(models=("gpt-4o",), **kw) for n in names}  # type: ignore[arg-type]


async def served_by(pool: Pool, doc: dict[str, object], **kw: object) -> str:
    call = await pool.finished(await pool.request(doc, **kw))  # type: ignore[arg-type]
    assert call.server.status == 200, call.server.body
    route = call.header(b"x-gomodel-route") or b""
    return route.decode().split("target=")[1].split("/")[0]


async def test_weighted_round_robin_follows_the_weights(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_pool(tmp_path, pool_yaml("weighted", 3, 1), mocks("a", "b")) as pool:
        got = [await served_by(pool, {"model": "gpt-4o", "messages": HI}) for _ in range(8)]
    assert got == ["pool.a", "pool.a", "pool.b", "pool.a"] * 2


async def test_least_inflight_avoids_the_busy_deployment(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A long stream holds a; the next request goes to b, and again to a once a is free."""
    slow = mocks("a", "b", stream_gap=1.0)
    async with open_pool(tmp_path, pool_yaml("least_inflight", 1, 1), slow) as pool:
        long = [{"role": "user", "content": "x" * 100}]
        streaming = await pool.request({"model": "gpt-4o", "messages": long, "stream": True})
        assert streaming.header(b"x-gomodel-route") is None  # held until its first content
        await trio.sleep(1.5)
        route = streaming.header(b"x-gomodel-route") or b""
        assert route.endswith(b"; target=pool.a/gpt-4o; pick=least_inflight")
        assert await served_by(pool, {"model": "gpt-4o", "messages": HI}) == "pool.b"
        await pool.finished(streaming)
        assert await served_by(pool, {"model": "gpt-4o", "messages": HI}) == "pool.a"


async def test_sticky_by_user_path(tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """Requests of one user path stay on one deployment; user paths spread over all."""
    async with open_pool(tmp_path, pool_yaml("sticky", 1, 1, 1), mocks("a", "b", "c")) as pool:
        seen: dict[str, set[str]] = {}
        for n in range(12):
            for _ in range(3):
                header = [(b"x-gomodel-user-path", f"/team/{n}".encode())]
                name = await served_by(pool, {"model": "gpt-4o", "messages": HI}, headers=header)
                seen.setdefault(f"/team/{n}", set()).add(name)
    assert all(len(names) == 1 for names in seen.values())
    assert Counter(next(iter(n)) for n in seen.values()).keys() == {"pool.a", "pool.b", "pool.c"}


async def test_sticky_fails_over_and_comes_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    deployments = mocks("a", "b", "c")
    async with open_pool(tmp_path, pool_yaml("sticky", 1, 1, 1), deployments) as pool:
        header = [(b"x-gomodel-user-path", b"/alice")]
        home = await served_by(pool, {"model": "gpt-4o", "messages": HI}, headers=header)
        deployments[home].fail(faults.status(503))
        away = await served_by(pool, {"model": "gpt-4o", "messages": HI}, headers=header)
        assert away != home
        assert await served_by(pool, {"model": "gpt-4o", "messages": HI}, headers=header) == home


CROSS = """
providers:
  anthropic: {type: anthropic, api_key: ka, base_url: "http://anthropic.test/v1"}
  openai: {type: openai, api_key: ko, base_url: "http://openai.test/v1"}
virtual_models:
  - source: smart
    strategy: priority
    targets: [anthropic/claude-sonnet-4-5, openai/gpt-4o]
  - source: gpt-4o-mini
    target: openai/gpt-4o-mini
"""


def cross() -> dict[str, MockUpstream]:
    return {
        "anthropic": MockUpstream(models=("claude-sonnet-4-5",), dialect="anthropic"),
        "openai": MockUpstream(models=("gpt-4o", "gpt-4o-mini")),
    }


async def test_virtual_model_across_provider_types(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """smart is Anthropic first (translated) and OpenAI second (the model value spliced):
    each target gets its own decision."""
    upstreams = cross()
    async with open_pool(tmp_path, CROSS, upstreams) as pool:
        body = {"model": "smart", "messages": HI, "max_tokens": 50}
        first = await pool.finished(await pool.request(body))
        assert first.header(b"x-gomodel-route") == (
            b"translate; dialect, virtual_model; target=anthropic/claude-sonnet-4-5; pick=priority"
        )
        assert first.json["object"] == "chat.completion"
        upstreams["anthropic"].fail(faults.status(529, "overloaded"))
        second = await pool.finished(await pool.request(body))
        assert second.header(b"x-gomodel-route") == (
            b"rewrite; virtual_model; target=openai/gpt-4o; pick=failover"
        )
        assert second.header(b"x-gomodel-attempts") == b"2"
        [sent] = [r for r in upstreams["openai"].requests if r.method == "POST"]
        assert sent.body == orjson.dumps(body).replace(b'"smart"', b'"gpt-4o"')  # a splice
        records = pool.records()
        assert [(r.provider, r.requested_model, r.model) for r in records[1:]] == [
            ("anthropic", "smart", "claude-sonnet-4-5"),
            ("openai", "smart", "gpt-4o"),
        ]


async def test_virtual_model_with_its_targets_id_keeps_the_fast_path(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    upstreams = cross()
    async with open_pool(tmp_path, CROSS, upstreams) as pool:
        raw = b'{ "model" : "gpt-4o-mini", "messages": [{"role":"user","content":"caf\\u00e9"}]}'
        server_call = await pool.request(orjson.loads(raw))
        call = await pool.finished(server_call)
        assert call.header(b"x-gomodel-route") == (
            b"passthrough; target=openai/gpt-4o-mini; pick=alias"
        )
        [sent] = [r for r in upstreams["openai"].requests if r.method == "POST"]
        assert sent.body == orjson.dumps(orjson.loads(raw))  # the client's bytes, as sent


async def test_models_endpoint_lists_virtual_models(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_pool(tmp_path, CROSS, cross()) as pool:
        call = await pool.finished(await pool.request(None, path="/v1/models", method="GET"))
        ids = {m["id"]: m["owned_by"] for m in call.json["data"]}
        assert ids["smart"] == "anthropic" and ids["gpt-4o-mini"] == "openai"
        assert "openai/gpt-4o" in ids
    env = {"KEEP_ONLY_ALIASES_AT_MODELS_ENDPOINT": "true"}
    async with open_pool(tmp_path, CROSS, cross(), env) as pool:
        call = await pool.finished(await pool.request(None, path="/v1/models", method="GET"))
        assert [m["id"] for m in call.json["data"]] == ["gpt-4o-mini", "smart"]


async def test_passthrough_post_is_retried_only_with_idempotency_key(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    deployments = mocks("a", "b")
    async with open_pool(tmp_path, pool_yaml("priority", 1, 1), deployments) as pool:
        deployments["pool.a"].fail(faults.status(503))
        body = {"model": "gpt-4o", "messages": HI}
        call = await pool.finished(await pool.request(body, path="/p/pool/chat/completions"))
        assert call.server.status == 503
        assert pool.chat_requests("pool.b") == []
        deployments["pool.a"].fail(faults.status(503))
        key = [(b"idempotency-key", b"k-1")]
        call = await pool.finished(
            await pool.request(body, path="/p/pool/chat/completions", headers=key)
        )
        assert call.server.status == 200
        assert (
            call.header(b"x-gomodel-route") == b"passthrough; target=pool.b/gpt-4o; pick=failover"
        )


async def test_passthrough_is_failed_over_when_nothing_was_sent(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A deployment that cannot be reached saw nothing: even a POST moves on to the next."""
    deployments = mocks("a", "b")
    env = {"HTTP_CONNECT_TIMEOUT": "1"}
    yaml = pool_yaml("priority", 1, 1)
    async with open_pool(tmp_path, yaml, deployments, env, connect_delays={"pool.a": 10}) as pool:
        body = {"model": "gpt-4o", "messages": HI}
        started = trio.current_time()
        call = await pool.finished(await pool.request(body, path="/p/pool/chat/completions"))
        assert call.server.status == 200 and call.answered_at == started + 1.0
        assert call.header(b"x-gomodel-attempts") == b"2"
        assert [r.termination.value for r in pool.records()] == ["connect_error", "completed"]


EMBED = """
providers:
  openai: {type: openai, api_key: ko, base_url: "http://openai.test/v1"}
  other: {type: openai, api_key: kx, base_url: "http://other.test/v1"}
virtual_models:
  - source: vectors
    strategy: priority
    targets: [openai/text-embedding-3-small, other/text-embedding-3-large,
              other/text-embedding-3-small]
"""


async def test_embeddings_fail_over_only_to_the_same_model(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    models = ("text-embedding-3-small", "text-embedding-3-large")
    upstreams = {"openai": MockUpstream(models=models), "other": MockUpstream(models=models)}
    upstreams["openai"].fail(faults.status(503))
    answer = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    upstreams["other"].script(Reply.json(answer), path="/embeddings")
    async with open_pool(tmp_path, EMBED, upstreams) as pool:
        call = await pool.finished(
            await pool.request({"model": "vectors", "input": "hi"}, path="/v1/embeddings")
        )
        assert call.server.status == 200
        [sent] = [r for r in upstreams["other"].requests if r.method == "POST"]
        assert sent.json["model"] == "text-embedding-3-small"  # not the -large target


def _anthropic_sse(*events: tuple[str, dict[str, object]]) -> Reply:
    return Reply.sse(
        [f"event: {name}\ndata: ".encode() + orjson.dumps(doc) + b"\n\n" for name, doc in events],
        done=False,
    )


async def test_translated_stream_fails_over_after_message_start(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Anthropic starts the message, then reports overload: the client never sees it; the
    OpenAI target's stream is the answer (a translated target, then the fast path)."""
    upstreams = cross()
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "usage": {"input_tokens": 5, "output_tokens": 0},
        },
    }
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstreams["anthropic"].script(
        _anthropic_sse(("message_start", start), ("error", overloaded)), path="/messages"
    )
    async with open_pool(tmp_path, CROSS, upstreams) as pool:
        body = {"model": "smart", "messages": HI, "max_tokens": 50, "stream": True}
        call = await pool.finished(await pool.request(body))
        assert call.server.status == 200
        assert call.content() == "Mock response to: hi"
        assert call.events()[-1] == b"[DONE]"
        assert call.header(b"x-gomodel-attempts") == b"2"
        assert [(r.provider, r.termination.value) for r in pool.records()] == [
            ("anthropic", "upstream_error"),
            ("openai", "completed"),
        ]


RESPONSES_POOL = """
providers:
  llama:
    type: vllm
    strategy: priority
    deployments:
      - {name: a, base_url: "http://a.test/v1"}
      - {name: b, base_url: "http://b.test/v1"}
"""


async def test_translated_responses_stream_fails_over(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """/v1/responses on a chat-only provider: a cut after the first chunk of deployment a is
    invisible; the Responses events come whole from b."""
    upstreams = {
        "llama.a": MockUpstream(models=("llama-3",)),
        "llama.b": MockUpstream(models=("llama-3",)),
    }
    upstreams["llama.a"].fail(faults.cut_after(1))
    async with open_pool(tmp_path, RESPONSES_POOL, upstreams) as pool:
        body = {"model": "llama-3", "input": "hi", "stream": True}
        call = await pool.finished(await pool.request(body, path="/v1/responses"))
        assert call.server.status == 200
        types = [orjson.loads(e)["type"] for e in call.events()]
        assert types[0] == "response.created" and types.count("response.created") == 1
        assert types[-1] == "response.completed"
        assert call.header(b"x-gomodel-attempts") == b"2"


async def test_a_target_without_the_operation_is_passed_over(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Embeddings through a virtual model whose first target (Anthropic) has none: the next
    target serves them."""
    yaml = """
providers:
  anthropic: {type: anthropic, api_key: ka, base_url: "http://anthropic.test/v1"}
  openai: {type: openai, api_key: ko, base_url: "http://openai.test/v1"}
virtual_models:
  - source: embed
    strategy: priority
    targets: [anthropic/text-embedding-3-small, openai/text-embedding-3-small]
"""
    upstreams = {
        "anthropic": MockUpstream(models=("text-embedding-3-small",), dialect="anthropic"),
        "openai": MockUpstream(models=("text-embedding-3-small",)),
    }
    answer = {
        "object": "list",
        "data": [],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    upstreams["openai"].script(Reply.json(answer), path="/embeddings")
    async with open_pool(tmp_path, yaml, upstreams) as pool:
        call = await pool.finished(
            await pool.request({"model": "embed", "input": "hi"}, path="/v1/embeddings")
        )
        assert call.server.status == 200
        assert call.header(b"x-gomodel-attempts") == b"1"
        assert [r.provider for r in pool.records()] == ["openai"]


async def test_virtual_fast_path_stream_is_byte_for_byte(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Held back or not, the client's stream is the provider's bytes, event for event."""
    raw = (
        b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},'
        b'"finish_reason":null}]}\n\n'
        b": keep-alive\n\n"
        b'data: {"id":"c",  "choices":[{"index":0,"delta":{"content":"caf\\u00e9"},'
        b'"finish_reason":null}]}\r\n\r\n'
        b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,'
        b'"total_tokens":2}}\n\n'
        b"data: [DONE]\n\n"
    )
    upstreams = cross()
    upstreams["openai"].script(
        Reply(headers=(("content-type", "text/event-stream"),), body=(raw,)),
        path="/chat/completions",
    )
    async with open_pool(tmp_path, CROSS, upstreams) as pool:
        body = {
            "model": "gpt-4o-mini",
            "messages": HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        call = await pool.finished(await pool.request(body))
        assert call.header(b"x-gomodel-route") == (
            b"passthrough; target=openai/gpt-4o-mini; pick=alias"
        )
        assert call.server.body == raw
        [record] = pool.records()
        assert record.complete and record.usage is not None and record.usage.total_tokens == 2


MESSAGES = """
providers:
  claude:
    type: anthropic
    strategy: priority
    deployments:
      - {name: a, api_key: ka, base_url: "http://a.test/v1"}
      - {name: b, api_key: kb, base_url: "http://b.test/v1"}
"""


async def test_messages_fast_path_fails_over_after_message_start(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """/v1/messages to Anthropic deployments: Anthropic's own overload after message_start is
    not relayed while another deployment can answer; the client's stream is b's, verbatim."""
    upstreams = {
        "claude.a": MockUpstream(models=("claude-sonnet-4-5",), dialect="anthropic"),
        "claude.b": MockUpstream(models=("claude-sonnet-4-5",), dialect="anthropic"),
    }
    start = {"type": "message_start", "message": {"id": "msg_a", "usage": {}}}
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    upstreams["claude.a"].script(
        _anthropic_sse(("message_start", start), ("error", overloaded)), path="/messages"
    )
    async with open_pool(tmp_path, MESSAGES, upstreams) as pool:
        body = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": HI, "stream": True}
        call = await pool.finished(await pool.request(body, path="/v1/messages"))
        assert call.server.status == 200
        assert b"overloaded" not in call.server.body and b"msg_a" not in call.server.body
        assert b"event: message_stop" in call.server.body
        assert call.header(b"x-gomodel-route") == (
            b"passthrough; target=claude.b/claude-sonnet-4-5; pick=failover"
        )
        assert [(r.provider, r.termination.value) for r in pool.records()] == [
            ("claude.a", "upstream_error"),
            ("claude.b", "completed"),
        ]
