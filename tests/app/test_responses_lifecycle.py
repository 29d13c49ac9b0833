"""The Responses lifecycle: native responses asked of their provider, translated ones served
from the gateway's store."""

from __future__ import annotations

from gomodel.testing import Reply
from tests.app.gateway import Gateway
from tests.conftest import FIXTURES


async def test_translated_lifecycle(translated: Gateway) -> None:
    """A translated response can be fetched, its input listed and deleted; not cancelled."""
    async with translated.http() as client:
        created = (await client.post("/responses", json={"model": "llama-3", "input": "hi"})).json()
        rid = created["id"]
        fetched = await client.get(f"/responses/{rid}")
        items = await client.get(f"/responses/{rid}/input_items")
        cancel = await client.post(f"/responses/{rid}/cancel")
        deleted = await client.delete(f"/responses/{rid}")
        gone = await client.get(f"/responses/{rid}")
    assert fetched.json() == created
    [item] = items.json()["data"]
    assert (item["role"], item["content"]) == ("user", "hi")
    assert cancel.status_code == 501
    assert cancel.json()["error"]["code"] == "unsupported_response_operation"
    assert deleted.json() == {"id": rid, "object": "response", "deleted": True}
    assert gone.status_code == 404


async def test_native_lifecycle_forwarded_to_owner(gw: Gateway) -> None:
    """GET and DELETE of a native response reach the provider that created it."""
    recorded = (FIXTURES / "openai/responses.json").read_bytes()
    gw.mock.script(Reply(body=(recorded,), chunked=False), path="/responses")
    async with gw.http() as client:
        rid = (await client.post("/responses", json={"model": "gpt-4o", "input": "hi"})).json()[
            "id"
        ]
        gw.mock.script(Reply(body=(recorded,), chunked=False), path=f"/responses/{rid}")
        fetched = await client.get(f"/responses/{rid}?include=x")
        gw.mock.script(
            Reply.json({"id": rid, "object": "response", "deleted": True}),
            path=f"/responses/{rid}",
        )
        deleted = await client.delete(f"/responses/{rid}")
    assert fetched.content == recorded
    get, delete = gw.mock.requests[-2:]
    assert (get.method, get.path, get.query) == ("GET", f"/v1/responses/{rid}", "include=x")
    assert (delete.method, delete.path) == ("DELETE", f"/v1/responses/{rid}")
    assert deleted.json()["deleted"] is True


async def test_unknown_response_404(gw: Gateway) -> None:
    """An id no provider knows is a 404 in the envelope."""
    async with gw.http() as client:
        response = await client.get("/responses/resp_nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "response_not_found"


async def test_input_tokens(gw: Gateway, translated: Gateway) -> None:
    """input_tokens is forwarded to a native provider and refused (501) for translated ones."""
    gw.mock.script(
        Reply.json({"object": "response.input_tokens", "input_tokens": 12}),
        path="/responses/input_tokens",
    )
    async with gw.http() as client:
        native = await client.post(
            "/responses/input_tokens", json={"model": "openai/gpt-4o", "input": "hi"}
        )
    async with translated.http() as client:
        refused = await client.post(
            "/responses/input_tokens", json={"model": "llama-3", "input": "hi"}
        )
    assert native.json()["input_tokens"] == 12
    assert gw.mock.requests[-1].json == {"model": "gpt-4o", "input": "hi"}
    assert refused.status_code == 501
