"""The small routes: ``/health`` (alive), ``/ready`` (able to serve) and ``/v1/models``.

``/ready`` is 503 while the model lists load or usage storage does not answer, else 200 with
``{"status": "ready"}``, plus ``"warnings": [...]`` when the usage recorder has something an
operator must look at (see docs/usage.md).
"""

from __future__ import annotations

import logging

import trio

from gomodel.app.render import send_json
from gomodel.errors import UpstreamUnavailable
from gomodel.pipeline.context import RequestContext
from gomodel.storage.recorder import UsageRecorder

__all__ = ["health", "list_models", "ready"]

log = logging.getLogger("gomodel")

# The storage check of the readiness probe gives up after this long.
READY_STORAGE_TIMEOUT = 2.0


async def health(ctx: RequestContext) -> None:
    await send_json(ctx.send, 200, {"status": "ok"}, ctx.headers)


async def ready(ctx: RequestContext) -> None:
    """200 once the model lists are loaded and usage storage answers; 503 naming what is not.
    The storage's own error goes to the log only: the probe answers anyone."""
    runtime = ctx.runtime
    if not runtime.initial_load.is_set():
        raise UpstreamUnavailable("not ready: the model lists are still loading", code="not_ready")
    if runtime.store is not None:
        try:
            with trio.fail_after(READY_STORAGE_TIMEOUT):
                await trio.to_thread.run_sync(runtime.store.ping, abandon_on_cancel=True)
        except Exception as exc:
            # The probe answers anyone: the driver's message (host, port, user name) goes to
            # the log only.
            detail = (
                f"no answer within {READY_STORAGE_TIMEOUT:g} s"
                if isinstance(exc, trio.TooSlowError)
                else str(exc) or type(exc).__name__
            )
            log.warning("not ready: usage storage does not answer: %s", detail)
            raise UpstreamUnavailable("not ready: usage storage does not answer", code="not_ready")
    # Alarms that need an operator but not a restart (quarantined usage rows, a failing spill
    # file, dropped rows) keep the answer 200: the gateway serves and records, and taking it
    # out of the load balancer would repair nothing.
    usage = runtime.usage
    warnings = usage.alarms() if isinstance(usage, UsageRecorder) else ()
    body: dict[str, object] = {"status": "ready"}
    if warnings:
        body["warnings"] = list(warnings)
    await send_json(ctx.send, 200, body, ctx.headers)


async def list_models(ctx: RequestContext) -> None:
    data = [
        {"id": qualified, "object": "model", "created": model.created, "owned_by": provider}
        for qualified, provider, model in ctx.runtime.catalog.listing()
    ]
    await send_json(ctx.send, 200, {"object": "list", "data": data}, ctx.headers)
