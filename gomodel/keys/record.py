"""One managed API key as stored, and the admin view of it (SPEC §9). Pure.

A key is *active* when it is enabled, not deactivated and not expired (``expires_at`` in the
past or exactly now counts as expired, as in GOModel). Deactivation and expiry are final: there
is no way to re-enable a key, and ``expires_at`` is fixed at creation.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = ["AuthKey", "KeyState", "rfc3339"]


class KeyState(enum.Enum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"  # deactivated by an admin, or stored as not enabled
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class AuthKey:
    id: str  # canonical lower-case UUID
    name: str
    secret_hash: str = attrs.field(repr=False)  # SHA-256 hex of the secret after its prefix
    redacted_value: str  # sk_gom_...abcd
    created_at: datetime  # aware, UTC
    updated_at: datetime
    description: str = ""
    user_path: str | None = None  # normalised; None: the key does not set the request's path
    enabled: bool = True
    expires_at: datetime | None = None
    deactivated_at: datetime | None = None
    # Model selectors the key may use (gomodel.keys.models); None: every model.
    allowed_models: tuple[str, ...] | None = None
    # The same selectors as a set, for the per-request check.
    allowed_set: frozenset[str] | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        allowed = None if self.allowed_models is None else frozenset(self.allowed_models)
        object.__setattr__(self, "allowed_set", allowed)

    def state(self, now: datetime) -> KeyState:
        if not self.enabled or self.deactivated_at is not None:
            return KeyState.DEACTIVATED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE

    def is_active(self, now: datetime) -> bool:
        return self.state(now) is KeyState.ACTIVE

    def view(self, now: datetime) -> dict[str, Any]:
        """The admin API's JSON for this key: never the secret nor its hash. Empty and unset
        fields are left out, as GOModel's ``omitempty`` does."""
        doc: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.description:
            doc["description"] = self.description
        if self.user_path is not None:
            doc["user_path"] = self.user_path
        if self.allowed_models is not None:
            doc["allowed_models"] = list(self.allowed_models)
        doc["redacted_value"] = self.redacted_value
        doc["enabled"] = self.enabled
        if self.expires_at is not None:
            doc["expires_at"] = rfc3339(self.expires_at)
        if self.deactivated_at is not None:
            doc["deactivated_at"] = rfc3339(self.deactivated_at)
        doc["created_at"] = rfc3339(self.created_at)
        doc["updated_at"] = rfc3339(self.updated_at)
        doc["active"] = self.is_active(now)
        return doc


def rfc3339(instant: datetime) -> str:
    """UTC with a ``Z`` and no trailing zeros in the fraction, as Go's RFC3339Nano prints it:
    ``2026-04-01T12:00:00Z``, ``2026-04-01T12:00:00.25Z``."""
    text = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"
