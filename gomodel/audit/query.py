"""``GET /admin/api/v1/audit/log`` query parameters, checked whole, and the page cursor.

Filters (all optional, combined with AND):

* ``since``, ``until``: an RFC 3339 instant (``2025-01-31T12:00:00Z``, an offset, or a naive
  time read as UTC) or a date (``2025-01-31``: its start, UTC); ``since`` inclusive, ``until``
  exclusive;
* ``key_id``: a managed key's id; ``user_path``: that path and every path below it;
* ``model``: the requested or the resolved model; ``provider``: a provider name;
* ``status``: an HTTP status (100-599); ``request_id``: exactly;
* ``limit``: 1 to 200 (default 50); ``cursor``: the ``next_cursor`` of the previous page.

Newest first. A bad value is a 400 naming the parameter. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime

import attrs
import orjson

from gomodel.errors import InvalidRequest
from gomodel.ingress.user_path import normalize_user_path

__all__ = ["AuditQuery", "Cursor", "decode_cursor", "encode_cursor", "parse_audit_query"]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_KNOWN = frozenset(
    {"since", "until", "key_id", "user_path", "model", "provider", "status", "request_id"}
    | {"limit", "cursor"}
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@attrs.frozen
class Cursor:
    """The last entry of a page: the next page starts after it."""

    timestamp: datetime
    id: str


@attrs.frozen
class AuditQuery:
    since: datetime | None = None
    until: datetime | None = None
    key_id: str | None = None
    user_path: str | None = None
    model: str | None = None
    provider: str | None = None
    status: int | None = None
    request_id: str | None = None
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_query")


def _instant(param: str, text: str) -> datetime:
    try:
        if _DATE.fullmatch(text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        instant = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad(param, f"invalid {param}: expected an RFC 3339 time or YYYY-MM-DD")
    return instant.replace(tzinfo=UTC) if instant.utcoffset() is None else instant.astimezone(UTC)


def encode_cursor(cursor: Cursor) -> str:
    raw = orjson.dumps([cursor.timestamp.astimezone(UTC).isoformat(), cursor.id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        stamp, entry_id = orjson.loads(raw)
        cursor = Cursor(datetime.fromisoformat(stamp).astimezone(UTC), str(entry_id))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise _bad("cursor", "invalid cursor: pass the next_cursor of the previous page")
    if not re.fullmatch(r"[0-9a-f-]{36}", cursor.id):
        raise _bad("cursor", "invalid cursor: pass the next_cursor of the previous page")
    return cursor


def parse_audit_query(params: Mapping[str, Sequence[str]]) -> AuditQuery:
    """The query from ``parse_qs`` output; the first value of a repeated parameter counts."""
    unknown = sorted(set(params) - _KNOWN)
    if unknown:
        raise _bad(
            unknown[0], f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(_KNOWN))}"
        )
    one = {name: values[0].strip() for name, values in params.items() if values}
    values: dict[str, object] = {}
    for name in ("since", "until"):
        if one.get(name):
            values[name] = _instant(name, one[name])
    for name in ("key_id", "model", "provider", "request_id"):
        if one.get(name):
            if len(one[name]) > 256:
                raise _bad(name, f"invalid {name}: at most 256 characters")
            values[name] = one[name]
    if one.get("user_path"):
        try:
            values["user_path"] = normalize_user_path(one["user_path"].encode("utf-8"))
        except InvalidRequest:
            raise _bad("user_path", "invalid user_path: segments may not be . or .. or hold ':'")
    if "status" in one:
        status = one["status"]
        if not (status.isdigit() and len(status) == 3 and 100 <= int(status) <= 599):
            raise _bad("status", "invalid status: expected an HTTP status code (100-599)")
        values["status"] = int(status)
    if "limit" in one:
        limit = one["limit"]
        if not (limit.isdigit() and 1 <= int(limit) <= MAX_LIMIT):
            raise _bad("limit", f"invalid limit: expected an integer from 1 to {MAX_LIMIT}")
        values["limit"] = int(limit)
    if one.get("cursor"):
        values["after"] = decode_cursor(one["cursor"])
    query = AuditQuery(**values)  # type: ignore[arg-type]
    if query.since and query.until and query.since >= query.until:
        raise _bad("until", "invalid until: it must be later than since")
    return query
