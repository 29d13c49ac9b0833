"""An in-memory :class:`~gomodel.storage.keys.AuthKeyStore` for tests of code that uses keys.

It behaves like the SQL store (ids, revision bumps, idempotent deactivation, newest-first
listing), counts every call by method name in :attr:`MemoryAuthKeyStore.calls`, and fails every
call with the SQL store's 503 while :attr:`MemoryAuthKeyStore.down` is true::

    store = MemoryAuthKeyStore()
    key, token = store.issue("ci")
    cache = AuthKeyCache(store, run_sync=run_inline)
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs

from gomodel.errors import UpstreamUnavailable
from gomodel.keys.record import AuthKey
from gomodel.keys.secret import IssuedSecret
from gomodel.storage.keys import KeySet

__all__ = ["MemoryAuthKeyStore", "run_inline"]

T = TypeVar("T")


async def run_inline(fn: Callable[[], T]) -> T:
    """A ``run_sync`` for :class:`~gomodel.keys.cache.AuthKeyCache` that calls the store in the
    task itself: under ``MockClock(autojump_threshold=0)`` no time passes while it runs."""
    return fn()


class MemoryAuthKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, AuthKey] = {}
        self.revision_number = 0
        self.down = False
        self.calls: Counter[str] = Counter()

    def _call(self, name: str) -> None:
        self.calls[name] += 1
        if self.down:
            raise UpstreamUnavailable(
                "managed key storage is unavailable: the test says so",
                code="auth_keys_unavailable",
            )

    def issue(self, name: str, now: datetime | None = None, **fields: Any) -> tuple[AuthKey, str]:
        """Store a new key (``fields``: any :class:`AuthKey` field) and return it with its
        token, as the admin API would."""
        now = now or datetime.now(UTC)
        secret = IssuedSecret.generate()
        key = AuthKey(
            id=str(uuid.uuid4()),
            name=name,
            secret_hash=secret.secret_hash,
            redacted_value=secret.redacted,
            created_at=now,
            updated_at=now,
            **fields,
        )
        self.create(key)
        return key, secret.value

    # -- AuthKeyStore ----------------------------------------------------------------------------

    def migrate(self) -> None:
        self._call("migrate")

    def create(self, key: AuthKey) -> None:
        self._call("create")
        self.keys[key.id] = key
        self.revision_number += 1

    def list(self) -> list[AuthKey]:
        self._call("list")
        by_name = sorted(self.keys.values(), key=lambda k: (k.name, k.id))
        return sorted(by_name, key=lambda k: k.created_at, reverse=True)

    def get(self, key_id: str) -> AuthKey | None:
        self._call("get")
        return self.keys.get(key_id)

    def find_by_hash(self, secret_hash: str) -> AuthKey | None:
        self._call("find_by_hash")
        return next((k for k in self.keys.values() if k.secret_hash == secret_hash), None)

    def deactivate(self, key_id: str, now: datetime) -> AuthKey | None:
        self._call("deactivate")
        key = self.keys.get(key_id)
        if key is not None and key.deactivated_at is None:
            key = attrs.evolve(key, enabled=False, deactivated_at=now, updated_at=now)
            self.keys[key_id] = key
            self.revision_number += 1
        return key

    def set_allowed_models(
        self, key_id: str, allowed_models: tuple[str, ...] | None, now: datetime
    ) -> AuthKey | None:
        self._call("set_allowed_models")
        key = self.keys.get(key_id)
        if key is not None:
            key = attrs.evolve(key, allowed_models=allowed_models, updated_at=now)
            self.keys[key_id] = key
            self.revision_number += 1
        return key

    def revision(self) -> int:
        self._call("revision")
        return self.revision_number

    def snapshot(self) -> KeySet:
        self._call("snapshot")
        return KeySet(self.revision_number, tuple(self.keys.values()))

    def close(self) -> None:
        pass
