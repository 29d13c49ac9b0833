"""Rate limits and budgets end to end, one replica (the in-memory limit store): what a client
gets when it is admitted, capped and refused, and what the admin API and /v1/usage say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream
from tests.app.gateway import MASTER_KEY, UPSTREAM_KEY, Gateway, start_gateway

HI = [{"role": "user", "content": "hi"}]
ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
# gpt-4o-mini's shipped rates, as the gateway reserves them: nano-dollars per token.
INPUT_NANO, OUTPUT_NANO = 150, 600


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    mock = MockUpstream(models=("gpt-4o-mini", "gpt-4o", "house-model"), require_key=UPSTREAM_KEY)
    env = {"SQLITE_PATH": str(tmp_path / "gw.db")}
    return await start_gateway(nursery, tmp_path, env, mock=mock)


def _admin(gw: Gateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url.removesuffix("/v1"), headers=ADMIN, timeout=10)


async def _key(gw: Gateway, **body: Any) -> tuple[str, str]:
    """A new managed key: its secret and its id."""
    async with _admin(gw) as admin:
        response = await admin.post("/admin/api/v1/auth-keys", json={"name": "t", **body})
    assert response.status_code == 201, response.text
    return str(response.json()["value"]), str(response.json()["id"])


async def _chat(gw: Gateway, token: str, **body: Any) -> httpx.Response:
    return await _chat_with(gw, token, {}, **body)


async def _chat_with(
    gw: Gateway, token: str, headers: dict[str, str], **body: Any
) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=gw.url, headers={"authorization": f"Bearer {token}", **headers}, timeout=10
    ) as client:
        return await client.post(
            "/chat/completions", json={"model": "gpt-4o-mini", "messages": HI, **body}
        )


def _upstream_chats(gw: Gateway) -> list[Any]:
    return [r for r in gw.mock.requests if r.path.endswith("/chat/completions")]


async def test_rate_limit_on_a_key(gw: Gateway) -> None:
    """rpm=3 on a key: three requests pass with OpenAI's headers counting down, the fourth is
    a 429 with Retry-After and never reaches the provider."""
    token, key_id = await _key(gw)
    async with _admin(gw) as admin:
        put = await admin.put(f"/admin/rate-limits/key:{key_id}", json={"rpm": 3})
    assert put.status_code == 200, put.text
    answers = [await _chat(gw, token) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["x-ratelimit-limit-requests"] == "3" for a in answers)
    refused = answers[3]
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert "3 requests per minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert len(_upstream_chats(gw)) == 3
    # Another key is not limited by it.
    other, _ = await _key(gw)
    assert (await _chat(gw, other)).status_code == 200


async def test_request_ids_of_any_shape_and_reused_ids_are_counted(gw: Gateway) -> None:
    """A client's X-Request-Id names its request, not its reservation: an id the limit store
    could not take (a colon, a slash) and one id on two streams open at once are admitted and
    counted like any other, never a 500."""
    gw.mock.stream_gap = 0.2
    token, key_id = await _key(gw)
    async with _admin(gw) as admin:
        put = await admin.put(f"/admin/rate-limits/key:{key_id}", json={"rpm": 3, "concurrent": 5})
    assert put.status_code == 200, put.text
    odd = await _chat_with(gw, token, {"x-request-id": "req:1/a"})
    assert odd.status_code == 200, odd.text
    assert odd.headers["x-request-id"] == "req:1/a"
    headers = {"authorization": f"Bearer {token}", "x-request-id": "same-id"}
    body = {"model": "gpt-4o-mini", "messages": HI, "stream": True}
    async with (
        httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=10) as client,
        client.stream("POST", "/chat/completions", json=body) as first,
        client.stream("POST", "/chat/completions", json=body) as second,
    ):
        assert (first.status_code, second.status_code) == (200, 200), await second.aread()
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert second.headers["x-ratelimit-remaining-requests"] == "0"
        await first.aread()
        await second.aread()
    refused = await _chat(gw, token)
    assert refused.status_code == 429


async def test_concurrency_limit(gw: Gateway) -> None:
    """concurrent=1 on a user path: a second request while one is in flight is refused; once
    the first has ended (and settled) the next passes."""
    gw.mock.stream_gap = 0.2
    async with _admin(gw) as admin:
        await admin.put("/admin/rate-limits/team-c", json={"concurrent": 1})
    headers = {"x-gomodel-user-path": "/team-c/x"}
    async with httpx.AsyncClient(base_url=gw.url, headers=ADMIN, timeout=10) as client:
        body = {"model": "gpt-4o-mini", "messages": HI, "stream": True}
        async with client.stream("POST", "/chat/completions", json=body, headers=headers) as first:
            assert first.status_code == 200
            second = await client.post("/chat/completions", json=body, headers=headers)
            assert second.status_code == 429
            assert "concurrent" in second.json()["error"]["message"]
            await first.aread()
        third = await client.post("/chat/completions", json=body, headers=headers)
    assert third.status_code == 200


async def test_budget_lowers_the_output_cap_then_refuses(gw: Gateway) -> None:
    """A budget that cannot cover the asked max_tokens lowers it (the provider stops within the
    budget); one that cannot cover even the lowest cap refuses with budget_exceeded."""
    async with _admin(gw) as admin:
        put = await admin.put("/admin/budgets/team-a/daily", json={"amount": 0.001})
        assert put.status_code == 200, put.text
    headers = {"x-gomodel-user-path": "/team-a/bots"}
    async with httpx.AsyncClient(base_url=gw.url, headers=ADMIN, timeout=10) as client:
        body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 10_000}
        capped = await client.post("/chat/completions", json=body, headers=headers)
    assert capped.status_code == 200
    assert capped.headers["x-gomodel-route"] == "rewrite; output_capped"
    sent = orjson.loads(_upstream_chats(gw)[-1].body)
    input_bound = len(orjson.dumps(body))
    affordable = (1_000_000 - input_bound * INPUT_NANO) // OUTPUT_NANO
    assert sent["max_tokens"] == affordable < 10_000

    async with _admin(gw) as admin:
        [budget] = (await admin.get("/admin/budgets")).json()["budgets"]
        # The mock reported 10 input and 20 output tokens: that is what was charged.
        assert budget["spent"] == pytest.approx((10 * 150 + 20 * 600) / 1e9)
        assert (budget["user_path"], budget["period"]) == ("/team-a", "day")
        await admin.put("/admin/budgets/team-a/daily", json={"amount": 0.0001})
    async with httpx.AsyncClient(base_url=gw.url, headers=ADMIN, timeout=10) as client:
        refused = await client.post("/chat/completions", json=body, headers=headers)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded"
    assert "daily budget of $0.0001 on user path /team-a" in error["message"]
    assert "resets at" in error["message"]
    assert len(_upstream_chats(gw)) == 1


async def test_budget_without_a_price_is_refused(gw: Gateway) -> None:
    """A model the price table does not know cannot be counted against a budget: 403, not a
    request that spends unseen."""
    async with _admin(gw) as admin:
        await admin.put("/admin/budgets/monthly", json={"amount": 100})
    async with httpx.AsyncClient(base_url=gw.url, headers=ADMIN, timeout=10) as client:
        unpriced = await client.post(
            "/chat/completions", json={"model": "house-model", "messages": HI}
        )
        passthrough = await client.post(
            gw.url.removesuffix("/v1") + "/p/openai/chat/completions",
            json={"model": "gpt-4o-mini", "messages": HI},
        )
    assert unpriced.status_code == 403
    assert unpriced.json()["error"]["code"] == "budget_unpriced_model"
    assert passthrough.status_code == 403
    assert passthrough.json()["error"]["code"] == "budget_needs_max_tokens"
    assert not _upstream_chats(gw)


async def test_own_usage(gw: Gateway) -> None:
    """GET /v1/usage tells a key its budgets and limits (its own and its user path's)."""
    token, key_id = await _key(gw, user_path="/team-b")
    async with _admin(gw) as admin:
        await admin.put(f"/admin/budgets/key:{key_id}/weekly", json={"amount": 2})
        await admin.put("/admin/rate-limits/team-b", json={"rpm": 100, "tpd": 1_000_000})
    assert (await _chat(gw, token)).status_code == 200
    async with httpx.AsyncClient(
        base_url=gw.url, headers={"authorization": f"Bearer {token}"}
    ) as client:
        answer = (await client.get("/usage")).json()
    assert (answer["key_id"], answer["user_path"]) == (key_id, "/team-b")
    [budget] = answer["budgets"]
    assert (budget["amount"], budget["period"], budget["key_id"]) == (2.0, "week", key_id)
    assert budget["spent"] > 0
    by_name = {r["name"]: r for r in answer["rate_limits"]}
    assert by_name["rpm"]["used"] == 1 and by_name["rpm"]["remaining"] == 99
    assert by_name["tpd"]["used"] == 30  # the mock's 30 tokens
    assert set(answer["spend"]) == {"hour", "day", "week", "month"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/admin/budgets/team-a/daily", {"amount": -1}),
        ("PUT", "/admin/budgets/team-a/daily", {"amount": "ten"}),
        ("PUT", "/admin/budgets/team-a/daily", {"amount": True}),
        ("PUT", "/admin/budgets/team-a/daily", {"amount": 1e300}),
        ("PUT", "/admin/budgets/team-a/daily", {"amount": 1, "currency": "EUR"}),
        ("PUT", "/admin/budgets/team-a/daily", {}),
        ("PUT", "/admin/budgets/team-a/fortnightly", {"amount": 1}),
        ("PUT", "/admin/budgets/provider:openai/daily", {"amount": 1}),
        ("PUT", "/admin/budgets/team-a/daily", [1]),
        ("PUT", "/admin/rate-limits/team-a", {"rpm": 0}),
        ("PUT", "/admin/rate-limits/team-a", {"rpm": 1.5}),
        ("PUT", "/admin/rate-limits/team-a", {"rps": 5}),
        ("PUT", "/admin/rate-limits/team-a", {}),
        ("PUT", "/admin/rate-limits/nothing:x", {"rpm": 5}),
    ],
)
async def test_bad_admin_input_changes_nothing(
    gw: Gateway, method: str, path: str, body: Any
) -> None:
    """Wrong types, unknown periods and fields, negative amounts, bad scopes: a 400 envelope,
    and the stored rules stay as they were."""
    async with _admin(gw) as admin:
        await admin.put("/admin/budgets/team-a/daily", json={"amount": 5})
        before = (await admin.get("/admin/budgets")).json()
        response = await admin.request(method, path, content=orjson.dumps(body))
        after = (await admin.get("/admin/budgets")).json()
        rates = (await admin.get("/admin/rate-limits")).json()
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert before == after and rates == {"rate_limits": []}


async def test_admin_routes_take_the_master_key_only(gw: Gateway) -> None:
    """A managed key cannot raise its own budget."""
    token, key_id = await _key(gw)
    async with httpx.AsyncClient(
        base_url=gw.url.removesuffix("/v1"), headers={"authorization": f"Bearer {token}"}
    ) as client:
        put = await client.put(f"/admin/budgets/key:{key_id}/daily", json={"amount": 1000})
    assert put.status_code == 401


async def test_budgets_from_the_environment(nursery: trio.Nursery, tmp_path: Path) -> None:
    """SET_BUDGET_<PATH> and SET_RATE_LIMIT_<PATH> seed rules, ``__`` between segments."""
    env = {
        "SQLITE_PATH": str(tmp_path / "gw.db"),
        "SET_BUDGET_TEAM_A__BOTS": "daily=10,monthly=50",
        "SET_RATE_LIMIT_TEAM_A": "rpm=2",
    }
    gw = await start_gateway(nursery, tmp_path, env)
    async with _admin(gw) as admin:
        budgets = (await admin.get("/admin/budgets")).json()["budgets"]
        rates = (await admin.get("/admin/rate-limits")).json()["rate_limits"]
    assert sorted((b["user_path"], b["period"], b["amount"]) for b in budgets) == [
        ("/team_a/bots", "day", 10.0),
        ("/team_a/bots", "month", 50.0),
    ]
    assert [(r["scope"], r["name"], r["limit"]) for r in rates] == [("path:/team_a", "rpm", 2)]
    headers = {"x-gomodel-user-path": "/team_a/bots"}
    async with httpx.AsyncClient(base_url=gw.url, headers={**ADMIN, **headers}) as client:
        codes = [
            (
                await client.post(
                    "/chat/completions", json={"model": "gpt-4o-mini", "messages": HI}
                )
            ).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]
