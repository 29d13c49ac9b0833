"""``/admin/api/v1/auth-keys``: issue, list and deactivate managed API keys (SPEC §9).

Also under the short ``/admin/auth-keys``. Behind the master key like the rest of the admin
API. GOModel's wire shapes: create answers 201 with the key's view and ``value``, the plaintext
token (shown this once, never stored); the list is a JSON array of views, newest first, each
with ``active`` and without any secret or hash; deactivate answers 204 and is idempotent. The
allow-list route is gomodel's: ``PUT .../{id}/allowed-models`` with ``{"allowed_models": [...]
| null}`` answers 200 with the view.

Input is checked whole before anything is written (gomodel/keys/admin_input.py). A write is
visible to this process's lookups at once (the cache is nudged) and to every other replica
within the cache's bound (gomodel/keys/cache.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import trio

from gomodel.app.render import send_empty, send_json
from gomodel.app.runtime import Runtime
from gomodel.errors import MethodNotAllowed, NotFound, UpstreamUnavailable
from gomodel.keys.admin_input import (
    parse_allowed_models_update,
    parse_empty_body,
    parse_key_id,
    parse_new_key,
)
from gomodel.keys.cache import AuthKeyCache
from gomodel.keys.record import AuthKey
from gomodel.keys.secret import IssuedSecret
from gomodel.pipeline.context import RequestContext
from gomodel.storage.keys import AuthKeyStore

__all__ = ["AUTH_KEY_PREFIXES", "auth_key_item", "create_auth_key", "list_auth_keys"]

T = TypeVar("T")

# ``{id}/deactivate`` and ``{id}/allowed-models`` under each spelling of the collection.
AUTH_KEY_PREFIXES = ("/admin/api/v1/auth-keys/", "/admin/auth-keys/")
_ACTIONS = {"deactivate": "POST", "allowed-models": "PUT"}
# The create answer holds the only copy of the secret: no cache may keep it.
_NO_STORE = (b"cache-control", b"no-store")


async def list_auth_keys(ctx: RequestContext) -> None:
    keys = await _call(ctx, lambda store: store.list(), write=False)
    now = _now(ctx)
    await send_json(ctx.send, 200, [key.view(now) for key in keys], ctx.headers)


async def create_auth_key(ctx: RequestContext) -> None:
    now = _now(ctx)
    new = parse_new_key(ctx.snapshot.body, now)
    secret = IssuedSecret.generate()
    key = AuthKey(
        id=str(uuid.uuid4()),
        name=new.name,
        description=new.description,
        user_path=new.user_path,
        expires_at=new.expires_at,
        allowed_models=new.allowed_models,
        secret_hash=secret.secret_hash,
        redacted_value=secret.redacted,
        created_at=now,
        updated_at=now,
    )
    await _call(ctx, lambda store: store.create(key))
    answer = {**key.view(now), "value": secret.value}
    await send_json(ctx.send, 201, answer, [*ctx.headers, _NO_STORE])


async def auth_key_item(ctx: RequestContext) -> None:
    """``POST {id}/deactivate`` and ``PUT {id}/allowed-models``."""
    method, path = ctx.snapshot.method, ctx.snapshot.path
    prefix = next(p for p in AUTH_KEY_PREFIXES if path.startswith(p))
    raw_id, _, action = path.removeprefix(prefix).partition("/")
    expected = _ACTIONS.get(action)
    if not raw_id or expected is None:
        raise NotFound(f"unknown route: {method} {path}", code="unknown_route")
    if method != expected:
        raise MethodNotAllowed(
            f"method {method} is not allowed on {path}; allowed: {expected}",
            headers={"allow": expected},
        )
    key_id = parse_key_id(raw_id)
    if action == "deactivate":
        parse_empty_body(ctx.snapshot.body)
        now = _now(ctx)
        _found(key_id, await _call(ctx, lambda store: store.deactivate(key_id, now)))
        await send_empty(ctx.send, 204, ctx.headers)
        return
    models = parse_allowed_models_update(ctx.snapshot.body)
    now = _now(ctx)
    key = _found(
        key_id, await _call(ctx, lambda store: store.set_allowed_models(key_id, models, now))
    )
    await send_json(ctx.send, 200, key.view(now), ctx.headers)


def _found(key_id: str, key: AuthKey | None) -> AuthKey:
    if key is None:
        raise NotFound(f"auth key not found: {key_id}", code="auth_key_not_found")
    return key


def _now(ctx: RequestContext) -> datetime:
    return datetime.fromtimestamp(ctx.runtime.clock(), UTC)


async def _call(ctx: RequestContext, work: Callable[[AuthKeyStore], T], *, write: bool = True) -> T:
    """``work`` on the key store in a worker thread. After a write this process's cache is
    refreshed before the answer, so a key just made (or deactivated) here works (or is
    refused) here at once; other replicas follow within the cache's bound."""
    cache = _cache(ctx.runtime)
    result = await trio.to_thread.run_sync(work, cache.store)
    if write:
        try:
            await cache.refresh()
        except Exception:
            cache.nudge()  # the background poll tries again (and logs if it fails too)
    return result


def _cache(runtime: Runtime) -> AuthKeyCache:
    if runtime.auth_keys is None:
        raise UpstreamUnavailable(
            "managed keys need storage: set STORAGE_TYPE (and POSTGRES_URL for postgresql)",
            code="auth_keys_unavailable",
        )
    return runtime.auth_keys
