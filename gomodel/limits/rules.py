"""Which limits apply to a request: budgets and rate limits as rules on scopes.

A rule says "at most ``amount`` of ``metric`` on ``scope`` per ``period``". Scopes:

* ``path:/team-a``: a user path; a rule on it covers the whole subtree (``/team-a/**``), so a
  request for ``/team-a/bots`` is checked against ``path:/team-a/bots``, ``path:/team-a`` and
  ``path:/`` (whichever have rules);
* ``key:<id>``: a managed key;
* ``provider:<name>``: a configured provider (rate limits only);
* ``model:<id>``: an upstream model id (rate limits only).

Budgets are :data:`~gomodel.limits.model.Metric.COST` rules (nano-dollars) per hour, day, week
or month; rate limits are requests or tokens per minute, hour or day, and concurrent requests.
:class:`RuleSet` indexes them by scope so that finding a request's limits costs a few dict
lookups, and none at all when no rule exists.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

import attrs

from gomodel.errors import InvalidRequest
from gomodel.limits.model import MAX_AMOUNT, Limit, Metric, Period

__all__ = [
    "BUDGET_PERIODS",
    "NANO_PER_USD",
    "RATE_KEYS",
    "RATE_NAMES",
    "RuleSet",
    "budget_period",
    "key_scope",
    "model_scope",
    "parse_scope",
    "path_scopes",
    "provider_scope",
    "rate_rules",
    "usd_to_nano",
]

NANO_PER_USD = 10**9
BUDGET_PERIODS: Mapping[str, Period] = {
    "hour": Period.HOUR,
    "hourly": Period.HOUR,
    "day": Period.DAY,
    "daily": Period.DAY,
    "week": Period.WEEK,
    "weekly": Period.WEEK,
    "month": Period.MONTH,
    "monthly": Period.MONTH,
}
# Rate-limit names, in the environment and the admin API: requests or tokens per period.
RATE_KEYS: Mapping[str, tuple[Metric, Period | None]] = {
    "rpm": (Metric.REQUESTS, Period.MINUTE),
    "rph": (Metric.REQUESTS, Period.HOUR),
    "rpd": (Metric.REQUESTS, Period.DAY),
    "tpm": (Metric.TOKENS, Period.MINUTE),
    "tph": (Metric.TOKENS, Period.HOUR),
    "tpd": (Metric.TOKENS, Period.DAY),
    "concurrent": (Metric.CONCURRENT, None),
}
RATE_NAMES: Mapping[tuple[Metric, Period | None], str] = {v: k for k, v in RATE_KEYS.items()}


def path_scopes(user_path: str) -> tuple[str, ...]:
    """``/a/b`` -> ``path:/a/b``, ``path:/a``, ``path:/``: the path and every ancestor."""
    scopes = ["path:/"]
    parts = [p for p in user_path.split("/") if p]
    for end in range(1, len(parts) + 1):
        scopes.append("path:/" + "/".join(parts[:end]))
    return tuple(reversed(scopes))


def key_scope(key_id: str) -> str:
    return f"key:{key_id}"


def provider_scope(name: str) -> str:
    return f"provider:{name}"


def model_scope(model: str) -> str:
    return f"model:{model}"


def parse_scope(text: str, *, rates: bool) -> str:
    """A scope as an admin URL writes it: a user path (``team-a/bots``, ``/`` for the root)
    or ``key:<id>``, and for rate limits also ``provider:<name>``, ``model:<id>``."""
    kind, colon, name = text.partition(":")
    if colon and "/" not in kind:
        allowed = ("key", "provider", "model") if rates else ("key",)
        if kind not in allowed or not name or not name.isprintable():
            raise InvalidRequest(
                f"invalid scope {text!r}: expected a user path or one of "
                + ", ".join(f"{k}:<name>" for k in allowed),
                param="scope",
            )
        return f"{kind}:{name}"
    segments = [s for s in text.split("/") if s]
    if any(s in (".", "..") or not s.isprintable() for s in segments):
        raise InvalidRequest(f"invalid user path {text!r}", param="scope")
    return "path:/" + "/".join(segments)


def budget_period(word: str) -> Period:
    period = BUDGET_PERIODS.get(word.lower())
    if period is None:
        raise InvalidRequest(
            f"unknown budget period {word!r}; expected hour, day, week or month", param="period"
        )
    return period


def usd_to_nano(value: object, *, param: str = "amount") -> int:
    """A positive USD amount (a JSON number or a decimal string) as nano-dollars."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidRequest(f"{param} must be a number of USD", param=param)
    try:
        usd = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequest(f"{param} must be a number of USD", param=param)
    nano = usd * NANO_PER_USD
    if not usd.is_finite() or usd <= 0 or nano >= MAX_AMOUNT or nano != nano.to_integral_value():
        raise InvalidRequest(
            f"{param} must be a positive USD amount below 2,000,000 with at most 9 decimals",
            param=param,
        )
    return int(nano)


def rate_rules(scope: str, values: Mapping[str, object]) -> tuple[Limit, ...]:
    """Rate-limit rules from ``{"rpm": 60, "tpm": 100000, "concurrent": 4}``."""
    rules = []
    for name, value in values.items():
        spec = RATE_KEYS.get(name)
        if spec is None:
            known = ", ".join(RATE_KEYS)
            raise InvalidRequest(f"unknown rate limit {name!r}; expected {known}", param=name)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < MAX_AMOUNT:
            raise InvalidRequest(f"{name} must be a positive integer", param=name)
        metric, period = spec
        rules.append(Limit(scope, metric, value, period))
    if not rules:
        raise InvalidRequest("no rate limit given", param=None)
    return tuple(rules)


_FOUND_CACHE_SIZE = 4096


@attrs.frozen
class RuleSet:
    """Every rule in force, indexed by scope."""

    rules: tuple[Limit, ...] = ()
    _by_scope: Mapping[str, tuple[Limit, ...]] = attrs.field(init=False, repr=False)
    # for_request's answers: the same few keys, paths and models ask again and again. Bounded,
    # since model names come from clients.
    _found: dict[tuple[str | None, str, str, str], tuple[Limit, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        index: dict[str, list[Limit]] = {}
        for rule in self.rules:
            index.setdefault(rule.scope, []).append(rule)
        object.__setattr__(self, "_by_scope", {s: tuple(r) for s, r in index.items()})
        object.__setattr__(self, "_found", {})

    @classmethod
    def of(cls, rules: Iterable[Limit], *, budgets: bool, rates: bool) -> RuleSet:
        """The rules in force: budgets and rate limits each only when switched on."""
        kept = [r for r in rules if (budgets if r.metric is Metric.COST else rates)]
        return cls(tuple(kept))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def scope(self, scope: str) -> tuple[Limit, ...]:
        return self._by_scope.get(scope, ())

    def for_request(
        self, *, key_id: str | None, user_path: str, provider: str, model: str
    ) -> tuple[Limit, ...]:
        """The limits a request of this key, user path, provider and model must pass."""
        if not self.rules:
            return ()
        asked = (key_id, user_path, provider, model)
        found = self._found.get(asked)
        if found is None:
            if len(self._found) >= _FOUND_CACHE_SIZE:
                self._found.clear()
            found = self._found[asked] = self._for_request(key_id, user_path, provider, model)
        return found

    def _for_request(
        self, key_id: str | None, user_path: str, provider: str, model: str
    ) -> tuple[Limit, ...]:
        scopes = list(path_scopes(user_path))
        if key_id is not None:
            scopes.append(key_scope(key_id))
        scopes += [provider_scope(provider), model_scope(model)]
        found: list[Limit] = []
        for scope in scopes:
            found.extend(self._by_scope.get(scope, ()))
        return tuple(found)
