"""The managed-key admin API end to end: hypercorn on port 0, the key table in SQLite (and in
PostgreSQL where the backend matters), checked through the API and straight in the database.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import orjson
import psycopg
import pytest
import trio

from gomodel.keys.record import AuthKey, rfc3339
from gomodel.keys.secret import IssuedSecret
from gomodel.storage.keys import KeySet, SQLAuthKeyStore, open_auth_key_store
from tests.app.gateway import MASTER_KEY, start_gateway
from tests.storage.pg import pg_schema

API = "/admin/api/v1/auth-keys"
SHORT = "/admin/auth-keys"
UNKNOWN_ID = "0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11"


@attrs.frozen
class Admin:
    client: httpx.AsyncClient
    store: SQLAuthKeyStore  # the same table, on a connection of the test's own
    env: dict[str, str]

    async def stored(self) -> KeySet:
        return await trio.to_thread.run_sync(self.store.snapshot)

    async def create(self, prefix: str = API, **body: Any) -> dict[str, Any]:
        response = await self.client.post(prefix, json={"name": "ci", **body})
        assert response.status_code == 201, response.text
        doc: dict[str, Any] = response.json()
        return doc


@contextmanager
def storage_env(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {"STORAGE_TYPE": "sqlite", "SQLITE_PATH": str(tmp_path / "db" / "gomodel.db")}
    else:
        with pg_schema() as url:
            yield {"STORAGE_TYPE": "postgresql", "POSTGRES_URL": url}


async def open_admin(nursery: trio.Nursery, tmp_path: Path, env: dict[str, str]) -> Admin:
    gw = await start_gateway(nursery, tmp_path, env)
    client = httpx.AsyncClient(
        base_url=gw.url.removesuffix("/v1"),
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    )
    store = open_auth_key_store(
        env["STORAGE_TYPE"],
        sqlite_path=env.get("SQLITE_PATH", ""),
        postgres_url=env.get("POSTGRES_URL", ""),
    )
    await trio.to_thread.run_sync(store.migrate)
    return Admin(client, store, env)


@pytest.fixture
async def admin(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[Admin]:
    with storage_env("sqlite", tmp_path) as env:
        opened = await open_admin(nursery, tmp_path, env)
        async with opened.client:
            yield opened
        opened.store.close()


@pytest.mark.parametrize("prefix", [API, SHORT])
async def test_issue_list_deactivate(admin: Admin, prefix: str) -> None:
    """Create answers 201 with the view and the token once; the list shows views without it;
    deactivate answers 204, the key turns inactive, and a second deactivate changes nothing."""
    created = await admin.create(
        prefix,
        description="nightly",
        user_path="team//a",
        expires_at="2099-01-01T00:00:00+01:00",
        allowed_models=["openai/", "gpt-4o"],
    )
    token = created.pop("value")
    assert re.fullmatch(r"sk_gom_[A-Za-z0-9_-]{43}", token)
    assert created == {
        "id": created["id"],
        "name": "ci",
        "description": "nightly",
        "user_path": "/team/a",
        "allowed_models": ["openai/*", "gpt-4o"],
        "redacted_value": "sk_gom_..." + token[-4:],
        "enabled": True,
        "expires_at": "2098-12-31T23:00:00Z",
        "created_at": created["created_at"],
        "updated_at": created["created_at"],
        "active": True,
    }
    second = await admin.create(prefix, name="second")
    listing = await admin.client.get(prefix)
    assert listing.status_code == 200
    assert [v["id"] for v in listing.json()] == [second["id"], created["id"]]  # newest first
    assert listing.json()[1] == created

    done = await admin.client.post(f"{prefix}/{created['id']}/deactivate")
    assert (done.status_code, done.content) == (204, b"")
    view = next(v for v in (await admin.client.get(prefix)).json() if v["id"] == created["id"])
    assert (view["active"], view["enabled"]) == (False, False)
    stamp = view["deactivated_at"]
    again = await admin.client.post(f"{prefix}/{created['id'].upper()}/deactivate", json={})
    assert again.status_code == 204
    view = next(v for v in (await admin.client.get(prefix)).json() if v["id"] == created["id"])
    assert view["deactivated_at"] == stamp
    stored = {k.id: k for k in (await admin.stored()).keys}
    assert stored[created["id"]].deactivated_at is not None
    assert stored[second["id"]].is_active(datetime.now(UTC))


async def test_set_allowed_models(admin: Admin) -> None:
    """PUT allowed-models replaces the list (200 with the view); null allows every model."""
    key = await admin.create()
    url = f"{API}/{key['id']}/allowed-models"
    response = await admin.client.put(url, json={"allowed_models": ["openai/*", "claude-sonnet-4"]})
    assert response.status_code == 200, response.text
    assert response.json()["allowed_models"] == ["openai/*", "claude-sonnet-4"]
    (stored,) = (await admin.stored()).keys
    assert stored.allowed_models == ("openai/*", "claude-sonnet-4")
    response = await admin.client.put(
        f"{SHORT}/{key['id']}/allowed-models", json={"allowed_models": None}
    )
    assert response.status_code == 200
    assert "allowed_models" not in response.json()
    (stored,) = (await admin.stored()).keys
    assert stored.allowed_models is None


def _huge() -> bytes:
    return orjson.dumps({"name": "ci", "description": "x" * 200_000})


# (method, path under API with {id} for an existing key, body, status, param)
BAD = [
    ("POST", "", b"", 400, None),
    ("POST", "", b"{", 400, None),
    ("POST", "", b'["ci"]', 400, None),
    ("POST", "", b"{}", 400, "name"),
    ("POST", "", b'{"name": 1}', 400, "name"),
    ("POST", "", b'{"name": ""}', 400, "name"),
    ("POST", "", orjson.dumps({"name": "n" * 201}), 400, "name"),
    ("POST", "", b'{"name": "a\\nb"}', 400, "name"),
    ("POST", "", b'{"name": "ci", "id": "' + UNKNOWN_ID.encode() + b'"}', 400, "id"),
    ("POST", "", b'{"name": "ci", "secret_hash": "00"}', 400, "secret_hash"),
    ("POST", "", b'{"name": "ci", "description": []}', 400, "description"),
    ("POST", "", b'{"name": "ci", "user_path": "/a/.."}', 400, "user_path"),
    ("POST", "", b'{"name": "ci", "user_path": false}', 400, "user_path"),
    ("POST", "", b'{"name": "ci", "expires_at": "2001-01-01T00:00:00Z"}', 400, "expires_at"),
    ("POST", "", b'{"name": "ci", "expires_at": "next week"}', 400, "expires_at"),
    ("POST", "", b'{"name": "ci", "expires_at": 4102444800}', 400, "expires_at"),
    ("POST", "", b'{"name": "ci", "allowed_models": "gpt-4o"}', 400, "allowed_models"),
    ("POST", "", b'{"name": "ci", "allowed_models": []}', 400, "allowed_models"),
    ("POST", "", b'{"name": "ci", "allowed_models": ["ok", 2]}', 400, "allowed_models[1]"),
    ("POST", "", b'{"name": "ci", "allowed_models": ["*/x"]}', 400, "allowed_models[0]"),
    (
        "POST",
        "",
        orjson.dumps({"name": "ci", "allowed_models": ["m"] * 300}),
        400,
        "allowed_models",
    ),
    ("POST", "", _huge(), 413, None),
    ("PUT", "/{id}/allowed-models", b"", 400, None),
    ("PUT", "/{id}/allowed-models", b"{}", 400, "allowed_models"),
    ("PUT", "/{id}/allowed-models", b'{"allowed_models": "x"}', 400, "allowed_models"),
    ("PUT", "/{id}/allowed-models", b'{"allowed_models": [null]}', 400, "allowed_models[0]"),
    ("PUT", "/{id}/allowed-models", b'{"allowed_models": null, "x": 1}', 400, "x"),
    ("PUT", "/{id}/allowed-models", _huge(), 413, None),
    ("PUT", "/not-a-uuid/allowed-models", b'{"allowed_models": null}', 400, "id"),
    ("POST", "/{id}/deactivate", b'{"now": true}', 400, "now"),
    ("POST", "/{id}/deactivate", b"[]", 400, None),
    ("POST", "/{id}/deactivate", _huge(), 413, None),
    ("POST", "/12345/deactivate", b"", 400, "id"),
    ("POST", "/%27%20OR%201=1--/deactivate", b"", 400, "id"),
    ("POST", f"/{UNKNOWN_ID}/deactivate", b"", 404, None),
    ("PUT", f"/{UNKNOWN_ID}/allowed-models", b'{"allowed_models": null}', 404, None),
    ("GET", "/{id}/deactivate", b"", 405, None),
    ("POST", "/{id}/allowed-models", b'{"allowed_models": null}', 405, None),
    ("DELETE", "", b"", 405, None),
    ("GET", "/{id}", b"", 404, None),
    ("POST", "/{id}/activate", b"", 404, None),
    ("POST", "/", b"", 404, None),
]


async def test_bad_input_changes_nothing(admin: Admin) -> None:
    """Every bad request is an OpenAI error envelope with the right status (param naming the
    field), and the stored keys are exactly as before."""
    key = await admin.create(allowed_models=["gpt-4o"])
    before = await admin.stored()
    for method, path, body, status, param in BAD:
        url = API + path.replace("{id}", key["id"])
        response = await admin.client.request(method, url, content=body)
        case = f"{method} {path} {body[:60]!r}"
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}, case
        assert error["message"], case
        if status == 400:
            assert (error["type"], error["param"]) == ("invalid_request_error", param), case
        assert await admin.stored() == before, case
    assert (await admin.client.get(API)).json() == [{k: v for k, v in key.items() if k != "value"}]


async def test_admin_routes_need_the_master_key(admin: Admin) -> None:
    """Without the master key (or with a managed key) nothing is listed, created or changed."""
    key = await admin.create()
    before = await admin.stored()
    for auth in (None, "Bearer wrong", f"Bearer {key['value']}"):
        headers = {} if auth is None else {"authorization": auth}
        async with httpx.AsyncClient(base_url=admin.client.base_url, headers=headers) as anon:
            for method, path, body in [
                ("GET", SHORT, None),
                ("POST", API, {"name": "intruder"}),
                ("POST", f"{API}/{key['id']}/deactivate", None),
                ("PUT", f"{SHORT}/{key['id']}/allowed-models", {"allowed_models": ["x"]}),
            ]:
                response = await anon.request(method, path, json=body)
                assert response.status_code == 401, (auth, method, path)
                assert response.json()["error"]["type"] == "authentication_error"
    assert await admin.stored() == before


async def _dump(env: dict[str, str]) -> bytes:
    """Every byte the database holds for the gateway: the SQLite file with its WAL, or a COPY
    of every table in the PostgreSQL schema (what pg_dump writes for the data)."""
    if env["STORAGE_TYPE"] == "sqlite":
        directory = Path(env["SQLITE_PATH"]).parent
        return b"".join(p.read_bytes() for p in sorted(directory.iterdir()))

    def copy_all() -> bytes:
        out = bytearray()
        with psycopg.connect(env["POSTGRES_URL"], autocommit=True) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
            assert ("auth_keys",) in tables
            for (table,) in tables:
                with conn.cursor().copy(f'COPY "{table}" TO STDOUT') as copy:
                    for data in copy:
                        out += bytes(data)
        return bytes(out)

    return await trio.to_thread.run_sync(copy_all)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_secret_is_never_stored_logged_or_listed(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    """After issuing, listing, restricting and deactivating keys, neither the token nor its
    secret part is in the database, in any log record, or in any answer but the first."""
    caplog.set_level(logging.DEBUG)
    with storage_env(backend, tmp_path) as env:
        admin = await open_admin(nursery, tmp_path, env)
        async with admin.client:
            issued = [await admin.create(name=f"key {i}") for i in range(3)]
            answers = [(await admin.client.get(API)).text, (await admin.client.get(SHORT)).text]
            for key in issued[:2]:
                response = await admin.client.put(
                    f"{API}/{key['id']}/allowed-models", json={"allowed_models": ["gpt-4o"]}
                )
                answers.append(response.text)
                response = await admin.client.post(f"{API}/{key['id']}/deactivate")
                answers.append(response.text)
            answers.append((await admin.client.get(API)).text)
            dump = await _dump(env)
        admin.store.close()
    assert issued[0]["redacted_value"].encode() in dump  # the dump does hold the keys
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    ).encode()
    for key in issued:
        token = key["value"]
        for secret in (token, token.removeprefix("sk_gom_")):
            assert secret.encode() not in dump
            assert secret.encode() not in logged
            assert all(secret not in answer for answer in answers)
        assert key["redacted_value"] in answers[0]
    for view in orjson.loads(answers[0]):
        assert set(view).isdisjoint({"value", "secret_hash", "hash", "secret"})


async def test_expired_key_is_listed_inactive(admin: Admin) -> None:
    """A key past its expires_at (stored by another replica a while ago) is listed with active
    false; enabled stays true."""
    created = datetime.now(UTC) - timedelta(days=2)
    secret = IssuedSecret.generate()
    key = AuthKey(
        id=str(uuid.uuid4()),
        name="old",
        secret_hash=secret.secret_hash,
        redacted_value=secret.redacted,
        created_at=created,
        updated_at=created,
        expires_at=created + timedelta(days=1),
    )
    await trio.to_thread.run_sync(admin.store.create, key)
    (view,) = (await admin.client.get(API)).json()
    assert (view["id"], view["enabled"], view["active"]) == (key.id, True, False)
    assert view["expires_at"] == rfc3339(created + timedelta(days=1))


async def test_storage_down_is_a_503(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With the database unreachable the admin API answers 503 auth_keys_unavailable (and
    logs no error); nothing is issued."""
    env = {"STORAGE_TYPE": "postgresql", "POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/x"}
    gw = await start_gateway(nursery, tmp_path, env)
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    base = gw.url.removesuffix("/v1")
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:
        for method, body in (("GET", None), ("POST", {"name": "ci"})):
            response = await client.request(method, API, json=body)
            assert response.status_code == 503, response.text
            error = response.json()["error"]
            assert error["code"] == "auth_keys_unavailable"
            assert "sk_gom_" not in response.text
