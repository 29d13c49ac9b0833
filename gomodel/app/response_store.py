"""Which provider owns which response id, and the gateway's own copy of translated responses.

Native providers (the Responses API) keep their responses themselves: the gateway only
remembers the owner of each id it saw created, so ``GET/DELETE /v1/responses/{id}`` reach the
right provider. Responses the gateway made by translation exist nowhere else: their objects are
kept here. Bounded (``MAX_ENTRIES``, oldest out first) and with a time to live (``TTL``): this
is a cache of recent work, per process, not durable storage. Pure.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import attrs

__all__ = ["MAX_ENTRIES", "TTL", "ResponseStore", "StoredResponse"]

MAX_ENTRIES = 10_000
TTL = 24 * 3600.0


@attrs.frozen
class StoredResponse:
    provider: str  # configured provider name
    native: bool
    stored_at: float
    response: dict[str, Any] | None = None  # translated responses only
    input_items: tuple[dict[str, Any], ...] = ()


@attrs.define
class ResponseStore:
    max_entries: int = MAX_ENTRIES
    ttl: float = TTL
    _entries: OrderedDict[str, StoredResponse] = attrs.field(factory=OrderedDict, init=False)

    def put(self, response_id: str, entry: StoredResponse) -> None:
        self._entries[response_id] = entry
        self._entries.move_to_end(response_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get(self, response_id: str, now: float) -> StoredResponse | None:
        entry = self._entries.get(response_id)
        if entry is not None and now - entry.stored_at > self.ttl:
            del self._entries[response_id]
            return None
        return entry

    def delete(self, response_id: str) -> None:
        self._entries.pop(response_id, None)
