"""What the admin API accepts for managed keys, checked before anything is stored. Pure.

Every problem is a 400 (413 for a body over :data:`MAX_BODY_BYTES`) whose ``param`` names the
field: a wrong JSON type, an unknown field, a name that is empty, too long or not printable, an
``expires_at`` that is not RFC 3339 with an offset or is not in the future, an invalid
``user_path``, an allow-list entry that is not a valid selector. Nothing is written unless the
whole request is valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from gomodel.errors import BodyTooLarge, InvalidRequest
from gomodel.ingress.semantics import parse_json_object
from gomodel.ingress.user_path import normalize_user_path
from gomodel.keys.models import normalize_model_selector

__all__ = [
    "MAX_ALLOWED_MODELS",
    "MAX_BODY_BYTES",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_NAME_LENGTH",
    "NewKey",
    "parse_allowed_models_update",
    "parse_empty_body",
    "parse_key_id",
    "parse_new_key",
]

MAX_BODY_BYTES = 128 * 1024
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 2000
MAX_USER_PATH_LENGTH = 1024
MAX_ALLOWED_MODELS = 256

_CREATE_FIELDS = ("name", "description", "user_path", "expires_at", "allowed_models")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# RFC 3339 section 5.6: a full date, "T", a full time with an optional fraction, an offset.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(?:[Zz]|[+-]\d{2}:\d{2})"
)


@attrs.frozen(kw_only=True)
class NewKey:
    """A valid ``POST auth-keys`` body."""

    name: str
    description: str = ""
    user_path: str | None = None
    expires_at: datetime | None = None
    allowed_models: tuple[str, ...] | None = None


def parse_new_key(body: bytes, now: datetime) -> NewKey:
    """``{name, description?, user_path?, expires_at?, allowed_models?}``; ``now`` (aware) is
    what ``expires_at`` must be later than."""
    doc = _object(body, _CREATE_FIELDS)
    if "name" not in doc or doc["name"] is None:
        raise InvalidRequest("name is required", param="name")
    return NewKey(
        name=_name(doc["name"]),
        description=_description(doc.get("description")),
        user_path=_user_path(doc.get("user_path")),
        expires_at=_expires_at(doc.get("expires_at"), now),
        allowed_models=_allowed_models(doc.get("allowed_models")),
    )


def parse_allowed_models_update(body: bytes) -> tuple[str, ...] | None:
    """``{"allowed_models": [...] | null}``: the field is required; ``null`` allows every
    model."""
    doc = _object(body, ("allowed_models",))
    if "allowed_models" not in doc:
        raise InvalidRequest(
            "allowed_models is required (a list of model selectors, or null for every model)",
            param="allowed_models",
        )
    return _allowed_models(doc["allowed_models"])


def parse_empty_body(body: bytes) -> None:
    """A route that takes no input accepts no body or ``{}``."""
    if body.strip():
        _object(body, ())


def parse_key_id(text: str) -> str:
    """A key id from a path: a UUID in its canonical 8-4-4-4-12 form, returned lower-case."""
    if not _UUID.fullmatch(text):
        shown = text if len(text) <= 64 and text.isprintable() else text[:64].encode()
        raise InvalidRequest(f"invalid auth key id {shown!r}: expected a UUID", param="id")
    return text.lower()


# -- fields ----------------------------------------------------------------------------------


def _object(body: bytes, known: Iterable[str]) -> Mapping[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"the request body is larger than the admin API's limit of {MAX_BODY_BYTES} bytes",
            code="body_too_large",
        )
    doc = parse_json_object(body)
    unknown = sorted(set(doc) - set(known))
    if unknown:
        expected = ", ".join(known) or "none"
        raise InvalidRequest(
            f"unknown field '{unknown[0]}'; expected fields: {expected}", param=unknown[0]
        )
    return doc


def _wrong_type(field: str, expected: str, value: object) -> InvalidRequest:
    return InvalidRequest(f"{field} must be {expected}, got {_json_type(value)}", param=field)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _name(value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type("name", "a string", value)
    name = value.strip()
    if not name:
        raise InvalidRequest("name must not be empty", param="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(f"name must be at most {MAX_NAME_LENGTH} characters", param="name")
    if not name.isprintable():
        raise InvalidRequest("name must contain only printable characters", param="name")
    return name


def _description(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _wrong_type("description", "a string", value)
    text = value.strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise InvalidRequest(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters",
            param="description",
        )
    if not all(ch.isprintable() or ch in "\n\t" for ch in text):
        raise InvalidRequest(
            "description must not contain control characters other than newline and tab",
            param="description",
        )
    return text


def _user_path(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type("user_path", "a string", value)
    if not value.strip():
        return None  # as GOModel: an empty user path is no user path
    if len(value) > MAX_USER_PATH_LENGTH:
        raise InvalidRequest(
            f"user_path must be at most {MAX_USER_PATH_LENGTH} characters", param="user_path"
        )
    try:
        return normalize_user_path(value.encode("utf-8"))
    except InvalidRequest:
        raise InvalidRequest(
            "invalid user_path: expected ASCII segments separated by '/', without '.', '..' "
            "or ':' segments",
            param="user_path",
        )


def _expires_at(value: object, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type("expires_at", "an RFC 3339 timestamp string", value)
    match = _RFC3339.fullmatch(value)
    try:
        if match is None:
            raise ValueError
        # Python keeps microseconds: a finer fraction is cut, never rounded into the future.
        fraction = match.group(1)
        text = value.upper()
        if fraction is not None and len(fraction) > 6:
            text = text.replace("." + fraction, "." + fraction[:6], 1)
        instant = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"expires_at must be an RFC 3339 timestamp with an offset, such as "
            f"2030-01-31T12:00:00Z; got {value[:64]!r}",
            param="expires_at",
        )
    if instant <= now:
        raise InvalidRequest("expires_at must be in the future", param="expires_at")
    return instant


def _allowed_models(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _wrong_type("allowed_models", "an array of model selectors or null", value)
    if not value:
        raise InvalidRequest(
            "allowed_models must not be empty: use null to allow every model, or deactivate "
            "the key",
            param="allowed_models",
        )
    if len(value) > MAX_ALLOWED_MODELS:
        raise InvalidRequest(
            f"allowed_models may hold at most {MAX_ALLOWED_MODELS} selectors",
            param="allowed_models",
        )
    selectors: dict[str, None] = {}  # ordered, without repeats
    for index, entry in enumerate(value):
        field = f"allowed_models[{index}]"
        if not isinstance(entry, str):
            raise _wrong_type(field, "a string", entry)
        try:
            selectors[normalize_model_selector(entry)] = None
        except ValueError as exc:
            raise InvalidRequest(f"{field} {exc}", param=field)
    return tuple(selectors)
