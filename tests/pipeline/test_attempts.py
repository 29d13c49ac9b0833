"""Retries and failover in virtual time: which deployment answers, when, and what the client
and the usage records see (docs/resilience.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from gomodel.termination import Termination
from gomodel.testing import Fault, MockUpstream, faults
from tests.pipeline.harness import open_pool

HI = [{"role": "user", "content": "hi"}]
ANSWER = "Mock response to: hi"
POOL = """
providers:
  pool:
    type: openai
    strategy: priority
    deployments:
      - {name: a, api_key: ka, base_url: "http://a.test/v1"}
      - {name: b, api_key: kb, base_url: "http://b.test/v1"}
"""
ONE = """
providers:
  solo: {type: openai, api_key: k, base_url: "http://solo.test/v1"}
"""


def two() -> dict[str, MockUpstream]:
    return {"pool.a": MockUpstream(models=("gpt-4o",)), "pool.b": MockUpstream(models=("gpt-4o",))}


def solo() -> dict[str, MockUpstream]:
    return {"solo": MockUpstream(models=("gpt-4o",), stream_gap=1.0)}


async def test_failover_to_the_next_deployment_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A 503 from the first deployment: the second answers in the same instant; the client
    sees which deployment answered and how many attempts it took; one usage row per attempt."""
    mocks = two()
    mocks["pool.a"].fail(faults.status(503))
    async with open_pool(tmp_path, POOL, mocks) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert call.server.status == 200
        assert call.json["choices"][0]["message"]["content"] == ANSWER
        assert call.answered_at == 0.0
        assert call.header(b"x-gomodel-attempts") == b"2"
        assert (
            call.header(b"x-gomodel-route") == b"passthrough; target=pool.b/gpt-4o; pick=failover"
        )
        rows = [(r.provider, r.status, r.termination) for r in pool.records()]
        assert rows == [
            ("pool.a", 503, Termination.UPSTREAM_ERROR),
            ("pool.b", 200, Termination.COMPLETED),
        ]


async def test_one_deployment_is_retried_after_exact_backoffs(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """RETRY_INITIAL_BACKOFF 1 s, factor 2: attempts at 0, 1 and 3 s; the third answers."""
    mocks = solo()
    mocks["solo"].fail(faults.status(502), times=2)
    async with open_pool(tmp_path, ONE, mocks) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("solo") == [0.0, 1.0, 3.0]
        assert call.server.status == 200 and call.answered_at == 3.0
        assert call.header(b"x-gomodel-attempts") == b"3"
        assert call.header(b"x-gomodel-route") == b"passthrough; target=solo/gpt-4o; pick=retry"
        assert [r.status for r in pool.records()] == [502, 502, 200]


async def test_retries_exhausted_give_the_last_error(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = solo()
    mocks["solo"].fail(faults.status(503), times=None)
    env = {"RETRY_MAX_RETRIES": "2", "RETRY_INITIAL_BACKOFF": "500ms", "RETRY_BACKOFF_FACTOR": "3"}
    async with open_pool(tmp_path, ONE, mocks, env) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("solo") == [0.0, 0.5, 2.0]
        assert call.server.status == 503 and call.answered_at == 2.0
        assert call.json["error"]["code"] == "http_503"
        assert call.header(b"x-gomodel-attempts") == b"3"


async def test_retry_after_is_honoured(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A 429 asking for 5 s: the retry waits 5 s, not the 1 s backoff."""
    mocks = solo()
    mocks["solo"].fail(faults.status(429, retry_after=5))
    async with open_pool(tmp_path, ONE, mocks) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("solo") == [0.0, 5.0]
        assert call.server.status == 200


async def test_total_deadline_answers_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A Retry-After past RETRY_TOTAL_TIMEOUT is not waited for: the 429 (with its retry-after)
    goes to the client at once, and the provider is not asked again."""
    mocks = solo()
    mocks["solo"].fail(faults.status(429, retry_after=30), times=None)
    async with open_pool(tmp_path, ONE, mocks, {"RETRY_TOTAL_TIMEOUT": "10"}) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("solo") == [0.0]
        assert call.server.status == 429 and call.answered_at == 0.0
        assert call.header(b"retry-after") == b"30"


async def test_total_deadline_stops_the_backoffs(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = solo()
    mocks["solo"].fail(faults.status(503), times=None)
    env = {"RETRY_MAX_RETRIES": "10", "RETRY_TOTAL_TIMEOUT": "5"}
    async with open_pool(tmp_path, ONE, mocks, env) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("solo") == [0.0, 1.0, 3.0]  # the next would start at 7 > 5
        assert call.server.status == 503 and call.answered_at == 3.0


async def test_client_leaving_during_backoff_ends_everything_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The client leaves 2 s into a 10 s backoff: the request ends that instant, nothing is
    sent again, nothing answers, and the only row is the first attempt's."""
    mocks = solo()
    mocks["solo"].fail(faults.status(503))
    env = {"RETRY_INITIAL_BACKOFF": "10"}
    async with open_pool(tmp_path, ONE, mocks, env) as pool:
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(2.0)
        await call.server.disconnect()
        await pool.finished(call)
        assert call.done_at == 2.0
        await trio.sleep(60.0)
        assert pool.chat_requests("solo") == [0.0]
        assert call.server.messages == []
        assert [r.termination for r in pool.records()] == [Termination.UPSTREAM_ERROR]


STREAM_FAULTS = [
    pytest.param(faults.status(503), 0.0, Termination.UPSTREAM_ERROR, id="503"),
    pytest.param(faults.cut_after(0, how="reset"), 0.0, Termination.UPSTREAM_ERROR, id="reset"),
    pytest.param(faults.stall_after(0), 5.0, Termination.HEADER_TIMEOUT, id="stall-before-event"),
    pytest.param(faults.delay_head(60), 5.0, Termination.HEADER_TIMEOUT, id="no-head"),
    # A cut while nothing was relayed reads as a failed read (upstream_error), as ever.
    pytest.param(faults.cut_after(1), 0.0, Termination.UPSTREAM_ERROR, id="cut-after-role"),
    pytest.param(faults.cut_after(1, how="truncated"), 0.0, Termination.UPSTREAM_ERROR, id="trunc"),
    pytest.param(faults.error_event_after(1), 0.0, Termination.UPSTREAM_ERROR, id="error-event"),
    pytest.param(faults.malformed_after(0), 0.0, Termination.UPSTREAM_ERROR, id="malformed"),
    pytest.param(faults.stall_after(1), 7.0, Termination.IDLE_TIMEOUT, id="stall-after-role"),
]


@pytest.mark.parametrize(("fault", "at", "termination"), STREAM_FAULTS)
async def test_stream_fails_over_invisibly_before_content(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    fault: Fault,
    at: float,
    termination: Termination,
) -> None:
    """Whatever goes wrong before the first content (an error status, a reset, a stall, a cut
    or an error or malformed event after the role chunk), the client gets one clean stream
    from the next deployment: one role chunk, the whole text, [DONE]."""
    mocks = two()
    mocks["pool.a"].fail(fault)
    env = {"HTTP_RESPONSE_HEADER_TIMEOUT": "5", "HTTP_STREAM_IDLE_TIMEOUT": "7"}
    async with open_pool(tmp_path, POOL, mocks, env) as pool:
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await pool.finished(call)
        assert call.server.status == 200 and call.answered_at == at
        events = call.events()
        assert events[-1] == b"[DONE]" and b'"error"' not in b"".join(events)
        assert sum(b'"role"' in e for e in events) == 1
        assert call.content() == ANSWER
        assert call.header(b"x-gomodel-attempts") == b"2"
        assert pool.chat_requests("pool.b") == [at]
        rows = [(r.provider, r.termination) for r in pool.records()]
        assert rows == [("pool.a", termination), ("pool.b", Termination.COMPLETED)]


async def test_cut_after_content_is_one_explicit_error_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Once content reached the client, a failure is an error event, never a second answer."""
    mocks = two()
    mocks["pool.a"].fail(faults.cut_after(2))  # the role chunk, then "Mock "
    async with open_pool(tmp_path, POOL, mocks) as pool:
        call = await pool.finished(
            await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        )
        events = call.events()
        assert call.content() == "Mock "
        assert b"[DONE]" not in events and b'"stream_incomplete"' in events[-1]
        assert pool.chat_requests("pool.b") == []
        assert call.header(b"x-gomodel-attempts") == b"1"
        assert [r.termination for r in pool.records()] == [Termination.UPSTREAM_EOF]


async def test_role_chunk_waits_for_the_first_content_only_while_retrying_is_possible(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """With another attempt possible, the response starts with the first content (the role
    chunk at t=0 goes with the first content at t=1); the bytes are the provider's."""
    async with open_pool(tmp_path, ONE, solo()) as pool:
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await pool.finished(call)
        bodies = [
            (t, m["body"]) for t, m in call.server.messages if m["type"] == "http.response.body"
        ]
        assert call.answered_at == 1.0
        assert bodies[0][1].count(b"data: ") == 2  # role chunk + first content, together
        assert call.content() == ANSWER
    async with open_pool(tmp_path, ONE, solo(), {"RETRY_MAX_RETRIES": "0"}) as pool:
        started = trio.current_time()
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await pool.finished(call)
        assert call.answered_at == started  # nothing could replace the attempt: nothing held
    async with open_pool(tmp_path, ONE, solo(), {"FAILOVER_HOLD_PRELUDE": "false"}) as pool:
        started = trio.current_time()
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await pool.finished(call)
        assert call.answered_at == started  # holding is switched off


async def test_client_leaving_during_a_held_prelude_closes_the_upstream(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """A client that leaves while the role chunk is held: upstream closed that instant."""
    mocks = solo()
    mocks["solo"].fail(faults.stall_after(1))
    async with open_pool(tmp_path, ONE, mocks) as pool:
        call = await pool.request({"model": "gpt-4o", "messages": HI, "stream": True})
        await trio.sleep(3.0)
        await call.server.disconnect()
        closed_at = await mocks["solo"].wait_closed(-1)
        assert closed_at == 3.0
        await pool.finished(call)
        assert call.server.messages == [] and call.done_at == 3.0
        assert [r.termination for r in pool.records()] == [Termination.CLIENT_DISCONNECT]


async def test_not_retried_when_the_error_is_the_clients(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(400, "bad input"))
    async with open_pool(tmp_path, POOL, mocks) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert call.server.status == 400
        assert pool.chat_requests("pool.b") == []


async def test_failover_off_retries_the_chosen_deployment_only(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    mocks = two()
    mocks["pool.a"].fail(faults.status(503))
    async with open_pool(tmp_path, POOL, mocks, {"FAILOVER_ENABLED": "false"}) as pool:
        call = await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        assert pool.chat_requests("pool.a") == [0.0, 1.0]
        assert pool.chat_requests("pool.b") == []
        assert call.server.status == 200


async def test_a_retry_row_does_not_count_the_wait_as_gateway_overhead(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """Each attempt's row: latency from the request's arrival (what the client waited),
    overhead without the earlier attempts and the backoff."""
    mocks = solo()
    mocks["solo"].fail(faults.status(503))
    mocks["solo"].fail(faults.delay_head(2.0))
    async with open_pool(tmp_path, ONE, mocks) as pool:
        await pool.finished(await pool.request({"model": "gpt-4o", "messages": HI}))
        first, second = pool.records()
        assert (first.latency_ms, second.latency_ms) == (0.0, 3000.0)  # 1 s backoff, 2 s answer
        assert (first.overhead_ms, second.overhead_ms) == (0.0, 0.0)
