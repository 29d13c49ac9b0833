"""Client close -> provider socket close: how long the provider keeps generating for nobody.

In process, on loopback: hypercorn serving the gateway in front of ``gomodel.testing``'s mock
(which records when each of its connections closed); the client reads two events of a slow
stream, closes, and the time until the mock sees the gateway's upstream connection close is
one sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trio

from tests.bench.stats import percentile

__all__ = ["DisconnectResult", "measure_disconnects"]


@dataclass
class DisconnectResult:
    samples: int
    p50_ms: float
    p99_ms: float


async def _disconnect_latencies(count: int) -> list[float]:
    import httpx

    from gomodel.app.asgi import GatewayApp
    from gomodel.config import load_config
    from gomodel.serve import serve_gateway
    from gomodel.testing import MockUpstream, serve_mock_upstream
    from gomodel.usage.record import MemoryUsageSink

    mock = MockUpstream(models=("gpt-4o",), stream_gap=0.05)
    latencies = []
    async with trio.open_nursery() as nursery:
        upstream = await nursery.start(serve_mock_upstream, mock)
        config = load_config({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": upstream}, cwd="/")
        url = await nursery.start(serve_gateway, GatewayApp(config, usage=MemoryUsageSink()))
        body = {
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "x" * 500}],
            "stream": True,
        }
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for _ in range(count):
                async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                    seen = 0
                    async for line in response.aiter_lines():
                        seen += line.startswith("data: ")
                        if seen == 2:
                            break
                    conn = mock.requests[-1].connection_id
                left = trio.current_time()
                closed = await mock.wait_closed(conn)
                latencies.append(closed - left)
        nursery.cancel_scope.cancel()
    return latencies


def measure_disconnects(count: int) -> DisconnectResult:
    logging.getLogger("gomodel").setLevel(logging.ERROR)  # its start-up warnings are not news
    latencies = [s * 1000 for s in trio.run(_disconnect_latencies, count)]
    return DisconnectResult(len(latencies), percentile(latencies, 50), percentile(latencies, 99))
