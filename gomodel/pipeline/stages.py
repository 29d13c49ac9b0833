"""The named places where the control plane plugs into the request pipeline, once for every
surface (docs/architecture.md, "The pipeline"):

* :class:`Authenticator`: the credential -> a :class:`~gomodel.ingress.auth.Principal`
  (:class:`Credentials`: the master key, or a managed key, or nobody when neither exists);
* :class:`Admission`: may refuse a request or hand back a changed one before it goes upstream,
  and settles what it reserved once the request has ended (rate limits and budgets:
  :class:`~gomodel.pipeline.admission.LimitAdmission`; :class:`AdmitAll` without them);
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

from gomodel.errors import AuthenticationFailed
from gomodel.ingress.auth import (
    ANONYMOUS,
    MASTER,
    AuthMethod,
    Principal,
    is_master,
    presented_token,
)
from gomodel.ingress.snapshot import Headers
from gomodel.keys.cache import AuthKeyCache
from gomodel.pipeline.context import RequestContext
from gomodel.pipeline.outcome import Answer, Outcome
from gomodel.pipeline.plan import Plan, Target

__all__ = [
    "Admission",
    "AdmitAll",
    "AnswerCache",
    "Authenticator",
    "Credentials",
    "NoCache",
    "OutcomeObserver",
    "Stages",
    "Watcher",
]


class Authenticator(Protocol):
    async def authenticate(self, headers: Headers, *, admin: bool) -> Principal:
        """The caller, from the request's headers (before its body is read), or an
        :class:`~gomodel.errors.AuthenticationFailed`. ``admin``: the request is for
        ``/admin/*``, which only the master key reaches."""


class Admission(Protocol):
    async def admit(self, ctx: RequestContext, target: Target) -> Target:
        """The target to plan (the same, or one with a lower output cap), or a refusal."""

    async def settle(self, ctx: RequestContext, plan: Plan, outcomes: Sequence[Outcome]) -> None:
        """Charge what the request's attempts used against what was reserved."""


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
class Credentials:
    """``Authorization: Bearer <token>`` or ``x-api-key: <token>``: the master key, or a
    managed key (model routes only).

    Authentication is on when a master key is set or managed keys exist (SPEC §9); with
    neither, everyone is let in (the gateway binds loopback by default then). ``/admin/*``
    takes the master key alone; with none set it is open, so the first managed keys can be
    made (GOModel's bootstrap)."""

    master_key: bytes | None
    keys: AuthKeyCache | None = None

    async def authenticate(self, headers: Headers, *, admin: bool) -> Principal:
        token = presented_token(headers)
        if is_master(token, self.master_key):
            return MASTER
        managed = not admin and self.keys is not None and self.keys.has_keys
        if self.master_key is None and not managed:
            return ANONYMOUS  # clients always send some key: with none to check, it is ignored
        if token is None:
            if self.master_key is None and self.keys is not None and not self.keys.loaded:
                # Keys may exist but cannot be read: neither let everyone in nor say the
                # client forgot a key it may not need.
                raise self.keys.unavailable()
            raise AuthenticationFailed("missing authorization header")
        if not managed:
            raise AuthenticationFailed("invalid master key")
        assert self.keys is not None
        return Principal(AuthMethod.MANAGED_KEY, await self.keys.authenticate(token))


class AdmitAll:
    async def admit(self, ctx: RequestContext, target: Target) -> Target:
        return target

    async def settle(self, ctx: RequestContext, plan: Plan, outcomes: Sequence[Outcome]) -> None:
        return None


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
