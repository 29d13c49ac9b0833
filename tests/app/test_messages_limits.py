"""Rate limits and budgets on ``/v1/messages``: the admission stage runs for this surface as for
chat, its refusals come out in Anthropic's envelope, and a budget's lower output cap reaches
the provider on both routes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream
from tests.app.gateway import MASTER_KEY, Gateway, start_gateway

KEY = "sk-ant-secret"
CLAUDE = "claude-sonnet-4-20250514"
GPT = "gpt-4o-mini"
HI: list[Any] = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}


async def _gateway(nursery: trio.Nursery, tmp_path: Path, anthropic_side: bool) -> Gateway:
    env = {"SQLITE_PATH": str(tmp_path / "gw.db")}
    if not anthropic_side:
        return await start_gateway(nursery, tmp_path, env)
    return await start_gateway(
        nursery,
        tmp_path,
        env,
        mock=MockUpstream(models=(CLAUDE,), require_key=KEY, dialect="anthropic"),
        provider=lambda url: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url},
    )


def _admin(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url.removesuffix("/v1"), headers=ADMIN, timeout=10)


def _provider_calls(gw: Gateway) -> list[Any]:
    return [r for r in gw.mock.requests if r.path.endswith(("/messages", "/chat/completions"))]


async def test_rate_limit_refusal_is_anthropic_shaped(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """rpm=2 on a key: the third call is Anthropic's 429 rate_limit_error, which the SDK
    raises as RateLimitError with Retry-After, and it never reaches the provider."""
    gw = await _gateway(nursery, tmp_path, anthropic_side=True)
    async with _admin(gw) as admin:
        created = await admin.post("/admin/api/v1/auth-keys", json={"name": "cc"})
        key = created.json()
        put = await admin.put(f"/admin/rate-limits/key:{key['id']}", json={"rpm": 2})
        assert put.status_code == 200, put.text

    def run() -> tuple[list[str], anthropic.RateLimitError]:
        base = gw.url.removesuffix("/v1")
        with anthropic.Anthropic(base_url=base, api_key=key["value"], max_retries=0) as client:
            texts = [
                client.messages.create(model=CLAUDE, max_tokens=9, messages=HI).content[0].text  # type: ignore[union-attr]
                for _ in range(2)
            ]
            with pytest.raises(anthropic.RateLimitError) as refused:
                client.messages.create(model=CLAUDE, max_tokens=9, messages=HI)
            return texts, refused.value

    texts, refused = await trio.to_thread.run_sync(run)
    assert texts == ["Mock response to: hi"] * 2
    assert refused.body["type"] == "error"  # type: ignore[index]
    assert refused.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert "2 requests per minute" in refused.message
    assert 1 <= int(refused.response.headers["retry-after"]) <= 60
    assert len(_provider_calls(gw)) == 2


@pytest.mark.parametrize("anthropic_side", [True, False], ids=["anthropic", "openai"])
async def test_budget_lowers_max_tokens_on_both_routes(
    nursery: trio.Nursery, tmp_path: Path, anthropic_side: bool
) -> None:
    """A budget that cannot cover max_tokens lowers it in the body that reaches the provider
    (the fast path becomes a rewrite; the translation carries the cap into chat)."""
    gw = await _gateway(nursery, tmp_path, anthropic_side)
    async with _admin(gw) as admin:
        put = await admin.put("/admin/budgets/team-a/daily", json={"amount": 0.01})
        assert put.status_code == 200, put.text
    model = CLAUDE if anthropic_side else GPT
    body = {"model": model, "max_tokens": 100_000, "messages": HI}
    async with _admin(gw) as client:
        response = await client.post(
            "/v1/messages", json=body, headers={"x-gomodel-user-path": "/team-a/cc"}
        )
    assert response.status_code == 200, response.text
    route = "rewrite; output_capped" if anthropic_side else "translate; dialect, output_capped"
    assert response.headers["x-gomodel-route"] == route
    sent = orjson.loads(_provider_calls(gw)[-1].body)
    assert 0 < sent["max_tokens"] < 100_000
    assert response.json()["content"][0]["text"] == "Mock response to: hi"
