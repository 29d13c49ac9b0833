"""/v1/embeddings: OpenAI-compatible providers verbatim, Ollama translated, others refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import trio

from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from tests.app.gateway import Gateway, start_gateway

VECTORS = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await start_gateway(nursery, tmp_path, {"OPENAI_MODELS": "text-embedding-3-small"})


async def test_embeddings_through_sdk(gw: Gateway) -> None:
    """The SDK's embeddings.create works; body and answer travel verbatim; usage recorded."""
    gw.mock.script(Reply.json(VECTORS), path="/embeddings")
    async with gw.sdk() as sdk:
        raw = await sdk.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input="hello", encoding_format="float"
        )
    result = raw.parse()
    assert result.data[0].embedding == [0.1, -0.2]
    assert raw.headers["x-gomodel-route"] == "passthrough"
    sent = gw.mock.requests[-1]
    assert sent.path.endswith("/embeddings")
    assert sent.json == {
        "model": "text-embedding-3-small",
        "input": "hello",
        "encoding_format": "float",
    }
    [record] = await gw.records(1)
    assert record.endpoint == "/v1/embeddings"
    assert record.usage is not None and record.usage.input_tokens == 8


async def test_qualified_selector_rewritten(gw: Gateway) -> None:
    """openai/<model> goes upstream as <model>; the route says rewrite."""
    gw.mock.script(Reply.json(VECTORS), path="/embeddings")
    async with gw.http() as client:
        response = await client.post(
            "/embeddings", json={"model": "openai/text-embedding-3-small", "input": ["a", "b"]}
        )
    assert response.status_code == 200
    assert response.headers["x-gomodel-route"] == "rewrite; qualified_selector"
    assert gw.mock.requests[-1].json == {"model": "text-embedding-3-small", "input": ["a", "b"]}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "text-embedding-3-small"}, "input"),
        ({"model": "text-embedding-3-small", "input": []}, "input"),
        ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
async def test_bad_bodies(gw: Gateway, body: dict[str, object], param: str) -> None:
    """Bad embedding bodies are a 400 naming the field, with no upstream call."""
    async with gw.http() as client:
        response = await client.post("/embeddings", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not [r for r in gw.mock.requests if r.path.endswith("/embeddings")]


async def test_ollama_native_embed(nursery: trio.Nursery, tmp_path: Path) -> None:
    """Ollama is asked at /api/embed and answered in the OpenAI shape with usage."""
    mock = MockUpstream(models=("nomic-embed-text",))
    upstream = await nursery.start(serve_mock_upstream, mock)
    mock.script(
        Reply.json(
            {
                "model": "nomic-embed-text",
                "embeddings": [[1.0, 2.0], [3.0, 4.0]],
                "prompt_eval_count": 6,
            }
        ),
        path="/api/embed",
    )
    # An empty OPENAI_API_KEY drops the OpenAI provider: Ollama serves alone.
    gw = await start_gateway(nursery, tmp_path, {"OPENAI_API_KEY": "", "OLLAMA_BASE_URL": upstream})
    async with gw.http() as client:
        response = await client.post(
            "/embeddings", json={"model": "nomic-embed-text", "input": ["a", "b"]}
        )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [1.0, 2.0]},
            {"object": "embedding", "index": 1, "embedding": [3.0, 4.0]},
        ],
        "model": "nomic-embed-text",
        "usage": {"prompt_tokens": 6, "total_tokens": 6},
    }
    sent = mock.requests[-1]
    assert sent.path == "/api/embed"
    assert orjson.loads(sent.body) == {"model": "nomic-embed-text", "input": ["a", "b"]}
    assert response.headers["x-gomodel-route"] == "translate; dialect"
