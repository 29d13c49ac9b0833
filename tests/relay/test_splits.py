"""Row 15: however the provider's bytes are split into reads, the client gets the same bytes."""

from __future__ import annotations

import itertools

import orjson
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from gomodel.testing import Reply
from tests.conftest import load_stream
from tests.relay.harness import open_harness

RECORDED = load_stream("groq/chat_completion_stream.txt").replace(b"\n", b"\r\n")


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % len(data) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40))
async def test_any_split_relays_identical_bytes(
    tmp_path_factory: pytest.TempPathFactory, cuts: list[int]
) -> None:
    """A CRLF stream cut anywhere (inside \\r\\n, inside multibyte characters) reaches a client
    that asked for usage byte for byte."""
    body = orjson.dumps(
        {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    pieces = _split(RECORDED, cuts)
    async with open_harness(tmp_path_factory.mktemp("split")) as h:
        h.mock.script(
            Reply(headers=(("content-type", "text/event-stream"),), body=tuple(pieces)),
            path="/chat/completions",
        )
        server, _ = await h.request(orjson.loads(body))
        await trio.testing.wait_all_tasks_blocked()  # everything in memory: done when quiet
        assert server.finished
        assert server.body == RECORDED
