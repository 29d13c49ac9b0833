"""Audit records for tests."""

from __future__ import annotations

from typing import Any

from gomodel.audit.entry import AuditRecord


def record(**overrides: Any) -> AuditRecord:
    values: dict[str, Any] = {
        "received_at": 1_700_000_000.0,
        "request_id": "req-1",
        "key_id": None,
        "auth_method": "master_key",
        "user_path": "/",
        "client": "127.0.0.1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "route": "chat",
        "provider": "openai",
        "provider_type": "openai",
        "requested_model": "gpt-4o",
        "model": "gpt-4o",
        "route_kind": "passthrough",
        "stream": False,
        "status": 200,
        "termination": "completed",
        "attempts": 1,
        "duration_ms": 12.5,
        "ttfb_ms": 12.0,
        "overhead_ms": 0.4,
    }
    values.update(overrides)
    return AuditRecord(**values)
