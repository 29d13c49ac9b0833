"""A fake hypercorn around the gateway's ASGI app, and the mock provider in memory.

The fake server behaves like hypercorn's trio worker: ``http.disconnect`` is delivered once,
``send()`` never raises and is shielded while the client does not read. The provider is the
mock behind the gateway's real transport on an in-memory network, so everything runs under
``MockClock`` with autojump and "closed at the same instant" is asserted in virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
import trio.testing

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.providers.transport import UpstreamTransport
from gomodel.testing import MockUpstream, Reply, memory_transport
from gomodel.usage.record import MemoryUsageSink, UsageRecord
from gomodel.wire.sse import SSEDecoder
from tests.conftest import VIRTUAL_TIME_ENV


@attrs.define
class FakeServer:
    """One request as hypercorn's trio worker presents it to the app."""

    inbox: trio.MemorySendChannel[dict[str, Any]]
    receive_channel: trio.MemoryReceiveChannel[dict[str, Any]]
    messages: list[tuple[float, dict[str, Any]]] = attrs.field(factory=list)
    gone: bool = False
    stalled: bool = False
    slow: float = 0.0  # each body send takes this long (a client that reads, slowly)
    _released: trio.Event = attrs.field(factory=trio.Event)

    @classmethod
    def new(cls) -> FakeServer:
        send, receive = trio.open_memory_channel[dict[str, Any]](10)
        return cls(send, receive)

    async def receive(self) -> dict[str, Any]:
        return await self.receive_channel.receive()

    async def send(self, message: dict[str, Any]) -> None:
        if self.gone:
            return  # hypercorn: a no-op after the client left, never an exception
        if self.stalled and message["type"] == "http.response.body":
            # hypercorn shields send_all from cancellation; a kernel (or nginx's send_timeout)
            # eventually gives up on a dead peer, which the inner deadline stands for.
            with trio.CancelScope(shield=True), trio.move_on_after(5_000):
                await self._released.wait()
            return
        if self.slow and message["type"] == "http.response.body":
            with trio.CancelScope(shield=True):
                await trio.sleep(self.slow)
        self.messages.append((trio.current_time(), message))

    async def disconnect(self) -> None:
        self.gone = True
        self._released.set()
        await self.inbox.send({"type": "http.disconnect"})

    @property
    def status(self) -> int | None:
        for _, message in self.messages:
            if message["type"] == "http.response.start":
                return int(message["status"])
        return None

    @property
    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for _, m in self.messages if m["type"] == "http.response.body"
        )

    @property
    def finished(self) -> bool:
        return any(
            m["type"] == "http.response.body" and not m.get("more_body", False)
            for _, m in self.messages
        )


@attrs.define
class Harness:
    app: GatewayApp
    mock: MockUpstream
    usage: MemoryUsageSink
    nursery: trio.Nursery

    async def request(
        self, doc: dict[str, Any], *, more_body: bool = False, path: str = "/v1/chat/completions"
    ) -> tuple[FakeServer, trio.CancelScope]:
        """Start one request (to ``path``); returns its fake server and the scope the app runs
        in."""
        server = FakeServer.new()
        await server.inbox.send(
            {"type": "http.request", "body": orjson.dumps(doc), "more_body": more_body}
        )
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": [(b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5555),
        }
        cancel_scope = trio.CancelScope()

        async def run() -> None:
            with cancel_scope:
                await self.app(scope, server.receive, server.send)  # type: ignore[arg-type]

        self.nursery.start_soon(run)
        await trio.testing.wait_all_tasks_blocked()
        return server, cancel_scope

    async def record(self) -> UsageRecord:
        await trio.testing.wait_all_tasks_blocked()
        [record] = self.usage.records[-1:]
        return record


@asynccontextmanager
async def open_harness(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    models_reply: Reply | None = None,
    anthropic: bool = False,
    **transport: Any,
) -> AsyncIterator[Harness]:
    """The gateway with one provider, ``openai`` (model gpt-4o) or ``anthropic`` (model
    claude-sonnet-4), served by the mock in memory; the mock streams one chunk a second."""
    if anthropic:
        mock = MockUpstream(models=("claude-sonnet-4",), stream_gap=1.0, dialect="anthropic")
        provider_env = {"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://upstream.test/v1"}
    else:
        mock = MockUpstream(models=("gpt-4o",), stream_gap=1.0)
        provider_env = {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://upstream.test/v1"}
    if models_reply is not None:
        mock.script(models_reply, path="/models")
    usage = MemoryUsageSink()
    config = load_config({**provider_env, **VIRTUAL_TIME_ENV, **(env or {})}, cwd=tmp_path)
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery, **transport),
            usage=usage,
        )
        # A gateway that never closes the upstream would hang a test; in virtual time this
        # guard turns the hang into a failure.
        with trio.fail_after(10_000):
            async with app.serving() as runtime:
                await runtime.initial_load.wait()
                yield Harness(app, mock, usage, nursery)
                nursery.cancel_scope.cancel()


def chat_connections(mock: MockUpstream) -> list[Any]:
    """Connections that carried a chat request (the first one listed the models)."""
    ids = {
        r.connection_id
        for r in mock.requests
        if r.path.endswith(("/chat/completions", "/messages"))
    }
    return [c for c in mock.connections if c.id in ids]


def data_events(body: bytes) -> list[bytes]:
    return [e.data for e in SSEDecoder().feed(body) if e.data is not None]


def final_error(body: bytes) -> dict[str, Any]:
    events = data_events(body)
    assert b"[DONE]" not in events
    return dict(orjson.loads(events[-1])["error"])


def busy_connections(h: Harness, provider: str = "openai") -> int:
    """Upstream connections in the provider's pool that are not idle (active or connecting)."""
    assert h.app.runtime is not None
    transport = h.app.runtime.providers[provider].transport
    assert isinstance(transport, UpstreamTransport)
    return transport.busy_connections
