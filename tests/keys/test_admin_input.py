"""What the admin API accepts for managed keys: every problem a 400 naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from gomodel.errors import BodyTooLarge, InvalidRequest
from gomodel.keys.admin_input import (
    MAX_BODY_BYTES,
    NewKey,
    parse_allowed_models_update,
    parse_empty_body,
    parse_key_id,
    parse_new_key,
)

NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def _new(doc: object) -> NewKey:
    return parse_new_key(orjson.dumps(doc), NOW)


def test_minimal_and_full_bodies() -> None:
    """Only ``name`` is required; the rest is normalised."""
    assert _new({"name": "ci"}) == NewKey(name="ci")
    got = _new(
        {
            "name": "  ci bot ",
            "description": " runs nightly\nfor team A ",
            "user_path": " team//a/ ",
            "expires_at": "2026-04-01T14:00:00.123456789+02:00",
            "allowed_models": ["openai/", "gpt-4o", "openai/*"],
        }
    )
    assert got == NewKey(
        name="ci bot",
        description="runs nightly\nfor team A",
        user_path="/team/a",
        expires_at=datetime(2026, 4, 1, 12, 0, 0, 123456, tzinfo=UTC),
        allowed_models=("openai/*", "gpt-4o"),  # repeats dropped, order kept
    )


def test_nulls_and_empty_user_path_mean_unset() -> None:
    """``null`` for an optional field is the same as leaving it out; ``""`` is no user path."""
    got = _new(
        {
            "name": "x",
            "description": None,
            "user_path": " ",
            "expires_at": None,
            "allowed_models": None,
        }
    )
    assert got == NewKey(name="x")
    assert _new({"name": "x", "user_path": "/"}).user_path == "/"


BAD_CREATE = [
    (b"", None),
    (b"not json", None),
    (b"[]", None),
    (b'{"name": NaN}', None),
    ({}, "name"),
    ({"name": None}, "name"),
    ({"name": 7}, "name"),
    ({"name": True}, "name"),
    ({"name": ["ci"]}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "a" * 201}, "name"),
    ({"name": "tab\there"}, "name"),
    ({"name": "nul\x00"}, "name"),
    ({"name": "ci", "nmae": "typo"}, "nmae"),
    ({"name": "ci", "enabled": False}, "enabled"),
    ({"name": "ci", "value": "sk_gom_mine"}, "value"),
    ({"name": "ci", "description": 1}, "description"),
    ({"name": "ci", "description": "x" * 2001}, "description"),
    ({"name": "ci", "description": "bell\x07"}, "description"),
    ({"name": "ci", "user_path": 3}, "user_path"),
    ({"name": "ci", "user_path": "/a/../b"}, "user_path"),
    ({"name": "ci", "user_path": "/a:b"}, "user_path"),
    ({"name": "ci", "user_path": "/caf\u00e9"}, "user_path"),
    ({"name": "ci", "user_path": "/" + "a" * 1024}, "user_path"),
    ({"name": "ci", "expires_at": 1775000000}, "expires_at"),
    ({"name": "ci", "expires_at": "2030-01-01"}, "expires_at"),
    ({"name": "ci", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),  # no offset
    ({"name": "ci", "expires_at": "2030-01-01 00:00:00Z"}, "expires_at"),
    ({"name": "ci", "expires_at": "20300101T000000Z"}, "expires_at"),
    ({"name": "ci", "expires_at": "2030-02-30T00:00:00Z"}, "expires_at"),
    ({"name": "ci", "expires_at": "2030-01-01T00:00:60Z"}, "expires_at"),
    ({"name": "ci", "expires_at": "tomorrow"}, "expires_at"),
    ({"name": "ci", "expires_at": "2026-04-01T12:00:00Z"}, "expires_at"),  # now: not future
    ({"name": "ci", "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
    ({"name": "ci", "allowed_models": "gpt-4o"}, "allowed_models"),
    ({"name": "ci", "allowed_models": {"gpt-4o": True}}, "allowed_models"),
    ({"name": "ci", "allowed_models": []}, "allowed_models"),
    ({"name": "ci", "allowed_models": ["gpt-4o", 1]}, "allowed_models[1]"),
    ({"name": "ci", "allowed_models": [None]}, "allowed_models[0]"),
    ({"name": "ci", "allowed_models": [""]}, "allowed_models[0]"),
    ({"name": "ci", "allowed_models": ["gpt 4o"]}, "allowed_models[0]"),
    ({"name": "ci", "allowed_models": ["*"]}, "allowed_models[0]"),
    ({"name": "ci", "allowed_models": [f"m{i}" for i in range(257)]}, "allowed_models"),
]


@pytest.mark.parametrize(("body", "param"), BAD_CREATE)
def test_bad_create_bodies(body: bytes | dict[str, object], param: str | None) -> None:
    """Wrong types, unknown fields, bad values: a 400 whose param names the field."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    with pytest.raises(InvalidRequest) as caught:
        parse_new_key(raw, NOW)
    assert caught.value.status == 400
    assert caught.value.param == param
    if param is not None:
        assert param.partition("[")[0] in caught.value.message


def test_huge_body_is_413() -> None:
    """A body over the admin limit is refused before it is parsed."""
    body = orjson.dumps({"name": "ci", "description": "x" * MAX_BODY_BYTES})
    with pytest.raises(BodyTooLarge) as caught:
        parse_new_key(body, NOW)
    assert caught.value.status == 413
    with pytest.raises(BodyTooLarge):
        parse_allowed_models_update(b" " * (MAX_BODY_BYTES + 1))


def test_allowed_models_update() -> None:
    """``allowed_models`` is required: a list of selectors, or null for every model."""
    assert parse_allowed_models_update(b'{"allowed_models": ["openai/"]}') == ("openai/*",)
    assert parse_allowed_models_update(b'{"allowed_models": null}') is None
    for body, param in [
        (b"{}", "allowed_models"),
        (b'{"allowed_models": null, "name": "x"}', "name"),
        (b'{"allowed_models": "gpt-4o"}', "allowed_models"),
        (b'{"allowed_models": []}', "allowed_models"),
        (b'{"allowed_models": [{}]}', "allowed_models[0]"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            parse_allowed_models_update(body)
        assert caught.value.param == param, body


def test_empty_body() -> None:
    """Deactivate takes no input: nothing, or ``{}``."""
    parse_empty_body(b"")
    parse_empty_body(b"{}")
    for body in (b"[]", b'{"force": true}', b"x"):
        with pytest.raises(InvalidRequest):
            parse_empty_body(body)


def test_key_ids() -> None:
    """Canonical UUIDs only (any case, returned lower-case); anything else names ``id``."""
    assert (
        parse_key_id("0B6C8F3E-6F0E-4A55-9F59-2B1F1F0E9A11")
        == "0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11"
    )
    for bad in (
        "x",
        "0b6c8f3e6f0e4a559f592b1f1f0e9a11",
        "{0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11}",
        "urn:uuid:0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11",
        "0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a1g",
        "0b6c8f3e-6f0e-4a55-9f59-2b1f1f0e9a11 ",
        "' OR 1=1 --",
    ):
        with pytest.raises(InvalidRequest) as caught:
            parse_key_id(bad)
        assert caught.value.param == "id"
