"""Budgets and rate limits seeded from the environment (the control plane's ``SET_*`` names).

* ``SET_BUDGET_<PATH>="daily=10,weekly=50"``: USD per hour, day, week or month on a user path
  (and its subtree). ``<PATH>`` is the path with ``__`` between segments, lower-cased:
  ``SET_BUDGET_TEAM_A__BOTS`` is ``/team_a/bots``; ``SET_BUDGET_`` alone is ``/``.
* ``SET_RATE_LIMIT_<PATH>="rpm=60,tpm=100000,concurrent=4"``: rate limits on a user path.
* ``SET_PROVIDER_RATE_LIMIT_<NAME>="rpm=600"``: rate limits on a configured provider (``_`` in
  the name matches ``-``, case does not matter).

They are stored like rules set through the admin API, once, when none exists yet for the same
scope, metric and period (so an admin's later change wins until the next restart does not
overwrite it). Budgets on keys are set through the admin API only.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gomodel.errors import ConfigError, InvalidRequest
from gomodel.limits.model import Limit, Metric
from gomodel.limits.rules import budget_period, rate_rules, usd_to_nano

__all__ = ["rules_from_environment"]

_BUDGET = "SET_BUDGET_"
_RATE = "SET_RATE_LIMIT_"
_PROVIDER_RATE = "SET_PROVIDER_RATE_LIMIT_"


def _pairs(name: str, text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise ConfigError(name, f"expected name=value pairs separated by commas, got {text!r}")
        pairs.append((key.strip().lower(), value.strip()))
    if not pairs:
        raise ConfigError(name, "is empty")
    return pairs


def _path(name: str, suffix: str) -> str:
    segments = [s.lower() for s in suffix.split("__")] if suffix else []
    if any(not s or not s.replace("_", "").replace("-", "").isalnum() for s in segments):
        raise ConfigError(name, "the user path after the prefix must be segments joined by __")
    return "/" + "/".join(segments)


def rules_from_environment(
    environ: Mapping[str, str], providers: Sequence[str]
) -> tuple[Limit, ...]:
    """Every ``SET_*`` rule in ``environ``; ``providers`` are the configured provider names."""
    rules: list[Limit] = []
    by_env_name = {p.lower().replace("-", "_"): p for p in providers}
    for name in sorted(environ):
        text = environ[name]
        if not text.strip():
            continue
        try:
            if name.startswith(_PROVIDER_RATE):
                key = name[len(_PROVIDER_RATE) :].lower()
                if key not in by_env_name:
                    known = ", ".join(providers) or "none"
                    raise ConfigError(name, f"no provider {key!r} is configured; known: {known}")
                values = {k: _int(name, v) for k, v in _pairs(name, text)}
                rules.extend(rate_rules(f"provider:{by_env_name[key]}", values))
            elif name.startswith(_RATE):
                scope = "path:" + _path(name, name[len(_RATE) :])
                values = {k: _int(name, v) for k, v in _pairs(name, text)}
                rules.extend(rate_rules(scope, values))
            elif name.startswith(_BUDGET):
                scope = "path:" + _path(name, name[len(_BUDGET) :])
                for word, amount in _pairs(name, text):
                    rules.append(
                        Limit(scope, Metric.COST, usd_to_nano(amount), budget_period(word))
                    )
        except InvalidRequest as exc:
            raise ConfigError(name, exc.message)
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ConfigError("SET_*", f"the rule {duplicate} is set twice")
    return tuple(rules)


def _int(name: str, value: str) -> int:
    if not value.isdigit():
        raise ConfigError(name, f"expected a whole number, got {value!r}")
    return int(value)
