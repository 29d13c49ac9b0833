"""``/p/{provider}/{endpoint...}``: a provider's own API, with the gateway's auth, request id,
deadlines, disconnect handling and usage around it (SPEC §4.7).

The provider segment is a configured provider name or a provider type, which must be in
``ENABLED_PASSTHROUGH_PROVIDERS``; ``/p/openai/v1/...`` means ``/p/openai/...`` unless
``ALLOW_PASSTHROUGH_V1_ALIAS`` is off. Method, query string and body go upstream as they are;
the endpoint is rebuilt segment by segment from the raw path (:mod:`gomodel.ingress.paths`).
Headers cross on allow-lists both ways (:mod:`gomodel.providers.passthrough_headers`); the
provider's own auth is added. A request whose JSON body asks for ``"stream":
true`` goes through the stream relay (events relayed verbatim, usage observed for
``openai`` chat completions and ``anthropic`` messages); any other answer is relayed with its
status and headers. Upstream errors (>= 400) become the OpenAI error envelope.

A provider with deployments is one provider here too: the call goes to one of its deployments
(by its strategy) and fails over to the next. Only a request that may be sent again is retried
after the provider saw it (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``, or any request
with ``Idempotency-Key``); any other is retried only when it never reached the provider.
"""

from __future__ import annotations

from gomodel.errors import InvalidRequest, PermissionDenied
from gomodel.ingress.paths import passthrough_path, upstream_query
from gomodel.ingress.semantics import parse_passthrough
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer
from gomodel.pipeline.plan import Plan, Target
from gomodel.pipeline.run import authorize, identify, serve, with_alternatives
from gomodel.providers.client import Provider
from gomodel.providers.endpoints import upstream_headers
from gomodel.providers.passthrough_headers import request_headers_for, response_headers_for
from gomodel.relay.unary import UnaryResult
from gomodel.routing.catalog import Catalog
from gomodel.routing.decision import decide
from gomodel.routing.resolve import Resolution
from gomodel.routing.targets import deployments
from gomodel.translate.anthropic_observe import AnthropicStreamObserver
from gomodel.translate.anthropic_response import usage_from_anthropic
from gomodel.translate.stage import StreamStage, Verbatim
from gomodel.usage.chat_stream import ChatStreamObserver
from gomodel.usage.extract import usage_from_object

__all__ = ["PREFIX", "passthrough"]

PREFIX = "/p/"
# Methods that may be sent again (with Idempotency-Key, any method may).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


async def passthrough(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    config = runtime.config
    if not config.enable_passthrough_routes:
        raise InvalidRequest("provider passthrough routes are disabled (ENABLE_PASSTHROUGH_ROUTES)")
    place = passthrough_path(ctx.snapshot.raw_path, ctx.snapshot.path)
    segment = place.provider
    name = _provider_named(runtime.catalog, segment)
    enabled = config.enabled_passthrough_providers
    if name is None or runtime.catalog.types[name] not in enabled:
        what = "not configured" if name is None else "not enabled"
        raise InvalidRequest(
            f"provider passthrough for {segment!r} is {what}; enabled provider types: "
            + (", ".join(enabled) or "none"),
            param="provider",
        )
    if place.v1_alias and not config.allow_passthrough_v1_alias:
        raise InvalidRequest(
            "provider passthrough v1 alias is disabled; use /p/{provider}/... without v1"
        )
    endpoint = place.upstream_endpoint
    if not endpoint:
        raise InvalidRequest("provider passthrough endpoint is required")
    identify(ctx)
    semantics = parse_passthrough(ctx.snapshot.body)
    key = ctx.principal.key
    if key is not None and key.allowed_models is not None and not semantics.model:
        raise PermissionDenied(
            "this API key may use listed models only; a passthrough call must name its "
            "model in the body",
            param="model",
            code="model_not_allowed",
        )
    # A provider with deployments: every deployment, in its strategy's order.
    selection = deployments(
        Resolution(name, semantics.model, semantics.model, qualified=False),
        runtime.catalog,
        runtime.routing,
        runtime.fleet,
        sticky_key=ctx.principal.key_id or ctx.user_path,
    )
    targets: list[Target] = []
    for resolution in selection.targets:
        provider = runtime.providers[resolution.provider]
        if key is not None and key.allowed_models is not None:
            authorize(ctx, resolution, provider)  # the same for every deployment
        route = decide(semantics, resolution, provider.spec, runtime.policy)
        targets.append(Target(semantics, resolution, provider, route, ctx.snapshot.request_id))
    admitted = (await runtime.stages.admission.admit(ctx, targets[0])).admitted
    snapshot = ctx.snapshot
    idempotent = snapshot.method in _IDEMPOTENT or snapshot.header(b"idempotency-key") is not None

    def build(chosen: Target) -> Plan:
        provider, resolution = chosen.provider, chosen.resolution
        operation = f"{provider.spec.type}:{endpoint}"
        url = f"{provider.config.base_url}/{endpoint}{upstream_query(snapshot.query)}"
        request = provider.request(
            snapshot.method,
            url,
            headers=_request_headers(ctx, provider),
            body=snapshot.body or None,
        )
        return Plan(
            endpoint=place.path,
            semantics=semantics,
            resolution=resolution,
            provider=provider,
            route=chosen.route,
            request=request,
            answer=lambda result: _answer(result, operation),
            stage=(lambda: _stage(operation, resolution.model)) if semantics.stream else None,
            any_success=True,
            admitted=admitted,
            idempotent=idempotent,
        )

    await serve(
        ctx, with_alternatives(build(targets[0]), len(targets), lambda i: build(targets[i]))
    )


def _answer(result: UnaryResult, operation: str) -> Answer:
    """The provider's answer as it came, with its status and its headers."""
    doc = parse_passthrough(result.body).doc
    usage = (
        usage_from_anthropic(doc.get("usage"))
        if operation == "anthropic:messages"
        else usage_from_object(doc.get("usage"))
    )
    model = doc.get("model")
    headers = response_headers_for(result.headers.raw)
    return Answer(
        result.body,
        usage,
        model if isinstance(model, str) else None,
        status=result.status,
        headers=headers,
    )


def _stage(operation: str, model: str) -> Verbatim:
    """Every event relayed verbatim; usage read where the gateway knows the operation."""
    inner: StreamStage | None = None
    if operation.endswith(":chat/completions"):
        inner = ChatStreamObserver()
    elif operation == "anthropic:messages":
        inner = AnthropicStreamObserver(model)
    return Verbatim(inner)


def _provider_named(catalog: Catalog, segment: str) -> str | None:
    """The provider (or deployment) a path segment names, by name or else by type."""
    if segment in catalog.types:
        return segment
    return next((p for p in catalog.providers if catalog.types.get(p) == segment), None)


def _request_headers(ctx: RequestContext, provider: Provider) -> list[tuple[str, str]]:
    own = upstream_headers(
        provider.config,
        provider.spec,
        request_id=ctx.snapshot.request_id,
        openrouter_site_url=provider.openrouter_site_url,
        openrouter_app_name=provider.openrouter_app_name,
    )
    return request_headers_for(ctx.snapshot.headers, provider.spec.type, own)
