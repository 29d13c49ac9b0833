"""The gateway under test: hypercorn on port 0 in front of the mock provider on port 0."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import attrs
import httpx
import openai
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, serve_mock_upstream
from gomodel.usage.record import MemoryUsageSink, UsageRecord

UPSTREAM_KEY = "sk-upstream-secret"
MASTER_KEY = "gw-master-key"
# Retries off: an upstream error is the client's answer after one attempt.
ONE_ATTEMPT = {"RETRY_MAX_RETRIES": "0"}
T = TypeVar("T")


@attrs.frozen
class Gateway:
    url: str  # base URL including /v1
    mock: MockUpstream
    usage: MemoryUsageSink
    app: GatewayApp

    def sdk(self, **kwargs: object) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.url,
            api_key=MASTER_KEY,
            max_retries=0,
            **kwargs,  # type: ignore[arg-type]
        )

    async def records(self, count: int) -> list[UsageRecord]:
        """The usage records, once ``count`` have been written (the gateway writes a stream's
        record after the client has its last byte)."""
        with trio.fail_after(5):
            while len(self.usage.records) < count:  # noqa: ASYNC110 (the sink is a plain list)
                await trio.sleep(0.005)
        return list(self.usage.records)

    async def in_thread(self, fn: Callable[[openai.OpenAI], T]) -> T:
        """Run ``fn`` with the synchronous SDK in a worker thread. Streams use it: the async
        SDK leaves its event generator unexhausted after [DONE], which trio reports."""

        def run() -> T:
            with openai.OpenAI(base_url=self.url, api_key=MASTER_KEY, max_retries=0) as sdk:
                return fn(sdk)

        return await trio.to_thread.run_sync(run)

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=10
        )


def _openai(url: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_BASE_URL": url}


async def start_gateway(
    nursery: trio.Nursery,
    tmp_path: Path,
    env: dict[str, str] | None = None,
    *,
    mock: MockUpstream | None = None,
    provider: Callable[[str], dict[str, str]] = _openai,
) -> Gateway:
    """The gateway in front of one mock provider: by default an OpenAI one (key required);
    or ``mock``, configured by the variables ``provider(its base URL)`` returns."""
    if mock is None:
        mock = MockUpstream(models=("gpt-4o-mini", "gpt-4o"), require_key=UPSTREAM_KEY)
    upstream = await nursery.start(serve_mock_upstream, mock)
    config = load_config(
        {**provider(upstream), "GOMODEL_MASTER_KEY": MASTER_KEY, **(env or {})}, cwd=tmp_path
    )
    usage = MemoryUsageSink()
    app = GatewayApp(config, usage=usage)
    url = await nursery.start(serve_gateway, app)
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    return Gateway(url + "/v1", mock, usage, app)
