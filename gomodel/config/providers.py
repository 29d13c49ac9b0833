"""Providers: the YAML ``providers:`` entries with the ``<TYPE>_*`` variables over them.

:func:`build_providers` applies the Go gateway's rule (SPEC §2.1, docs/configuration.md
"Provider discovery"): the variables of a type overlay the provider named after the type, else
the only provider of that type, else create one; a provider that cannot work (no key, no base
URL) is dropped and the reason added to the warnings. Bad names, types and URLs are errors.

A provider may list ``deployments:`` (:mod:`gomodel.config.deployments`): each becomes a
:class:`ProviderConfig` of its own (``<provider>.<name>``), and the provider a
:class:`~gomodel.routing.virtual.Group` of them.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from gomodel.config.deployments import (
    DeploymentDraft,
    check_deployments,
    check_max_connections,
    parse_deployments,
)
from gomodel.config.kinds import Check, WrongType, is_string, string_list
from gomodel.config.sources import unresolved_refs
from gomodel.errors import ConfigError
from gomodel.providers.spec import SPECS
from gomodel.routing.strategy import STRATEGY_NAMES, Strategy, parse_strategy
from gomodel.routing.virtual import Group

__all__ = ["ENTRY_FIELDS", "SECRET_ENTRY_FIELDS", "ProviderConfig", "build_providers"]


@attrs.frozen
class ProviderConfig:
    """One upstream: a named instance of a provider type from :data:`SPECS`."""

    name: str
    type: str
    base_url: str  # absolute http(s) URL without a trailing slash
    api_key: str | None = attrs.field(default=None, repr=False)
    api_version: str | None = None  # azure only (?api-version=)
    models: tuple[str, ...] = ()  # configured model IDs (<TYPE>_MODELS / YAML models)
    group: str | None = None  # the provider this is a deployment of (None: a provider)
    weight: float = 1.0  # its share under the provider's "weighted" strategy
    max_connections: int | None = None  # its pool size (None: HTTP_MAX_CONNECTIONS)


def _is_positive_int(value: object) -> WrongType | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return None if ok else WrongType("an integer >= 1", value)


# The keys of one entry under ``providers:`` and the YAML type of each.
ENTRY_FIELDS: Mapping[str, Check] = {
    "type": is_string,
    "api_key": is_string,
    "base_url": is_string,
    "api_version": is_string,
    "models": string_list,
    "strategy": is_string,
    "max_connections": _is_positive_int,
    "deployments": check_deployments,
}
SECRET_ENTRY_FIELDS = frozenset({"api_key"})

_PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_API_VERSION = re.compile(r"[A-Za-z0-9._-]+")


@attrs.define
class _Draft:
    """A provider while the sources are layered; mutable on purpose."""

    name: str
    type: str
    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    models: tuple[str, ...] = ()
    in_file: bool = True
    env: bool = False  # the <TYPE>_* variables overlay this provider
    unresolved: dict[str, list[str]] = attrs.Factory(dict)  # field -> unset ${VAR} names
    strategy: Strategy = Strategy.WEIGHTED
    max_connections: int | None = None
    deployments: list[DeploymentDraft] | None = None


def _text(entry: Mapping[str, object], field: str) -> str | None:
    value = entry.get(field)  # a str or None: checked by gomodel.config.document
    return (value.strip() or None) if isinstance(value, str) else None


def _models(items: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def check_url(value: str, setting: str) -> str:
    """An absolute http(s) URL without query or fragment, its trailing ``/`` removed."""
    wrong = ConfigError(setting, f"expected an absolute http(s) URL, got {value!r}")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise wrong
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise wrong
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise wrong
    if "?" in value or "#" in value:
        raise ConfigError(setting, "must not contain a query string or fragment")
    return value.rstrip("/")


def _check_api_version(value: str, setting: str) -> str:
    if not _API_VERSION.fullmatch(value):
        raise ConfigError(setting, f"expected an API version such as 2024-10-21, got {value!r}")
    return value


def _draft_from_file(name: object, entry: Mapping[str, object]) -> _Draft:
    if not isinstance(name, str) or not _PROVIDER_NAME.fullmatch(name):
        raise ConfigError(
            "providers",
            f"invalid provider name {name!r}: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    where = f"providers.{name}"
    type_ = _text(entry, "type") or (name if name in SPECS else None)
    if type_ not in SPECS:
        problem = f"unknown provider type {type_!r}" if type_ else "missing"
        raise ConfigError(f"{where}.type", f"{problem}; expected one of: {', '.join(SPECS)}")
    models = entry.get("models")
    draft = _Draft(
        name,
        type_,
        api_key=_text(entry, "api_key"),
        models=_models(models) if isinstance(models, list) else (),
    )
    for field in ("base_url", "api_version"):
        value = _text(entry, field)
        if value is None:
            continue
        if field == "api_version" and not SPECS[type_].api_version_query:
            raise ConfigError(f"{where}.api_version", f"not used by {type_} providers")
        if refs := unresolved_refs(value):
            draft.unresolved[field] = refs
            continue
        check = check_url if field == "base_url" else _check_api_version
        setattr(draft, field, check(value, f"{where}.{field}"))
    strategy = _text(entry, "strategy")
    if strategy is not None:
        parsed = parse_strategy(strategy)
        if parsed is None:
            raise ConfigError(
                f"{where}.strategy",
                f"unknown strategy {strategy!r}; expected one of: {', '.join(STRATEGY_NAMES)}",
            )
        draft.strategy = parsed
    if entry.get("max_connections") is not None:
        draft.max_connections = check_max_connections(
            entry["max_connections"], f"{where}.max_connections"
        )
    deployments = entry.get("deployments")
    if isinstance(deployments, list):
        draft.deployments = parse_deployments(
            deployments,
            where,
            check_url=check_url,
            check_api_version=_check_api_version,
            api_version_allowed=SPECS[type_].api_version_query,
            normalize_models=_models,
        )
    return draft


def _env_target(
    type_: str, drafts: dict[str, _Draft], names: list[str], creatable: bool, warnings: list[str]
) -> _Draft | None:
    """The provider the <TYPE>_* variables apply to, created if needed (SPEC §2.1)."""
    named = drafts.get(type_)
    if named is not None and named.type == type_:
        return named
    same_type = [d.name for d in drafts.values() if d.type == type_]
    if len(same_type) == 1:
        return drafts[same_type[0]]
    ignored = f"{', '.join(names)} ignored"
    if same_type:
        warnings.append(
            f"{ignored}: {len(same_type)} providers have type '{type_}' "
            f"({', '.join(sorted(same_type))}) and none is named '{type_}'"
        )
    elif named is not None:
        warnings.append(f"{ignored}: the provider named '{type_}' has type '{named.type}'")
    elif not creatable:
        spec, prefix = SPECS[type_], type_.upper()
        needed = [f"{prefix}_API_KEY"] if spec.key_required else []
        if spec.base_url_required or not spec.key_required:
            needed.append(f"{prefix}_BASE_URL")
        warnings.append(
            f"{ignored}: no {type_} provider is configured (set {' and '.join(needed)})"
        )
    else:
        drafts[type_] = _Draft(type_, type_, in_file=False)
        return drafts[type_]
    return None


def _overlay_env(
    drafts: dict[str, _Draft], environ: Mapping[str, str], warnings: list[str]
) -> None:
    for type_, spec in SPECS.items():
        prefix = type_.upper()
        fields = {"api_key": "API_KEY", "base_url": "BASE_URL", "models": "MODELS"}
        if spec.api_version_query:
            fields["api_version"] = "API_VERSION"
        given = {f: environ.get(f"{prefix}_{suffix}", "").strip() for f, suffix in fields.items()}
        given = {f: v for f, v in given.items() if v}
        if not given:
            continue
        if "base_url" in given:
            given["base_url"] = check_url(given["base_url"], f"{prefix}_BASE_URL")
        if "api_version" in given:
            given["api_version"] = _check_api_version(given["api_version"], f"{prefix}_API_VERSION")
        creatable = "base_url" in given or (spec.key_required and "api_key" in given)
        names = [f"{prefix}_{fields[f]}" for f in given]
        target = _env_target(type_, drafts, names, creatable, warnings)
        if target is None:
            continue
        target.env = True
        for field, value in given.items():
            target.unresolved.pop(field, None)
            setattr(target, field, _models(value.split(",")) if field == "models" else value)


def _missing(
    draft: _Draft, field: str, env_name: str, deployment: DeploymentDraft | None = None
) -> str:
    where = f"providers.{draft.name}.{field}"
    if deployment is not None:
        own = f"{deployment.path}.{field}"
        if refs := deployment.unresolved.get(field):
            return f"{own} refers to {', '.join(refs)}, which is not set"
        if field == "api_key" and deployment.api_key is not None:
            refs = unresolved_refs(deployment.api_key)
            return f"{own} refers to {', '.join(refs)}, which is not set"
        return f"neither {own} nor {where}{f' ({env_name})' if draft.env else ''} is set"
    if refs := draft.unresolved.get(field):
        return f"{where} refers to {', '.join(refs)}, which is not set"
    if draft.in_file and draft.env:
        return f"neither {where} nor {env_name} is set"
    return f"{where} is not set" if draft.in_file else f"{env_name} is not set"


def _finish(draft: _Draft, warnings: list[str]) -> list[ProviderConfig]:
    """The provider, or its usable deployments; what cannot work goes to the warnings."""
    if draft.deployments is None:
        finished = _finish_one(draft, draft.name, warnings, f"provider '{draft.name}'")
        return [] if finished is None else [finished]
    usable: list[ProviderConfig] = []
    for deployment in draft.deployments:
        merged = attrs.evolve(
            draft,
            api_key=deployment.api_key or draft.api_key,
            base_url=_own_or(deployment, "base_url", draft.base_url),
            api_version=_own_or(deployment, "api_version", draft.api_version),
            models=deployment.models or draft.models,
            unresolved={
                **{f: r for f, r in draft.unresolved.items() if getattr(deployment, f) is None},
                **deployment.unresolved,
            },
            max_connections=deployment.max_connections or draft.max_connections,
        )
        what = f"provider '{draft.name}' deployment '{deployment.name}'"
        finished = _finish_one(
            merged, f"{draft.name}.{deployment.name}", warnings, what, deployment
        )
        if finished is not None:
            usable.append(attrs.evolve(finished, group=draft.name, weight=deployment.weight))
    if not usable:
        warnings.append(f"provider '{draft.name}' skipped: none of its deployments is usable")
    return usable


def _own_or(deployment: DeploymentDraft, field: str, fallback: str | None) -> str | None:
    """The deployment's value, else the provider's; one the deployment set to an unset
    ``${VAR}`` has no fallback (it is reported missing)."""
    if field in deployment.unresolved:
        return None
    value: str | None = getattr(deployment, field)
    return value or fallback


def _finish_one(
    draft: _Draft,
    name: str,
    warnings: list[str],
    what: str,
    deployment: DeploymentDraft | None = None,
) -> ProviderConfig | None:
    spec = SPECS[draft.type]
    prefix = draft.type.upper()
    key = draft.api_key
    if key is not None and (refs := unresolved_refs(key)):
        draft.unresolved["api_key"] = refs
        key = None
    reasons = []
    if spec.key_required and key is None:
        reasons.append(_missing(draft, "api_key", f"{prefix}_API_KEY", deployment))
    base_url = draft.base_url
    if base_url is None and spec.base_url_required:
        reasons.append(_missing(draft, "base_url", f"{prefix}_BASE_URL", deployment))
    if reasons:
        warnings.append(f"{what} skipped: {'; '.join(reasons)}")
        return None
    if base_url is None:  # a key is present, or the type needs none (ollama, vllm)
        assert spec.default_base_url is not None
        base_url = spec.default_base_url
    api_version = None
    if spec.api_version_query:
        api_version = draft.api_version or spec.default_api_version
    return ProviderConfig(
        name,
        draft.type,
        base_url,
        key,
        api_version,
        draft.models,
        max_connections=draft.max_connections,
    )


def build_providers(
    entries: Mapping[object, Mapping[str, object] | None],
    environ: Mapping[str, str],
    warnings: list[str],
) -> tuple[tuple[ProviderConfig, ...], tuple[Group, ...]]:
    """The usable providers (a provider with deployments: each deployment), sorted by name,
    and the providers that have deployments, from checked YAML entries and the environment."""
    drafts: dict[str, _Draft] = {}
    for name, entry in entries.items():
        draft = _draft_from_file(name, entry or {})
        drafts[draft.name] = draft
    _overlay_env(drafts, environ, warnings)
    providers: list[ProviderConfig] = []
    groups: list[Group] = []
    for name in sorted(drafts):
        draft = drafts[name]
        finished = _finish(draft, warnings)
        providers += finished
        if draft.deployments is not None and finished:
            groups.append(
                Group(
                    name,
                    tuple(p.name for p in finished),
                    tuple(p.weight for p in finished),
                    draft.strategy,
                )
            )
    names = {p.name for p in providers}
    for group in groups:
        if group.name in names:
            raise ConfigError(
                f"providers.{group.name}",
                f"a deployment of another provider is also named {group.name!r}",
            )
    if len(names) != len(providers):
        taken = sorted(n for n in names if sum(p.name == n for p in providers) > 1)
        raise ConfigError("providers", f"two providers are named {taken[0]!r}")
    return tuple(sorted(providers, key=lambda p: p.name)), tuple(groups)
