"""Managed keys on the request path, end to end: how clients present them, what they may do,
what their usage rows say, and how fast a deactivation reaches every replica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import trio

from gomodel.testing import MockUpstream
from tests.app.gateway import MASTER_KEY, Gateway, start_gateway
from tests.storage.pg import pg_schema

HI = [{"role": "user", "content": "hi"}]


async def _key(gw: Gateway, **body: Any) -> dict[str, Any]:
    """A new managed key, made through the admin API with the master key."""
    async with httpx.AsyncClient(
        base_url=gw.url.removesuffix("/v1"), headers={"authorization": f"Bearer {MASTER_KEY}"}
    ) as admin:
        response = await admin.post("/admin/api/v1/auth-keys", json={"name": "team", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await start_gateway(nursery, tmp_path, {"SQLITE_PATH": str(tmp_path / "gw.db")})


async def test_sdk_with_a_managed_key(gw: Gateway) -> None:
    """The official SDK works with a managed key as its API key; the usage record carries the
    key's id and its user path (which wins over the request's X-GoModel-User-Path)."""
    key = await _key(gw, user_path="/team-a/bots")
    async with openai.AsyncOpenAI(base_url=gw.url, api_key=key["value"], max_retries=0) as sdk:
        answer = await sdk.chat.completions.create(
            model="gpt-4o", messages=HI, extra_headers={"x-gomodel-user-path": "/elsewhere"}
        )
    assert answer.choices[0].message.content == "Mock response to: hi"
    [record] = await gw.records(1)
    assert (record.key_id, record.user_path) == (key["id"], "/team-a/bots")


async def test_x_api_key_header_as_the_anthropic_sdk_sends_it(gw: Gateway) -> None:
    """``x-api-key: <key>`` is accepted like ``Authorization: Bearer <key>``."""
    key = await _key(gw)
    async with httpx.AsyncClient(base_url=gw.url) as client:
        ok = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"x-api-key": key["value"]},
        )
        wrong = await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": HI},
            headers={"x-api-key": key["value"] + "x"},
        )
    assert ok.status_code == 200
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "key_unknown"
    [record] = await gw.records(1)  # the refused request reached no provider: no row
    assert record.key_id == key["id"]


async def test_model_allow_list(gw: Gateway) -> None:
    """A key with an allow-list reaches its models only: a 403 that names the model, before
    any upstream call; passthrough calls must name an allowed model too."""
    key = await _key(gw, allowed_models=["openai/gpt-4o-mini"])
    headers = {"authorization": f"Bearer {key['value']}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as client:
        allowed = await client.post(
            "/chat/completions", json={"model": "gpt-4o-mini", "messages": HI}
        )
        refused = await client.post("/chat/completions", json={"model": "gpt-4o", "messages": HI})
        qualified = await client.post(
            "/chat/completions", json={"model": "openai/gpt-4o", "messages": HI}
        )
        base = gw.url.removesuffix("/v1")
        passthrough = await client.get(f"{base}/p/openai/models")
        passthrough_model = await client.post(
            f"{base}/p/openai/chat/completions", json={"model": "gpt-4o", "messages": HI}
        )
    assert allowed.status_code == 200
    for response in (refused, qualified, passthrough, passthrough_model):
        assert response.status_code == 403, response.text
        error = response.json()["error"]
        assert (error["type"], error["code"]) == ("permission_error", "model_not_allowed")
    assert "gpt-4o" in refused.json()["error"]["message"]
    chats = [r for r in gw.mock.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 1


async def test_only_the_master_key_reaches_admin(gw: Gateway) -> None:
    """A managed key, however valid, is refused on /admin/*."""
    key = await _key(gw)
    async with httpx.AsyncClient(
        base_url=gw.url.removesuffix("/v1"), headers={"authorization": f"Bearer {key['value']}"}
    ) as client:
        listing = await client.get("/admin/api/v1/auth-keys")
        usage = await client.get("/admin/api/v1/usage/summary")
    assert (listing.status_code, usage.status_code) == (401, 401)


async def test_deactivation_reaches_every_replica_within_two_seconds(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Three replicas share one PostgreSQL; a key deactivated through one is refused by all
    of them within 2 s (each polls a change marker every second; measured here from the
    deactivation's answer, plus the scheduling slack of a loaded machine)."""
    mock = MockUpstream(models=("gpt-4o",))
    with pg_schema() as url:
        env = {"STORAGE_TYPE": "postgresql", "POSTGRES_URL": url}
        replicas = [
            await start_gateway(nursery, tmp_path / str(i), env, mock=mock) for i in range(3)
        ]
        key = await _key(replicas[0])
        headers = {"authorization": f"Bearer {key['value']}"}
        body = {"model": "gpt-4o", "messages": HI}

        async def status(gw: Gateway) -> int:
            async with httpx.AsyncClient(base_url=gw.url, headers=headers) as client:
                return (await client.post("/chat/completions", json=body)).status_code

        # A new key may take up to one poll to reach the others; then all serve it.
        with trio.fail_after(5):
            while [await status(gw) for gw in replicas] != [200, 200, 200]:  # noqa: ASYNC110
                await trio.sleep(0.05)
        async with httpx.AsyncClient(
            base_url=replicas[1].url.removesuffix("/v1"),
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        ) as admin:
            done = await admin.post(f"/admin/api/v1/auth-keys/{key['id']}/deactivate")
        assert done.status_code == 204
        deactivated = trio.current_time()
        refused_after = []
        for gw in replicas:
            while (code := await status(gw)) == 200:  # noqa: ASYNC110
                await trio.sleep(0.02)
            assert code == 401
            refused_after.append(trio.current_time() - deactivated)
    assert max(refused_after) <= 2.0 + 0.5, refused_after
