"""A managed key's state and its admin view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from gomodel.keys.record import AuthKey, KeyState, rfc3339

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
KEY = AuthKey(
    id="0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11",
    name="ci",
    secret_hash="ab" * 32,
    redacted_value="sk_gom_...wxyz",
    created_at=NOW - timedelta(days=1),
    updated_at=NOW - timedelta(days=1),
)


@pytest.mark.parametrize(
    ("changes", "state"),
    [
        ({}, KeyState.ACTIVE),
        ({"expires_at": NOW + timedelta(seconds=1)}, KeyState.ACTIVE),
        ({"expires_at": NOW}, KeyState.EXPIRED),  # expiry is "not after now", as GOModel
        ({"expires_at": NOW - timedelta(seconds=1)}, KeyState.EXPIRED),
        ({"deactivated_at": NOW, "enabled": False}, KeyState.DEACTIVATED),
        ({"enabled": False}, KeyState.DEACTIVATED),
        ({"deactivated_at": NOW, "expires_at": NOW - timedelta(days=1)}, KeyState.DEACTIVATED),
    ],
)
def test_state(changes: dict[str, object], state: KeyState) -> None:
    """Active = enabled, not deactivated, not expired."""
    key = attrs.evolve(KEY, **changes)  # type: ignore[arg-type]
    assert key.state(NOW) is state
    assert key.is_active(NOW) is (state is KeyState.ACTIVE)


def test_view_has_no_secret_and_omits_unset_fields() -> None:
    """The admin view: GOModel's fields, ``active``, never the hash; empty fields left out."""
    assert KEY.view(NOW) == {
        "id": KEY.id,
        "name": "ci",
        "redacted_value": "sk_gom_...wxyz",
        "enabled": True,
        "created_at": "2026-03-31T12:00:00Z",
        "updated_at": "2026-03-31T12:00:00Z",
        "active": True,
    }
    full = attrs.evolve(
        KEY,
        description="for CI",
        user_path="/team/a",
        allowed_models=("openai/*",),
        expires_at=NOW + timedelta(microseconds=250000),
        deactivated_at=NOW,
        enabled=False,
    )
    view = full.view(NOW)
    assert view["description"] == "for CI"
    assert view["user_path"] == "/team/a"
    assert view["allowed_models"] == ["openai/*"]
    assert view["expires_at"] == "2026-04-01T12:00:00.25Z"
    assert view["deactivated_at"] == "2026-04-01T12:00:00Z"
    assert view["active"] is False
    assert "secret_hash" not in view and KEY.secret_hash not in str(view)


def test_repr_hides_the_hash() -> None:
    """Even the hash stays out of logs."""
    assert KEY.secret_hash not in repr(KEY)


def test_rfc3339_is_utc() -> None:
    """Any offset is printed as UTC with a Z."""
    east = datetime(2026, 4, 1, 14, 0, 0, 123000, tzinfo=UTC).astimezone()
    assert rfc3339(east) == "2026-04-01T14:00:00.123Z"
