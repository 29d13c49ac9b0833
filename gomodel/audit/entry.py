"""One audit log entry: what the request path captures (:class:`AuditRecord`, cheap: references
to bytes the request already holds), and what is stored (:class:`AuditEntry`), built from it by
the background writer, where the redaction, the cap and the JSON work happen.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from gomodel.audit.redact import Redactor
from gomodel.usage.extract import Usage

__all__ = ["COLUMNS", "AuditEntry", "AuditRecord", "entry_from_record"]

Headers = Sequence[tuple[bytes, bytes]]


@attrs.frozen(slots=True, kw_only=True)
class AuditRecord:
    received_at: float  # wall clock (epoch seconds): the request's arrival
    request_id: str
    key_id: str | None
    auth_method: str
    user_path: str
    client: str | None
    method: str
    path: str
    route: str  # the operation: chat, responses, embeddings, passthrough, ...
    provider: str
    provider_type: str
    requested_model: str
    model: str
    route_kind: str  # X-GoModel-Route: "passthrough", "rewrite; usage_injected", ...
    stream: bool
    status: int
    termination: str
    attempts: int
    duration_ms: float
    ttfb_ms: float | None
    overhead_ms: float
    usage: Usage | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # LOGGING_LOG_HEADERS
    request_headers: Headers | None = None
    response_headers: Headers | None = None
    # LOGGING_LOG_BODIES
    request_body: bytes | None = None
    response_body: bytes | None = None  # a non-streamed answer, as the client got it
    response_stream: Mapping[str, Any] | None = None  # a stream, reassembled


COLUMNS = (
    "id",
    "timestamp",
    "request_id",
    "key_id",
    "auth_method",
    "user_path",
    "client",
    "method",
    "path",
    "route",
    "provider",
    "provider_type",
    "requested_model",
    "model",
    "route_kind",
    "stream",
    "status",
    "termination",
    "error_type",
    "error_code",
    "error_message",
    "duration_ms",
    "ttfb_ms",
    "overhead_ms",
    "attempts",
    "input_tokens",
    "output_tokens",
    "data",
)


@attrs.frozen(kw_only=True)
class AuditEntry:
    """The stored shape, one attribute per column (``data``: the JSON column)."""

    id: str
    timestamp: datetime
    request_id: str
    key_id: str | None
    auth_method: str
    user_path: str
    client: str | None
    method: str
    path: str
    route: str
    provider: str
    provider_type: str
    requested_model: str
    model: str
    route_kind: str
    stream: bool
    status: int
    termination: str
    error_type: str | None
    error_code: str | None
    error_message: str | None
    duration_ms: float
    ttfb_ms: float | None
    overhead_ms: float
    attempts: int
    input_tokens: int
    output_tokens: int
    data: Mapping[str, Any]

    def view(self) -> dict[str, Any]:
        """The admin API's JSON object."""
        view = attrs.asdict(self, recurse=False)
        view["timestamp"] = self.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z")
        view["data"] = dict(self.data)
        return view


def _text(value: str) -> str:
    """Storable text: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _opt(value: str | None) -> str | None:
    return None if value is None else _text(value)


def entry_from_record(
    record: AuditRecord, redactor: Redactor, *, cap: int, entry_id: str | None = None
) -> AuditEntry:
    """The entry to store: secrets redacted, bodies capped (the cap and sizes recorded)."""
    data: dict[str, Any] = {}
    if record.request_headers is not None:
        data["request_headers"] = redactor.headers(record.request_headers)
    if record.response_headers is not None:
        data["response_headers"] = redactor.headers(record.response_headers)
    if record.request_body is not None:
        body = redactor.body(record.request_body, cap)
        data["request_body"] = body.value
        data["request_body_size"] = body.size
        data["request_body_truncated"] = body.truncated
        data["body_cap"] = cap
    if record.response_stream is not None:
        data["response_body"] = redactor.value(record.response_stream)
        data["response_body_truncated"] = bool(record.response_stream.get("truncated"))
        data["body_cap"] = cap
    elif record.response_body is not None:
        body = redactor.body(record.response_body, cap)
        data["response_body"] = body.value
        data["response_body_size"] = body.size
        data["response_body_truncated"] = body.truncated
        data["body_cap"] = cap
    usage = record.usage
    return AuditEntry(
        id=entry_id or str(uuid.uuid4()),
        timestamp=datetime.fromtimestamp(record.received_at, UTC),
        request_id=_text(record.request_id),
        key_id=_opt(record.key_id),
        auth_method=record.auth_method,
        user_path=_text(record.user_path),
        client=_opt(record.client),
        method=_text(record.method),
        path=_text(record.path),
        route=record.route,
        provider=_text(record.provider),
        provider_type=record.provider_type,
        requested_model=_text(record.requested_model),
        model=_text(record.model),
        route_kind=record.route_kind,
        stream=record.stream,
        status=record.status,
        termination=record.termination,
        error_type=record.error_type,
        error_code=_opt(record.error_code),
        error_message=None
        if record.error_message is None
        else _text(redactor.text(record.error_message)),
        duration_ms=record.duration_ms,
        ttfb_ms=record.ttfb_ms,
        overhead_ms=record.overhead_ms,
        attempts=record.attempts,
        input_tokens=usage.input_tokens if usage else 0,
        output_tokens=usage.output_tokens if usage else 0,
        data=data,
    )
