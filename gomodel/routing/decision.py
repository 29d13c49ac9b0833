"""The decision object: how a request goes upstream and how its answer comes back.

``decide()`` is one pure function of the request's semantics, the model resolution, the
provider's capabilities and gateway policy, for every operation (chat, Responses, embeddings,
passthrough). The :class:`Route` it returns is shown to operators as ``X-GoModel-Route``
(``passthrough``, ``rewrite`` or ``translate``) with its reasons, and kept on the usage row.

* passthrough: the client's body bytes go upstream verbatim; the answer is relayed verbatim,
  event by event. The fast path. Provider passthrough routes (``/p/...``) are always this.
* rewrite: the body is minimally edited (model selector, gateway-only fields, parameter quirks,
  the usage request); the answer is still relayed verbatim (an injected usage chunk is hidden).
* translate: the provider does not speak the operation's API (Anthropic for chat, a chat-only
  provider for Responses, Ollama's native embeddings, an OpenAI-style provider for Anthropic's
  Messages API); both directions are translated.

When the request went through a virtual model, or its provider has several deployments, the
route also names the deployment and model chosen and why (``target=azure.east/gpt-4o;
pick=weighted``). A virtual model whose target asks for another model id needs the body's
``model`` replaced (``virtual_model``); a target with the same id leaves the body alone.
"""

from __future__ import annotations

import enum
import re

import attrs

from gomodel.ingress.semantics import Operation, Semantics
from gomodel.providers.spec import Dialect, ProviderSpec
from gomodel.routing.resolve import Resolution

__all__ = [
    "Policy",
    "Reason",
    "Route",
    "RouteKind",
    "capped",
    "decide",
    "is_reasoning_model",
    "speaks",
]


class RouteKind(enum.Enum):
    PASSTHROUGH = "passthrough"
    REWRITE = "rewrite"
    TRANSLATE = "translate"


class Reason(enum.Enum):
    """Why a request left the pure fast path."""

    QUALIFIED_SELECTOR = "qualified_selector"  # "openai/gpt-4o" -> "gpt-4o"
    PROVIDER_FIELD = "provider_field"  # the gateway-only "provider" field is removed
    REASONING_PARAMS = "reasoning_params"  # o-series/gpt-5: max_tokens/temperature rewritten
    REASONING_EFFORT = "reasoning_effort"  # reasoning.effort -> reasoning_effort (Gemini)
    USAGE_INJECTED = "usage_injected"  # stream_options.include_usage added for accounting
    MAX_TOKENS_DEFAULT = "max_tokens_default"  # Messages: ANTHROPIC_DEFAULT_MAX_TOKENS filled in
    OUTPUT_CAPPED = "output_capped"  # a budget set or lowered the output cap
    DIALECT = "dialect"  # the provider does not speak this API: translate both ways
    VIRTUAL_MODEL = "virtual_model"  # a virtual model's target: "model" replaced by its id


@attrs.frozen(slots=True)
class Policy:
    usage_enabled: bool = True
    enforce_returning_usage_data: bool = True
    # Messages requests without max_tokens get this (ANTHROPIC_DEFAULT_MAX_TOKENS); None: 400.
    default_max_tokens: int | None = None


@attrs.frozen(slots=True)
class Route:
    kind: RouteKind
    reasons: tuple[Reason, ...]
    upstream_model: str
    # Ask the upstream for the usage chunk the client did not ask for, and hide it again.
    inject_usage: bool = False
    target: str | None = None  # "<deployment>/<model>", when there was a choice to make
    pick: str | None = None  # why that target: a strategy, "alias", "failover", "retry"

    @property
    def header(self) -> str:
        """The ``X-GoModel-Route`` value: the kind, then any reasons, then the target.

        For example ``passthrough``, ``rewrite; qualified_selector, usage_injected`` or
        ``rewrite; virtual_model; target=anthropic/claude-sonnet-4-5; pick=priority``.
        """
        parts = [self.kind.value]
        if self.reasons:
            parts.append(", ".join(r.value for r in self.reasons))
        if self.target is not None:
            parts.append(f"target={self.target}")
            if self.pick is not None:
                parts.append(f"pick={self.pick}")
        return "; ".join(parts)


_REASONING_MODEL = re.compile(r"o\d|gpt-5(?:$|-)")


def is_reasoning_model(model: str) -> bool:
    """o1, o3-mini, o4-mini, gpt-5, gpt-5-mini...: models that take max_completion_tokens."""
    return _REASONING_MODEL.match(model.lower()) is not None


def capped(route: Route) -> Route:
    """``route`` with the body's output cap changed by admission (a budget)."""
    kind = RouteKind.REWRITE if route.kind is RouteKind.PASSTHROUGH else route.kind
    reasons = (*route.reasons, Reason.OUTPUT_CAPPED)
    return attrs.evolve(route, kind=kind, reasons=reasons)


def speaks(operation: Operation, spec: ProviderSpec) -> bool:
    """Whether the provider serves ``operation`` in the client's own API."""
    if operation is Operation.CHAT:
        return spec.dialect is Dialect.OPENAI
    if operation is Operation.RESPONSES:
        return spec.native_responses
    if operation is Operation.EMBEDDINGS:
        return spec.embeddings == "openai"
    if operation is Operation.MESSAGES:
        return spec.dialect is Dialect.ANTHROPIC
    return True  # passthrough: the provider's own API, by definition


def decide(
    semantics: Semantics, resolution: Resolution, spec: ProviderSpec, policy: Policy
) -> Route:
    operation = semantics.operation
    chosen = resolution.virtual is not None or resolution.pick is not None
    target = f"{resolution.provider}/{resolution.model}" if chosen else None
    if operation is Operation.PASSTHROUGH:
        return Route(
            RouteKind.PASSTHROUGH, (), resolution.model, target=target, pick=resolution.pick
        )
    reasons: list[Reason] = []
    if not speaks(operation, spec):
        reasons.append(Reason.DIALECT)
    if resolution.qualified:
        reasons.append(Reason.QUALIFIED_SELECTOR)
    if resolution.virtual is not None and resolution.model != resolution.requested:
        reasons.append(Reason.VIRTUAL_MODEL)
    if "provider" in semantics.doc:
        reasons.append(Reason.PROVIDER_FIELD)
    if operation is Operation.CHAT:
        inject_usage = _chat_reasons(semantics, resolution, spec, policy, reasons)
    else:
        inject_usage = False
    if (
        operation is Operation.MESSAGES
        and not semantics.has_max_tokens
        and policy.default_max_tokens is not None
    ):
        reasons.append(Reason.MAX_TOKENS_DEFAULT)
    if Reason.DIALECT in reasons:
        kind = RouteKind.TRANSLATE
    elif reasons:
        kind = RouteKind.REWRITE
    else:
        kind = RouteKind.PASSTHROUGH
    return Route(
        kind,
        tuple(reasons),
        resolution.model,
        inject_usage=inject_usage,
        target=target,
        pick=resolution.pick,
    )


def _chat_reasons(
    semantics: Semantics,
    resolution: Resolution,
    spec: ProviderSpec,
    policy: Policy,
    reasons: list[Reason],
) -> bool:
    """Add the chat-only reasons; return whether the usage request is injected."""
    if (
        spec.reasoning_model_rewrite
        and is_reasoning_model(resolution.model)
        and (semantics.has_max_tokens or semantics.has_temperature)
    ):
        reasons.append(Reason.REASONING_PARAMS)
    if spec.reasoning_effort_field and semantics.reasoning_effort is not None:
        reasons.append(Reason.REASONING_EFFORT)
    inject_usage = (
        semantics.stream
        and policy.usage_enabled
        and policy.enforce_returning_usage_data
        and spec.stream_usage_option
        and not semantics.include_usage
    )
    if inject_usage:
        reasons.append(Reason.USAGE_INJECTED)
    return inject_usage
