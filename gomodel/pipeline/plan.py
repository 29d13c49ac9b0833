"""One upstream attempt, decided: what goes to which provider, and how its answer comes back.

Every surface (chat, Responses, embeddings, passthrough) turns a request into a :class:`Plan`;
:func:`gomodel.pipeline.run.serve` runs every plan the same way. A request that more than one
deployment may serve (a virtual model, a provider with deployments) carries its other targets
as :class:`Alternatives`: each is planned (decided, its body built) only when an attempt needs
it (:mod:`gomodel.pipeline.attempts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import httpx

from gomodel.ingress.semantics import Semantics
from gomodel.limits.model import Reservation
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.providers.client import Provider
from gomodel.relay.stream import ErrorEvent, error_event
from gomodel.relay.unary import UnaryResult
from gomodel.routing.decision import Route
from gomodel.routing.resolve import Resolution
from gomodel.translate.holdback import Prelude
from gomodel.translate.stage import StreamStage
from gomodel.usage.pricing import Price

__all__ = ["Admitted", "Alternatives", "Plan", "Target"]


def _nothing(outcome: Outcome) -> None:
    return None


@attrs.frozen
class Admitted:
    """What admission reserved for a request: settled once the request has ended."""

    reservation: Reservation
    price: Price | None  # for the actual cost of the attempts (None: no budget applies)


@attrs.frozen(eq=False)
class Plan:
    endpoint: str  # the usage row's endpoint: the route, or the passthrough path
    semantics: Semantics
    resolution: Resolution
    provider: Provider
    route: Route
    request: httpx.Request
    # Non-streamed: the client's answer from the upstream's (verbatim or translated).
    answer: Callable[[UnaryResult], Answer]
    # Streamed: a fresh stream stage for the exchange; None for a non-streamed request.
    stage: Callable[[], StreamStage] | None = None
    any_success: bool = False  # every status below 400 is an answer (passthrough)
    error_event: ErrorEvent = error_event  # how a stream that failed after its start ends
    # The surface's bookkeeping once the exchange ended (the Responses store), before the
    # client gets a non-streamed answer.
    finished: Callable[[Outcome], None] = _nothing
    admitted: Admitted | None = None  # the request's reservation, if limits apply
    # What of the client's stream is prelude (held back while another attempt could still
    # replace this one: gomodel.translate.holdback); None: nothing is held.
    prelude: Prelude | None = None
    # Safe to send again after the provider may have seen it (False: a passthrough POST
    # without Idempotency-Key is retried only when it never reached the provider).
    idempotent: bool = True
    alternatives: Alternatives | None = None  # the other targets, in failover order

    @property
    def stream(self) -> bool:
        return self.stage is not None


@attrs.define(eq=False)
class Alternatives:
    """The targets of a request after the first, planned on demand (``make(i)``, i >= 1)."""

    count: int  # targets in all, the first included
    make: Callable[[int], Plan]
    failover: bool = True  # the virtual model lets a request move beyond its first target
    _plans: dict[int, Plan] = attrs.Factory(dict)

    def plan(self, index: int) -> Plan:
        """The plan for target ``index`` (>= 1); raises the error that rules the target out
        (a provider that does not offer the operation)."""
        if index not in self._plans:
            self._plans[index] = self.make(index)
        return self._plans[index]


@attrs.frozen(eq=False)
class Target:
    """A model request resolved and decided: the provider and model, and the route."""

    semantics: Semantics
    resolution: Resolution
    provider: Provider
    route: Route
    request_id: str
    admitted: Admitted | None = None

    def plan(
        self,
        endpoint: str,
        url: str,
        body: bytes,
        *,
        answer: Callable[[UnaryResult], Answer],
        stage: Callable[[], StreamStage] | None = None,
        finished: Callable[[Outcome], None] = _nothing,
        error_event: ErrorEvent = error_event,
        headers: Sequence[tuple[str, str]] = (),
        prelude: Prelude | None = None,
    ) -> Plan:
        """The plan that POSTs ``body`` to ``url`` (``stage`` and ``prelude`` only matter for a
        stream).

        ``headers`` are the client's headers the provider is also sent (Anthropic's version
        and beta switches); each replaces the provider's own header of that name."""
        stream = self.semantics.stream
        request = self.provider.build_request(
            "POST", url, body=body, request_id=self.request_id, stream=stream
        )
        for name, value in headers:
            request.headers[name] = value
        return Plan(
            endpoint,
            self.semantics,
            self.resolution,
            self.provider,
            self.route,
            request,
            answer,
            stage if stream else None,
            error_event=error_event,
            finished=finished,
            admitted=self.admitted,
            prelude=prelude if stream else None,
        )
