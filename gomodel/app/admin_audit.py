"""``GET /admin/api/v1/audit/log`` (filtered, newest first, cursor pages) and
``GET /admin/api/v1/audit/log/{request_id}``; also under the short ``/admin/audit/log``.

The master key only: when a master key is set, no other credential (a managed key) may read
the audit log, which holds other clients' requests. Queries run in a worker thread. With
``LOGGING_ENABLED`` off there is no audit log: the list is empty and an entry is 404 (the
query is still checked, so a bad filter is a 400 either way).
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote

import trio

from gomodel.app.render import send_json
from gomodel.audit.query import parse_audit_query
from gomodel.errors import NotFound, PermissionDenied
from gomodel.ingress.auth import AuthMethod
from gomodel.pipeline.context import RequestContext

__all__ = ["AUDIT_ENTRY_PREFIXES", "audit_entry", "audit_log"]

AUDIT_ENTRY_PREFIXES = ("/admin/api/v1/audit/log/", "/admin/audit/log/")


def _master_only(ctx: RequestContext) -> None:
    if ctx.runtime.config.master_key and ctx.principal.method is not AuthMethod.MASTER_KEY:
        raise PermissionDenied("the audit log is for the master key only", code="master_key_only")


async def audit_log(ctx: RequestContext) -> None:
    _master_only(ctx)
    params = parse_qs(ctx.snapshot.query.decode("latin-1"), keep_blank_values=True)
    query = parse_audit_query(params)
    store = ctx.runtime.audit
    if store is None:
        page: dict[str, object] = {"entries": [], "next_cursor": None, "limit": query.limit}
    else:
        page = await trio.to_thread.run_sync(store.page, query)
    await send_json(ctx.send, 200, page, ctx.headers)


async def audit_entry(ctx: RequestContext) -> None:
    _master_only(ctx)
    path = ctx.snapshot.path
    prefix = next(p for p in AUDIT_ENTRY_PREFIXES if path.startswith(p))
    request_id = unquote(path.removeprefix(prefix))
    if ctx.snapshot.method != "GET" or not request_id or "/" in request_id:
        raise NotFound(f"unknown route: {ctx.snapshot.method} {path}", code="unknown_route")
    store = ctx.runtime.audit
    entry = (
        None if store is None else await trio.to_thread.run_sync(store.by_request_id, request_id)
    )
    if entry is None:
        raise NotFound(
            f"no audit entry for request id {request_id!r}", code="audit_entry_not_found"
        )
    await send_json(ctx.send, 200, entry.view(), ctx.headers)
