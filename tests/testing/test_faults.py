"""The mock upstream's fault API as a user's test drives it: httpx against the mock, in memory
under MockClock (exact times) and over a real socket (a reset is a real TCP RST)."""

from __future__ import annotations

import httpx
import orjson
import pytest
import trio
import trio.testing

from gomodel.testing import MockUpstream, faults, memory_transport, serve_mock_upstream

URL = "http://upstream.test/v1"
STREAM = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


async def read(
    mock: MockUpstream, nursery: trio.Nursery, doc: dict[str, object]
) -> tuple[int, list[tuple[float, bytes]], Exception | None]:
    """Status, (time, bytes) of each body piece, and the error that ended the body, if any."""
    transport = memory_transport(mock, nursery)
    pieces: list[tuple[float, bytes]] = []
    async with (
        httpx.AsyncClient(transport=transport, base_url=URL, timeout=None) as client,
        client.stream("POST", "/chat/completions", json=doc) as response,
    ):
        try:
            async for piece in response.aiter_raw():
                pieces.append((trio.current_time(), piece))
        except httpx.HTTPError as exc:
            return response.status_code, pieces, exc
        return response.status_code, pieces, None


def data(pieces: list[tuple[float, bytes]]) -> list[bytes]:
    raw = b"".join(p for _, p in pieces)
    return [line[6:] for line in raw.split(b"\n") if line.startswith(b"data: ")]


async def test_status_then_the_default_again(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    mock = MockUpstream()
    mock.fail(faults.status(429, retry_after=2), times=2)
    transport = memory_transport(mock, nursery)
    async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
        answers = [await client.post("/chat/completions", json=CHAT) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].json()["error"]["type"] == "rate_limit_error"


async def test_every_nth_request_forever(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    mock = MockUpstream()
    mock.fail(faults.status(503), every=3, times=None)
    transport = memory_transport(mock, nursery)
    async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
        got = [(await client.post("/chat/completions", json=CHAT)).status_code for _ in range(7)]
        listed = await client.get("/models")  # model lists are never faulted
    assert got == [200, 200, 503, 200, 200, 503, 200]
    assert listed.status_code == 200


async def test_delay_head(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    mock = MockUpstream()
    mock.fail(faults.delay_head(7.5))
    status, pieces, _ = await read(mock, nursery, CHAT)
    assert status == 200 and pieces[0][0] == 7.5


async def test_stall_after(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    mock = MockUpstream()
    mock.fail(faults.stall_after(2))
    with trio.move_on_after(100) as scope:
        await read(mock, nursery, STREAM)
    assert scope.cancelled_caught  # the stream never ends
    assert len(mock.requests) == 1


@pytest.mark.parametrize("how", ["fin", "truncated"])
async def test_cut_after(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, how: str
) -> None:
    mock = MockUpstream()
    mock.fail(faults.cut_after(2, how=how))  # type: ignore[arg-type]
    status, pieces, error = await read(mock, nursery, STREAM)
    complete = b"".join(p for _, p in pieces).count(b"\n\n")
    assert status == 200 and complete == 2 and isinstance(error, httpx.RemoteProtocolError)
    if how == "truncated":
        assert pieces[-1][1].startswith(b'data: {"id"') and not pieces[-1][1].endswith(b"\n\n")


async def test_reset_over_a_socket(nursery: trio.Nursery) -> None:
    mock = MockUpstream()
    mock.fail(faults.cut_after(1, how="reset"))
    url = await nursery.start(serve_mock_upstream, mock)
    with trio.fail_after(10):
        async with (
            httpx.AsyncClient(base_url=url, trust_env=False) as client,
            client.stream("POST", "/chat/completions", json=STREAM) as response,
        ):
            with pytest.raises(httpx.ReadError):
                async for _ in response.aiter_raw():
                    pass


async def test_malformed_and_error_events(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    mock = MockUpstream()
    mock.fail(faults.malformed_after(1))
    mock.fail(faults.error_event_after(1, "boom", code=529))
    _, pieces, _ = await read(mock, nursery, STREAM)
    first = data(pieces)
    assert first[1] == b"{not json" and first[-1] == b"[DONE]"
    _, pieces, _ = await read(mock, nursery, STREAM)
    second = data(pieces)
    assert len(second) == 2
    assert orjson.loads(second[1]) == {
        "error": {"message": "boom", "type": "server_error", "code": 529}
    }


async def test_drip(nursery: trio.Nursery, autojump_clock: trio.testing.MockClock) -> None:
    mock = MockUpstream()
    mock.fail(faults.drip(0.5))
    _, pieces, _ = await read(mock, nursery, STREAM)
    times = sorted({t for t, _ in pieces})
    assert times[:4] == [0.0, 0.5, 1.0, 1.5]


def test_scenarios_are_described() -> None:
    assert {"flaky", "down", "stall", "cut", "reset", "malformed"} <= set(faults.SCENARIOS)
    assert all(s.description for s in faults.SCENARIOS.values())
    with pytest.raises(ValueError):
        MockUpstream().fail(faults.status(500), every=0)
