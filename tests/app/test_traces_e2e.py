"""Traces with the SDK's in-memory exporter: a server span per request, a client span per
upstream attempt under it, GenAI attribute names, and the client's traceparent honoured."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
import trio
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from gomodel.usage.record import MemoryUsageSink

HI = [{"role": "user", "content": "hi"}]
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def _traced(
    nursery: trio.Nursery, tmp_path: Path, **env: str
) -> tuple[str, MockUpstream, InMemorySpanExporter]:
    mock = MockUpstream(models=("gpt-4o-mini",))
    upstream = await nursery.start(serve_mock_upstream, mock)
    config = load_config(
        {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": upstream, "OTEL_ENABLED": "true", **env},
        cwd=tmp_path,
    )
    exporter = InMemorySpanExporter()
    app = GatewayApp(config, usage=MemoryUsageSink(), span_processor=SimpleSpanProcessor(exporter))
    url = await nursery.start(serve_gateway, app)
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    return url, mock, exporter


async def _finished(exporter: InMemorySpanExporter, count: int) -> list:  # type: ignore[type-arg]
    with trio.fail_after(5):
        while len(exporter.get_finished_spans()) < count:  # noqa: ASYNC110 (the exporter's list)
            await trio.sleep(0.01)
    return list(exporter.get_finished_spans())


async def test_request_and_attempt_spans(nursery: trio.Nursery, tmp_path: Path) -> None:
    url, mock, exporter = await _traced(nursery, tmp_path, RETRY_MAX_RETRIES="0")
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as sdk:
        await sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            extra_headers={"traceparent": PARENT},  # type: ignore[arg-type]
        )
        mock.script(
            Reply.json({"error": {"message": "down"}}, status=503), path="/chat/completions"
        )
        with pytest.raises(openai.APIStatusError):
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
    spans = await _finished(exporter, 4)
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert len(servers) == 2 and len(clients) == 2
    for server, client in zip(servers, clients, strict=True):
        assert client.parent is not None and client.parent.span_id == server.context.span_id
        assert client.context.trace_id == server.context.trace_id
        assert server.start_time <= client.start_time and client.end_time <= server.end_time
    ok_server, ok_client = servers[0], clients[0]
    assert ok_server.name == "POST /v1/chat/completions"
    assert ok_server.context.trace_id == int(PARENT.split("-")[1], 16)  # the client's trace
    assert ok_server.parent is not None and ok_server.parent.span_id == int(
        PARENT.split("-")[2], 16
    )
    assert ok_client.name == "chat gpt-4o-mini"
    attributes = dict(ok_client.attributes or {})
    assert attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.output_tokens"] == 20
    assert attributes["http.response.status_code"] == 200
    assert str(attributes["gen_ai.response.id"]).startswith("chatcmpl-mock-")
    failed = clients[1]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes or {})["http.response.status_code"] == 503
    assert servers[1].status.status_code is StatusCode.ERROR
    assert dict(servers[1].attributes or {})["gomodel.request_id"]


async def test_no_tracing_when_off(nursery: trio.Nursery, tmp_path: Path) -> None:
    url, _, exporter = await _traced(nursery, tmp_path, OTEL_ENABLED="false")
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as sdk:
        await sdk.chat.completions.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
    await trio.sleep(0.05)
    assert exporter.get_finished_spans() == ()
