"""The small routes: ``/health`` (alive), ``/ready`` (able to serve) and ``/v1/models``.

``/v1/models`` lists every provider's models as ``<provider>/<model>`` and every virtual model
by its name (owned by the provider of its first target, as GOModel lists aliases), sorted by
id; with ``KEEP_ONLY_ALIASES_AT_MODELS_ENDPOINT`` only the virtual models.

``/ready`` is 503 while the model lists load or usage storage does not answer, else 200 with
``{"status": "ready"}``, plus ``"warnings": [...]`` when the usage recorder has something an
operator must look at (see docs/usage.md).
"""

from __future__ import annotations

import logging

import trio

from gomodel.app.render import send_json
from gomodel.errors import InvalidRequest, ModelNotFound, UpstreamUnavailable
from gomodel.pipeline.context import RequestContext
from gomodel.routing.catalog import Catalog
from gomodel.routing.resolve import resolve
from gomodel.routing.virtual import Routing, VirtualModel
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
    runtime = ctx.runtime
    data: list[dict[str, object]] = []
    if not runtime.config.keep_only_aliases_at_models_endpoint:
        data = [
            {"id": qualified, "object": "model", "created": model.created, "owned_by": provider}
            for qualified, provider, model in runtime.catalog.listing()
        ]
    for virtual in runtime.routing.virtual_models.values():
        owner = _owner(virtual, runtime.catalog, runtime.routing, set())
        data.append({"id": virtual.name, "object": "model", "created": 0, "owned_by": owner})
    data.sort(key=lambda model: str(model["id"]))
    await send_json(ctx.send, 200, {"object": "list", "data": data}, ctx.headers)


def _owner(virtual: VirtualModel, catalog: Catalog, routing: Routing, seen: set[str]) -> str:
    """The provider of the first target that resolves ("gomodel" if none does yet)."""
    seen.add(virtual.name)
    for target in virtual.targets:
        nested = routing.virtual_models.get(target.model) if target.provider is None else None
        if nested is not None:
            if nested.name not in seen:
                return _owner(nested, catalog, routing, seen)
            continue
        try:
            return resolve(target.model, target.provider, catalog).provider
        except (ModelNotFound, InvalidRequest):
            continue
    return "gomodel"
