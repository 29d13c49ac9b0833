"""End to end: hypercorn on port 0, two mock deployments on port 0, the official openai SDK.

A virtual model over two deployments whose first fails before any content (503, reset, stall,
cut) gives the client a normal completion from the second, streamed and not; a cut after
content gives the explicit error event; the usage rows match the attempts one to one; and a
virtual model whose target keeps the client's model id keeps the fast path's bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import httpx
import openai
import pytest
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.providers.transport import UpstreamTransport
from gomodel.serve import serve_gateway
from gomodel.termination import Termination
from gomodel.testing import Fault, MockUpstream, Reply, faults, serve_mock_upstream
from gomodel.usage.record import MemoryUsageSink
from tests.app.gateway import MASTER_KEY, Gateway
from tests.conftest import FIXTURES

HI = [{"role": "user", "content": "hi"}]
ANSWER = "Mock response to: hi"
CONFIG = """
providers:
  pool:
    type: openai
    strategy: priority
    deployments:
      - {{name: a, api_key: ka, base_url: "{a}"}}
      - {{name: b, api_key: kb, base_url: "{b}"}}
virtual_models:
  - source: smart
    strategy: priority
    targets: [pool.a/gpt-4o, pool.b/gpt-4o]
  - source: gpt-4o-mini
    target: pool/gpt-4o-mini
"""


@attrs.frozen
class Two:
    gateway: Gateway
    a: MockUpstream
    b: MockUpstream
    app: GatewayApp

    def busy(self, deployment: str) -> int:
        """Upstream connections of ``deployment`` in use (not idle in the pool)."""
        assert self.app.runtime is not None
        transport = self.app.runtime.providers[deployment].transport
        assert isinstance(transport, UpstreamTransport)
        return transport.busy_connections

    def ask(self, stream: bool, model: str = "smart") -> tuple[str, dict[str, str]]:
        """The SDK's answer text and the response headers (run in a worker thread)."""
        with openai.OpenAI(
            base_url=self.gateway.url, api_key=MASTER_KEY, max_retries=0, timeout=20
        ) as sdk:
            if not stream:
                raw = sdk.chat.completions.with_raw_response.create(model=model, messages=HI)  # type: ignore[arg-type]
                return raw.parse().choices[0].message.content or "", dict(raw.headers)
            text = ""
            with sdk.chat.completions.with_streaming_response.create(
                model=model,
                messages=HI,  # type: ignore[arg-type]
                stream=True,
            ) as response:
                for chunk in response.parse():
                    if chunk.choices:
                        text += chunk.choices[0].delta.content or ""
                return text, dict(response.headers)


async def start_two(
    nursery: trio.Nursery, tmp_path: Path, env: dict[str, str] | None = None
) -> Two:
    a = MockUpstream(models=("gpt-4o", "gpt-4o-mini"), require_key="ka", stream_gap=0.01)
    b = MockUpstream(models=("gpt-4o", "gpt-4o-mini"), require_key="kb", stream_gap=0.01)
    a_url = await nursery.start(serve_mock_upstream, a)
    b_url = await nursery.start(serve_mock_upstream, b)
    path = tmp_path / "gomodel.yaml"
    path.write_text(CONFIG.format(a=a_url, b=b_url), encoding="utf-8")
    config = load_config(
        {"GOMODEL_MASTER_KEY": MASTER_KEY, "HTTP_RESPONSE_HEADER_TIMEOUT": "0.5", **(env or {})},
        cwd=tmp_path,
        config_path=str(path),
    )
    usage = MemoryUsageSink()
    app = GatewayApp(config, usage=usage)
    url = await nursery.start(serve_gateway, app)
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    return Two(Gateway(url + "/v1", a, usage, app), a, b, app)


def chat_posts(mock: MockUpstream) -> int:
    return sum(1 for r in mock.requests if r.method == "POST")


BEFORE_CONTENT = [
    pytest.param(faults.status(503), Termination.UPSTREAM_ERROR, id="503"),
    pytest.param(faults.cut_after(0, how="reset"), Termination.UPSTREAM_ERROR, id="reset"),
    pytest.param(faults.stall_after(0), Termination.HEADER_TIMEOUT, id="stall"),
    pytest.param(faults.cut_after(1), Termination.UPSTREAM_ERROR, id="cut-before-content"),
]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "unary"])
@pytest.mark.parametrize(("fault", "termination"), BEFORE_CONTENT)
async def test_first_deployment_fails_before_content_the_second_answers(
    nursery: trio.Nursery,
    tmp_path: Path,
    fault: Fault,
    termination: Termination,
    stream: bool,
) -> None:
    two = await start_two(nursery, tmp_path)
    if fault.name == "stall after 0" and not stream:
        # A non-streamed body has no idle deadline once its head is in (HTTP_TIMEOUT bounds
        # it); a provider that stalls before its head is the case a retry can save.
        fault = faults.delay_head(60)
    two.a.fail(fault, path="/chat/completions")
    text, headers = await trio.to_thread.run_sync(two.ask, stream)
    assert text == ANSWER
    assert headers["x-gomodel-attempts"] == "2"
    assert headers["x-gomodel-route"].endswith("target=pool.b/gpt-4o; pick=failover")
    records = await two.gateway.records(2)
    assert [(r.provider, r.termination, r.stream) for r in records] == [
        ("pool.a", termination, stream),
        ("pool.b", Termination.COMPLETED, stream),
    ]
    assert records[1].complete and records[1].usage is not None
    assert (chat_posts(two.a), chat_posts(two.b)) == (1, 1)
    assert two.busy("pool.a") == two.busy("pool.b") == 0  # nothing half-open left behind


async def test_cut_after_content_is_the_explicit_error_event(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Content reached the SDK: the failure is one error event it raises, never a retry."""
    two = await start_two(nursery, tmp_path)
    two.a.fail(faults.cut_after(3), path="/chat/completions")  # role, "Mock ", "respo"
    seen: list[str] = []

    def consume() -> None:
        with openai.OpenAI(base_url=two.gateway.url, api_key=MASTER_KEY, max_retries=0) as sdk:
            for chunk in sdk.chat.completions.create(model="smart", messages=HI, stream=True):  # type: ignore[arg-type]
                seen.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError) as info:
        await trio.to_thread.run_sync(consume)
    assert "".join(seen) == "Mock respo"
    assert "broke off the stream" in str(info.value)
    [record] = await two.gateway.records(1)
    assert (record.provider, record.termination) == ("pool.a", Termination.UPSTREAM_EOF)
    assert chat_posts(two.b) == 0


async def test_virtual_model_keeping_the_model_id_relays_byte_for_byte(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """gpt-4o-mini is a virtual model over the pool's deployments, asking for gpt-4o-mini:
    the deployment gets the SDK's bytes and the client the deployment's, as on the fast
    path; the route header says so and names the deployment."""
    two = await start_two(nursery, tmp_path)
    recorded = (FIXTURES / "openai" / "chat_completion.json").read_bytes()
    two.a.script(Reply(body=(recorded,), chunked=False), path="/chat/completions")
    sent: list[bytes] = []

    def ask() -> httpx.Response:
        hooks: dict[str, list[Any]] = {"request": [lambda r: sent.append(r.read())]}
        with (
            httpx.Client(event_hooks=hooks) as http,
            openai.OpenAI(
                base_url=two.gateway.url, api_key=MASTER_KEY, max_retries=0, http_client=http
            ) as sdk,
        ):
            raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)  # type: ignore[arg-type]
            return raw.http_response

    response = await trio.to_thread.run_sync(ask)
    assert response.headers["x-gomodel-route"] == (
        "passthrough; target=pool.a/gpt-4o-mini; pick=priority"
    )
    [upstream] = [r for r in two.a.requests if r.method == "POST"]
    assert upstream.body == sent[0]
    assert response.content == recorded


async def test_status_route_needs_the_master_key(nursery: trio.Nursery, tmp_path: Path) -> None:
    two = await start_two(nursery, tmp_path)
    async with httpx.AsyncClient(base_url=two.gateway.url.removesuffix("/v1")) as client:
        denied = await client.get("/admin/api/v1/providers/status")
        allowed = await client.get(
            "/admin/api/v1/providers/status", headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
    assert denied.status_code == 401
    assert allowed.status_code == 200
    assert [p["name"] for p in allowed.json()["providers"]] == ["pool.a", "pool.b"]
    assert allowed.json()["summary"]["overall_status"] == "healthy"


async def test_a_keys_allow_list_rules_each_target(nursery: trio.Nursery, tmp_path: Path) -> None:
    """A managed key's allow-list is checked target by target: a deployment passes as its
    provider (pool/gpt-4o) or by its own name; targets the key may not use are left out, and
    with none left the client gets the 403."""
    two = await start_two(nursery, tmp_path, {"SQLITE_PATH": str(tmp_path / "keys.db")})
    base = two.gateway.url.removesuffix("/v1")
    master = {"authorization": f"Bearer {MASTER_KEY}"}
    async with httpx.AsyncClient(base_url=base, headers=master) as admin:
        keys = [
            (
                await admin.post("/admin/api/v1/auth-keys", json={"name": n, "allowed_models": a})
            ).json()["value"]
            for n, a in (("all", ["pool/gpt-4o"]), ("b", ["pool.b/gpt-4o"]), ("x", ["anthropic/*"]))
        ]
    answers = []
    async with httpx.AsyncClient(base_url=two.gateway.url) as client:
        for key in keys:
            answers.append(
                await client.post(
                    "/chat/completions",
                    json={"model": "smart", "messages": HI},
                    headers={"authorization": f"Bearer {key}"},
                )
            )
    every, only_b, none = answers
    assert every.status_code == 200
    assert every.headers["x-gomodel-route"].endswith("target=pool.a/gpt-4o; pick=priority")
    assert only_b.status_code == 200
    assert only_b.headers["x-gomodel-route"].endswith("target=pool.b/gpt-4o; pick=failover")
    assert only_b.headers["x-gomodel-attempts"] == "1"
    assert none.status_code == 403 and none.json()["error"]["code"] == "model_not_allowed"
