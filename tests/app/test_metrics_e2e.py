"""``/metrics`` in one process: what a known mix of requests leaves in the series, and who may
read them. (The two-worker scrape is in tests/test_metrics_workers.py.)"""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
import trio

from gomodel.testing import MockUpstream, Reply
from tests.app.gateway import MASTER_KEY, Gateway, start_gateway
from tests.observe.scrape import Samples, label_sets, parse, total

HI = [{"role": "user", "content": "hi"}]
TOKEN = "scrape-token-0123456789"


async def _metrics_gateway(
    nursery: trio.Nursery, tmp_path: Path, **env: str
) -> tuple[Gateway, str]:
    gw = await start_gateway(
        nursery, tmp_path, {"METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN, **env}
    )
    return gw, gw.url.removesuffix("/v1")


async def _scrape(base: str, token: str = TOKEN, path: str = "/metrics") -> Samples:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(base + path, headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_request_mix_counted_with_labels(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A passthrough chat, a stream, an upstream error and a client that leaves mid-stream
    each show in requests, terminations, errors, durations, tokens and cost (one attempt each:
    retries off)."""
    gw, base = await _metrics_gateway(nursery, tmp_path, RETRY_MAX_RETRIES="0")
    async with gw.sdk() as sdk:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
        gw.mock.script(
            Reply.json({"error": {"message": "down", "type": "server_error"}}, status=503),
            path="/chat/completions",
        )
        with pytest.raises(openai.APIStatusError):
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
    await gw.in_thread(
        lambda sdk: list(
            sdk.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)  # type: ignore[arg-type]
        )
    )
    gw.mock.stream_gap = 0.05
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 500}], "stream": True}
    async with gw.http() as client, client.stream("POST", "/chat/completions", json=body) as r:
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                break
    await gw.records(4)

    s = await _scrape(base)
    chat = {"route": "/v1/chat/completions", "provider": "openai"}
    assert total(s, "gomodel_requests_total", **chat) == 4
    assert total(s, "gomodel_requests_total", **chat, status="200", stream="false") == 1
    assert total(s, "gomodel_requests_total", **chat, status="503", route_kind="passthrough") == 1
    # The stream whose client did not ask for usage had it injected: that is a rewrite.
    rewrites = total(
        s, "gomodel_requests_total", **chat, route_kind="rewrite", route_reasons="usage_injected"
    )
    assert rewrites == 2
    # The client left after its stream had started: the status it got was 200.
    assert total(s, "gomodel_requests_total", **chat, status="200", model="gpt-4o") == 1
    assert total(s, "gomodel_terminations_total", termination="completed") == 2
    assert total(s, "gomodel_terminations_total", termination="upstream_error") == 1
    assert total(s, "gomodel_terminations_total", termination="client_disconnect") == 1
    assert total(s, "gomodel_upstream_errors_total", provider="openai", status="503") == 1
    assert total(s, "gomodel_requests_in_flight") == 0
    assert total(s, "gomodel_request_duration_seconds_count", **chat) == 4
    assert total(s, "gomodel_time_to_first_byte_seconds_count", **chat) >= 3
    overhead = total(s, "gomodel_gateway_overhead_seconds_sum")
    assert 0 < overhead < total(s, "gomodel_request_duration_seconds_sum")
    # Usage: 10 in / 20 out per completed mock answer, priced from the shipped table.
    assert total(s, "gomodel_tokens_total", key="none", direction="input") == 20
    assert total(s, "gomodel_tokens_total", model="gpt-4o-mini", direction="output") == 40
    assert total(s, "gomodel_cost_usd_total", provider="openai", model="gpt-4o-mini") > 0
    kinds = {ls["route_kind"] for ls in label_sets(s, "gomodel_requests_total")}
    assert kinds == {"passthrough", "rewrite"}
    pool = {(ls["provider"], ls["state"]) for ls in label_sets(s, "gomodel_upstream_connections")}
    assert pool == {("openai", "busy"), ("openai", "idle")}
    assert total(s, "gomodel_upstream_connections", state="busy") == 0


async def test_translated_route_labelled(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A Responses request to a chat-only provider is counted as translate; dialect."""
    mock = MockUpstream(models=("llama-3",))
    gw = await start_gateway(
        nursery,
        tmp_path,
        {"METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN},
        mock=mock,
        provider=lambda url: {"VLLM_BASE_URL": url},
    )
    async with gw.sdk() as sdk:
        await sdk.responses.create(model="llama-3", input="hi")
    await gw.records(1)
    s = await _scrape(gw.url.removesuffix("/v1"))
    translated = total(
        s,
        "gomodel_requests_total",
        route="/v1/responses",
        provider="vllm",
        route_kind="translate",
        route_reasons="dialect",
    )
    assert translated == 1


async def test_metrics_need_a_token(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The metrics token and the master key may read; nothing else may, and a managed-key
    style bearer is refused."""
    _, base = await _metrics_gateway(nursery, tmp_path, METRICS_ENDPOINT="/internal/metrics")
    await _scrape(base, TOKEN, "/internal/metrics")
    await _scrape(base, MASTER_KEY, "/internal/metrics")
    async with httpx.AsyncClient(base_url=base) as client:
        bare = await client.get("/internal/metrics")
        wrong = await client.get("/internal/metrics", headers={"authorization": "Bearer sk_gom_x"})
        default = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert bare.status_code == 401
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_metrics_token"
    assert default.status_code == 404  # only the configured path serves them


async def test_metrics_off_by_default(gw: Gateway) -> None:
    async with gw.http() as client:
        response = await client.get(gw.url.removesuffix("/v1") + "/metrics")
    assert response.status_code == 404
