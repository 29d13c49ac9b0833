"""The gateway in front of several mock deployments, all in memory, under MockClock.

Like tests/relay/harness.py (whose fake hypercorn it uses), but the configuration is a YAML
file and each configured deployment reaches its own :class:`MockUpstream` (by name), so a test
can fail one deployment and watch the request move to the next, at exact virtual times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
import trio.testing

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.testing import MockUpstream, memory_transport
from gomodel.usage.record import MemoryUsageSink, UsageRecord
from gomodel.wire.sse import SSEDecoder
from tests.conftest import VIRTUAL_TIME_ENV
from tests.relay.harness import FakeServer

# No jitter: every wait is exact; no storage-backed stages (their threads do not run in
# virtual time). Tests that want other numbers set their own.
EXACT = {**VIRTUAL_TIME_ENV, "RETRY_JITTER_FACTOR": "0"}


@attrs.define
class Call:
    """One request: its fake server, and when the app returned."""

    server: FakeServer
    scope: trio.CancelScope
    done: trio.Event = attrs.Factory(trio.Event)
    done_at: float | None = None

    def header(self, name: bytes) -> bytes | None:
        for _, message in self.server.messages:
            if message["type"] == "http.response.start":
                return next((v for k, v in message["headers"] if k == name), None)
        return None

    @property
    def json(self) -> Any:
        return orjson.loads(self.server.body)

    def events(self) -> list[bytes]:
        return [e.data for e in SSEDecoder().feed(self.server.body) if e.data is not None]

    def content(self) -> str:
        """The text a streamed chat answer spelled."""
        text = ""
        for data in self.events():
            if data == b"[DONE]":
                continue
            chunk = orjson.loads(data)
            for choice in chunk.get("choices") or ():
                text += choice.get("delta", {}).get("content") or ""
        return text

    @property
    def answered_at(self) -> float | None:
        return self.server.messages[0][0] if self.server.messages else None


@attrs.define
class Pool:
    app: GatewayApp
    mocks: Mapping[str, MockUpstream]
    usage: MemoryUsageSink
    nursery: trio.Nursery

    async def request(
        self,
        doc: dict[str, Any] | None,
        *,
        path: str = "/v1/chat/completions",
        method: str = "POST",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> Call:
        """Start one request; returns once every task is blocked (the answer may be out)."""
        server = FakeServer.new()
        body = b"" if doc is None else orjson.dumps(doc)
        await server.inbox.send({"type": "http.request", "body": body, "more_body": False})
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
            "client": ("127.0.0.1", 5555),
        }
        call = Call(server, trio.CancelScope())

        async def run() -> None:
            with call.scope:
                await self.app(scope, server.receive, server.send)  # type: ignore[arg-type]
            call.done_at = trio.current_time()
            call.done.set()

        self.nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        return call

    async def finished(self, call: Call) -> Call:
        await call.done.wait()
        await trio.testing.wait_all_tasks_blocked()
        return call

    def records(self) -> list[UsageRecord]:
        return list(self.usage.records)

    def chat_requests(self, name: str) -> list[float]:
        """When deployment ``name`` received each model request."""
        return [
            r.received_at
            for r in self.mocks[name].requests
            if r.method == "POST" or not r.path.endswith("/models")
        ]


@asynccontextmanager
async def open_pool(
    tmp_path: Path,
    yaml: str,
    mocks: Mapping[str, MockUpstream],
    env: dict[str, str] | None = None,
    *,
    connect_delays: Mapping[str, float] | None = None,
) -> AsyncIterator[Pool]:
    """The gateway configured by ``yaml``; deployment (or provider) ``name`` talks to
    ``mocks[name]`` in memory, connecting in ``connect_delays[name]`` seconds (default 0)."""
    delays = connect_delays or {}
    path = tmp_path / "gomodel.yaml"
    path.write_text(yaml, encoding="utf-8")
    usage = MemoryUsageSink()
    config = load_config({**EXACT, **(env or {})}, cwd=tmp_path, config_path=str(path))
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda p: memory_transport(
                mocks[p.name], nursery, connect_delay=delays.get(p.name, 0.0)
            ),
            usage=usage,
        )
        with trio.fail_after(10_000):
            async with app.serving() as runtime:
                await runtime.initial_load.wait()
                yield Pool(app, mocks, usage, nursery)
                nursery.cancel_scope.cancel()
