"""Errors on ``/v1/messages`` are Anthropic's: ``{"type": "error", "error": {"type", "message"}}``
with Anthropic's statuses, whoever raised them (authentication and body limits before the
handler, the route table, the handler, the provider; admission's in test_messages_limits.py);
bad input never reaches the provider. The other paths keep OpenAI's envelope."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anthropic
import httpx
import orjson
import pytest
import trio

from gomodel.testing import MockUpstream, Reply
from gomodel.testing._anthropic import anthropic_error_reply
from tests.app.gateway import MASTER_KEY, ONE_ATTEMPT, Gateway, start_gateway

KEY = "sk-ant-secret"
CLAUDE = "claude-sonnet-4-20250514"
GPT = "gpt-4o-mini"
HI: list[Any] = [{"role": "user", "content": "hi"}]
CALL = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}


async def _claude(
    nursery: trio.Nursery, tmp_path: Path, env: dict[str, str] | None = None
) -> Gateway:
    return await start_gateway(
        nursery,
        tmp_path,
        {"BODY_SIZE_LIMIT": "1M", **(env or {})},
        mock=MockUpstream(models=(CLAUDE,), require_key=KEY, dialect="anthropic"),
        provider=lambda url: {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url},
    )


async def _gpt(nursery: trio.Nursery, tmp_path: Path, env: dict[str, str] | None = None) -> Gateway:
    return await start_gateway(nursery, tmp_path, {"BODY_SIZE_LIMIT": "1M", **(env or {})})


@pytest.fixture(params=["anthropic", "openai"])
async def any_gw(
    request: pytest.FixtureRequest, nursery: trio.Nursery, tmp_path: Path
) -> tuple[Gateway, str]:
    if request.param == "anthropic":
        return await _claude(nursery, tmp_path), CLAUDE
    return await _gpt(nursery, tmp_path), GPT


def _anthropic_error(response: httpx.Response, status: int, error_type: str) -> str:
    """Assert the Anthropic envelope, exactly; return the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-request-id" in response.headers
    doc = response.json()
    assert set(doc) == {"type", "error"} and doc["type"] == "error"
    assert set(doc["error"]) == {"type", "message"}
    assert doc["error"]["type"] == error_type
    assert doc["error"]["message"]
    return str(doc["error"]["message"])


def _provider_calls(gw: Gateway) -> list[Any]:
    return [r for r in gw.mock.requests if r.path.endswith(("/messages", "/chat/completions"))]


def _tool_result(use_id: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use_id}]}


M = "<model>"  # stands for the gateway's model in BAD
BAD = [
    # (id, body (M: the model) or raw bytes, a fragment of the message)
    ("not-json", b"{model: claude}", "invalid request body"),
    ("empty", b"", "the body is empty"),
    ("array", b"[]", "expected a JSON object"),
    ("deep-nesting", b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid request body"),
    ("no-model", {"max_tokens": 9, "messages": HI}, "model is required"),
    ("max-tokens-type", {"model": M, "max_tokens": "9", "messages": HI}, "max_tokens must be"),
    ("no-messages", {"model": M, "max_tokens": 9}, "messages must be a non-empty array"),
    (
        "block-without-type",
        {"model": M, "max_tokens": 9, "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        "messages[0].content[0] must be a content block with a type",
    ),
    (
        "tool-result-without-its-tool-use",
        {
            "model": M,
            "max_tokens": 9,
            "messages": [*HI, {"role": "assistant", "content": "ok"}, _tool_result("toolu_9")],
        },
        "follows no tool_use block",
    ),
    (
        "tool-result-for-another-call",
        {
            "model": M,
            "max_tokens": 9,
            "messages": [*HI, {"role": "assistant", "content": [CALL]}, _tool_result("toolu_2")],
        },
        "follows no tool_use block",
    ),
]


@pytest.mark.parametrize(("body", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
async def test_bad_input_is_an_anthropic_400_before_any_provider(
    any_gw: tuple[Gateway, str], body: dict[str, Any] | bytes, fragment: str
) -> None:
    gw, model = any_gw
    if isinstance(body, dict):
        body = orjson.dumps({k: model if v == M else v for k, v in body.items()})
    async with gw.http() as client:
        response = await client.post("/messages", content=body)
    assert fragment in _anthropic_error(response, 400, "invalid_request_error")
    assert not _provider_calls(gw)


@pytest.mark.parametrize(
    ("block", "param"),
    [
        ({"type": "bogus"}, "messages[0].content[0].type"),
        (
            {"type": "search_result", "source": "s", "title": "t", "content": []},
            "messages[0].content[0].type",
        ),
        (
            {"type": "image", "source": {"type": "file", "file_id": "f"}},
            "messages[0].content[0].source.type",
        ),
    ],
)
async def test_blocks_other_providers_cannot_take_are_400(
    nursery: trio.Nursery, tmp_path: Path, block: dict[str, Any], param: str
) -> None:
    """Toward an OpenAI-style provider, a block the translation cannot carry is a 400 naming it,
    and the SDK raises BadRequestError."""
    gw = await _gpt(nursery, tmp_path)

    def run() -> None:
        with anthropic.Anthropic(
            base_url=gw.url.removesuffix("/v1"), api_key=MASTER_KEY, max_retries=0
        ) as client:
            client.messages.create(
                model=GPT, max_tokens=9, messages=[{"role": "user", "content": [block]}]
            )  # type: ignore[list-item]

    with pytest.raises(anthropic.BadRequestError) as info:
        await trio.to_thread.run_sync(run)
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert info.value.body["error"]["message"].startswith(f"{param}: ")  # type: ignore[index]
    assert not _provider_calls(gw)


async def test_missing_max_tokens_without_a_default(nursery: trio.Nursery, tmp_path: Path) -> None:
    """ANTHROPIC_DEFAULT_MAX_TOKENS=0: a request without max_tokens is a 400, as at Anthropic,
    for every provider."""
    for make, model in ((_claude, CLAUDE), (_gpt, GPT)):
        async with trio.open_nursery() as inner:
            gw = await make(inner, tmp_path / model, {"ANTHROPIC_DEFAULT_MAX_TOKENS": "0"})
            async with gw.http() as client:
                response = await client.post("/messages", json={"model": model, "messages": HI})
            assert "max_tokens is required" in _anthropic_error(
                response, 400, "invalid_request_error"
            )
            assert not _provider_calls(gw)
            inner.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("headers", "sdk_kwargs"),
    [
        ({}, None),
        ({"x-api-key": "wrong"}, {"api_key": "wrong"}),
        ({"authorization": "Bearer wrong"}, {"auth_token": "wrong"}),
        ({"authorization": "Basic abc"}, None),
    ],
    ids=["none", "x-api-key", "bearer", "other-scheme"],
)
async def test_wrong_auth_is_an_anthropic_401(
    nursery: trio.Nursery,
    tmp_path: Path,
    headers: dict[str, str],
    sdk_kwargs: dict[str, Any] | None,
) -> None:
    gw = await _claude(nursery, tmp_path)
    body = {"model": CLAUDE, "max_tokens": 9, "messages": HI}
    async with httpx.AsyncClient(base_url=gw.url, timeout=10) as client:
        response = await client.post("/messages", json=body, headers=headers)
        counted = await client.post("/messages/count_tokens", json=body, headers=headers)
    _anthropic_error(response, 401, "authentication_error")
    _anthropic_error(counted, 401, "authentication_error")
    if sdk_kwargs is not None:

        def run() -> None:
            base = gw.url.removesuffix("/v1")
            with anthropic.Anthropic(base_url=base, max_retries=0, **sdk_kwargs) as client:
                client.messages.create(model=CLAUDE, max_tokens=9, messages=HI)

        with pytest.raises(anthropic.AuthenticationError):
            await trio.to_thread.run_sync(run)
    assert not _provider_calls(gw)


async def test_body_too_large_is_413_request_too_large(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """Declared or streamed, a body over BODY_SIZE_LIMIT is Anthropic's 413."""
    gw = await _claude(nursery, tmp_path)
    big = b'{"model": "x", "pad": "' + b"x" * (1024 * 1024) + b'"}'

    async def chunks() -> Any:
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    async with gw.http() as client:
        declared = await client.post("/messages", content=big)
        streamed = await client.post("/messages", content=chunks())
    for response in (declared, streamed):
        assert "BODY_SIZE_LIMIT" in _anthropic_error(response, 413, "request_too_large")
    assert not _provider_calls(gw)


async def test_route_table_errors_speak_anthropic_under_messages(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """404 and 405 under /v1/messages are Anthropic's; elsewhere OpenAI's."""
    gw = await _claude(nursery, tmp_path)
    async with gw.http() as client:
        wrong_method = await client.get("/messages")
        unknown = await client.post("/messages/batches", json={})
        no_model = await client.post(
            "/messages", json={"model": "claude-nope", "max_tokens": 9, "messages": HI}
        )
        chat_unknown = await client.get("/nope")
        near_miss = await client.post("/messagesx", json={})
    _anthropic_error(wrong_method, 405, "invalid_request_error")
    assert wrong_method.headers["allow"] == "POST"
    _anthropic_error(unknown, 404, "not_found_error")
    assert "claude-nope" in _anthropic_error(no_model, 404, "not_found_error")
    for response in (chat_unknown, near_miss):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_route"


@pytest.mark.parametrize(
    ("status", "error_type", "sdk_error", "expected"),
    [
        (429, "rate_limit_error", anthropic.RateLimitError, 429),
        (529, "overloaded_error", anthropic.InternalServerError, 503),
        (400, "invalid_request_error", anthropic.BadRequestError, 400),
        (404, "not_found_error", anthropic.NotFoundError, 404),
    ],
)
async def test_provider_errors_keep_their_anthropic_type(
    nursery: trio.Nursery,
    tmp_path: Path,
    status: int,
    error_type: str,
    sdk_error: type[anthropic.APIStatusError],
    expected: int,
) -> None:
    """Anthropic's own error answers keep their type (and retry-after) on the fast path."""
    gw = await _claude(nursery, tmp_path, ONE_ATTEMPT)  # the error is the answer, not retried
    reply = anthropic_error_reply(status, f"{error_type}!", headers=[("retry-after", "4")])
    gw.mock.script(reply, path="/messages")

    def run() -> None:
        with anthropic.Anthropic(
            base_url=gw.url.removesuffix("/v1"), api_key=MASTER_KEY, max_retries=0
        ) as client:
            client.messages.create(model=CLAUDE, max_tokens=9, messages=HI)

    with pytest.raises(sdk_error) as info:
        await trio.to_thread.run_sync(run)
    assert info.value.status_code == expected
    assert info.value.body["error"]["type"] == error_type  # type: ignore[index]
    assert f"{error_type}!" in info.value.message
    assert info.value.response.headers["retry-after"] == "4"


async def test_translated_provider_errors_are_anthropic_shaped(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """An OpenAI-style provider's 429 reaches an Anthropic client as rate_limit_error."""
    gw = await _gpt(nursery, tmp_path, ONE_ATTEMPT)
    gw.mock.script(
        Reply.error(429, "slow down", code="rate_limit_exceeded"), path="/chat/completions"
    )
    async with gw.http() as client:
        response = await client.post(
            "/messages", json={"model": GPT, "max_tokens": 9, "messages": HI}
        )
    assert "slow down" in _anthropic_error(response, 429, "rate_limit_error")


async def test_managed_key_allow_list(nursery: trio.Nursery, tmp_path: Path) -> None:
    """The anthropic SDK with a managed key as its API key: its models only, on both
    endpoints; anything else is Anthropic's 403 before any provider call."""
    gw = await _gpt(nursery, tmp_path, {"SQLITE_PATH": str(tmp_path / "gw.db")})
    async with httpx.AsyncClient(base_url=gw.url.removesuffix("/v1")) as admin:
        created = await admin.post(
            "/admin/api/v1/auth-keys",
            json={"name": "claude-code", "allowed_models": [f"openai/{GPT}"]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    key = created.json()

    def run() -> tuple[str, anthropic.PermissionDeniedError, anthropic.PermissionDeniedError]:
        base = gw.url.removesuffix("/v1")
        with anthropic.Anthropic(base_url=base, api_key=key["value"], max_retries=0) as client:
            text = client.messages.create(model=GPT, max_tokens=9, messages=HI).content[0].text  # type: ignore[union-attr]
            with pytest.raises(anthropic.PermissionDeniedError) as created:
                client.messages.create(model="gpt-4o", max_tokens=9, messages=HI)
            with pytest.raises(anthropic.PermissionDeniedError) as counted:
                client.messages.count_tokens(model="gpt-4o", messages=HI)
            return text, created.value, counted.value

    text, created_error, counted_error = await trio.to_thread.run_sync(run)
    assert text == "Mock response to: hi"
    for error in (created_error, counted_error):
        assert error.body["error"]["type"] == "permission_error"  # type: ignore[index]
        assert "gpt-4o" in error.message
    [record] = await gw.records(1)
    assert record.key_id == key["id"] and record.endpoint == "/v1/messages"
    assert len(_provider_calls(gw)) == 1
