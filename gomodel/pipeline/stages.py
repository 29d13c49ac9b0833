"""The named places where the control plane plugs into the request pipeline, once for every
surface (docs/architecture.md, "The pipeline"):

* :class:`Authenticator`: the credential -> a :class:`~gomodel.ingress.auth.Principal`
  (today: the master key, or nobody when none is set);
* :class:`Admission`: may refuse a plan or hand back a changed one before it goes upstream
  (rate limits, budget reservations; today: everything is admitted as it is);
* :class:`AnswerCache`: may answer a plan without an upstream call (today: never);
* :class:`OutcomeObserver`: sees every exchange's frozen outcome (usage rows, the request log
  line, metrics, the audit log; later budget settlement). Observers must not block the request.
* :class:`Watcher`: sees a request and each of its attempts begin and the request end
  (in-flight gauges, trace spans, the audit entry); may tap an attempt's answer (never change
  it). With no watchers the pipeline pays one empty loop per hook.

Each is a small protocol with today's behaviour behind it; :class:`Stages` is the set a runtime
holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import attrs

from gomodel.ingress.auth import ANONYMOUS, MASTER, Principal, check_bearer
from gomodel.ingress.snapshot import Headers, header
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Plan

__all__ = [
    "Admission",
    "AdmitAll",
    "AnswerCache",
    "Authenticator",
    "MasterKey",
    "NoCache",
    "OutcomeObserver",
    "Stages",
    "Watcher",
]


class Authenticator(Protocol):
    async def authenticate(self, headers: Headers) -> Principal:
        """The caller, from the request's headers (before its body is read), or an
        :class:`~gomodel.errors.AuthenticationFailed`."""


class Admission(Protocol):
    async def admit(self, ctx: RequestContext, plan: Plan) -> Plan:
        """The plan to run (the same one, or a changed one), or a refusal (an error)."""


class AnswerCache(Protocol):
    async def lookup(self, ctx: RequestContext, plan: Plan) -> Answer | None:
        """A stored answer for the plan, if one may be replayed."""


class OutcomeObserver(Protocol):
    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        """Take note of one attempt's outcome; must not block."""


class Watcher(Protocol):
    def request_started(self, ctx: RequestContext, plan: Plan) -> None:
        """A model request is about to be served (before admission)."""

    def attempt(self, ctx: RequestContext, plan: Plan) -> Plan:
        """One upstream attempt is about to start. Returns the plan to run: the same, or one
        whose ``answer`` / ``stage`` also hands what the client gets to a tap (an observer of
        the answer: the bytes must stay exactly as they are). Must not block."""

    def request_ended(self, ctx: RequestContext) -> None:
        """The request is over (answered, failed, or the client left); after the attempts'
        outcomes went to the observers."""


@attrs.frozen
class MasterKey:
    """``Authorization: Bearer <GOMODEL_MASTER_KEY>``; with no key set, everyone is let in."""

    key: bytes | None

    async def authenticate(self, headers: Headers) -> Principal:
        if self.key is None:
            return ANONYMOUS
        check_bearer(header(headers, b"authorization"), self.key)
        return MASTER


class AdmitAll:
    async def admit(self, ctx: RequestContext, plan: Plan) -> Plan:
        return plan


class NoCache:
    async def lookup(self, ctx: RequestContext, plan: Plan) -> Answer | None:
        return None


@attrs.frozen
class Stages:
    authenticator: Authenticator
    admission: Admission = attrs.field(factory=AdmitAll)
    cache: AnswerCache = attrs.field(factory=NoCache)
    observers: Sequence[OutcomeObserver] = ()
    watchers: Sequence[Watcher] = ()

    def observe(self, ctx: RequestContext, plan: Plan, outcome: Outcome) -> None:
        for observer in self.observers:
            observer.observe(ctx, plan, outcome)

    def request_started(self, ctx: RequestContext, plan: Plan) -> None:
        for watcher in self.watchers:
            watcher.request_started(ctx, plan)

    def attempt(self, ctx: RequestContext, plan: Plan) -> Plan:
        for watcher in self.watchers:
            plan = watcher.attempt(ctx, plan)
        return plan

    def request_ended(self, ctx: RequestContext) -> None:
        for watcher in self.watchers:
            watcher.request_ended(ctx)
