"""The whole HTTP API on one screen: path -> method -> handler."""

from __future__ import annotations

from gomodel.app.basic import health, list_models
from gomodel.app.chat import chat_completions
from gomodel.app.context import Handler

__all__ = ["PUBLIC", "ROUTES"]

ROUTES: dict[str, dict[str, Handler]] = {
    "/health": {"GET": health},
    "/v1/models": {"GET": list_models},
    "/v1/chat/completions": {"POST": chat_completions},
}

# Paths served without authentication.
PUBLIC = frozenset({"/health"})
