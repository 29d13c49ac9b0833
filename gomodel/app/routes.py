"""The whole HTTP API on one screen: path -> method -> handler."""

from __future__ import annotations

from gomodel.app.admin import (
    usage_daily,
    usage_log,
    usage_models,
    usage_summary,
    usage_user_paths,
)
from gomodel.app.admin_audit import AUDIT_ENTRY_PREFIXES, audit_entry, audit_log
from gomodel.app.admin_keys import (
    AUTH_KEY_PREFIXES,
    auth_key_item,
    create_auth_key,
    list_auth_keys,
)
from gomodel.app.admin_limits import (
    BUDGET_PREFIXES,
    RATE_PREFIXES,
    budget_item,
    list_budgets,
    list_rates,
    rate_item,
)
from gomodel.app.admin_status import providers_status
from gomodel.app.basic import health, list_models, ready
from gomodel.app.chat import chat_completions
from gomodel.app.count_tokens import count_tokens
from gomodel.app.embeddings import embeddings
from gomodel.app.messages import messages
from gomodel.app.passthrough import PREFIX, passthrough
from gomodel.app.render import Envelope
from gomodel.app.responses import responses
from gomodel.app.responses_lifecycle import PREFIX as RESPONSES_PREFIX
from gomodel.app.responses_lifecycle import response_lifecycle
from gomodel.app.usage_self import own_usage
from gomodel.pipeline.context import Handler

__all__ = ["ENVELOPES", "PREFIXES", "PUBLIC", "ROUTES", "envelope_for"]

ROUTES: dict[str, dict[str, Handler]] = {
    "/health": {"GET": health},
    "/ready": {"GET": ready},
    "/v1/models": {"GET": list_models},
    "/v1/chat/completions": {"POST": chat_completions},
    "/v1/embeddings": {"POST": embeddings},
    "/v1/responses": {"POST": responses},
    "/v1/usage": {"GET": own_usage},
    "/v1/messages": {"POST": messages},
    "/v1/messages/count_tokens": {"POST": count_tokens},
    "/admin/api/v1/usage/summary": {"GET": usage_summary},
    "/admin/api/v1/usage/daily": {"GET": usage_daily},
    "/admin/api/v1/usage/models": {"GET": usage_models},
    "/admin/api/v1/usage/user-paths": {"GET": usage_user_paths},
    "/admin/api/v1/usage/log": {"GET": usage_log},
    "/admin/api/v1/auth-keys": {"GET": list_auth_keys, "POST": create_auth_key},
    "/admin/auth-keys": {"GET": list_auth_keys, "POST": create_auth_key},
    "/admin/api/v1/budgets": {"GET": list_budgets},
    "/admin/budgets": {"GET": list_budgets},
    "/admin/api/v1/rate-limits": {"GET": list_rates},
    "/admin/rate-limits": {"GET": list_rates},
    "/admin/api/v1/audit/log": {"GET": audit_log},
    "/admin/audit/log": {"GET": audit_log},
    "/admin/api/v1/providers/status": {"GET": providers_status},
}

# Path prefixes whose handler takes every method and the rest of the path.
PREFIXES: tuple[tuple[str, Handler], ...] = (
    (PREFIX, passthrough),
    (RESPONSES_PREFIX, response_lifecycle),  # {id}, {id}/cancel, {id}/input_items, input_tokens
    # {id}/deactivate (POST), {id}/allowed-models (PUT)
    *((prefix, auth_key_item) for prefix in AUTH_KEY_PREFIXES),
    *((prefix, budget_item) for prefix in BUDGET_PREFIXES),  # {scope}/{period} (PUT, DELETE)
    *((prefix, rate_item) for prefix in RATE_PREFIXES),  # {scope} (PUT, DELETE)
    *((prefix, audit_entry) for prefix in AUDIT_ENTRY_PREFIXES),  # {request_id} (GET)
)

# Paths served without authentication.
PUBLIC = frozenset({"/health", "/ready"})

# The paths that speak another API than OpenAI's, with everything under them: every error on
# them (authentication, body limits, unknown routes and methods, the handler's own) is rendered
# in that API's envelope (gomodel.app.render). Every other path speaks OpenAI's.
ENVELOPES: tuple[tuple[str, Envelope], ...] = (("/v1/messages", Envelope.ANTHROPIC),)


def envelope_for(path: str) -> Envelope:
    """The error envelope ``path`` speaks."""
    for prefix, envelope in ENVELOPES:
        if path == prefix or path.startswith(prefix + "/"):
            return envelope
    return Envelope.OPENAI
