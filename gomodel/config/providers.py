"""Providers: the YAML ``providers:`` entries with the ``<TYPE>_*`` variables over them.

:func:`build_providers` applies the Go gateway's rule (SPEC §2.1, docs/configuration.md
"Provider discovery"): the variables of a type overlay the provider named after the type, else
the only provider of that type, else create one; a provider that cannot work (no key, no base
URL) is dropped and the reason added to the warnings. Bad names, types and URLs are errors.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import attrs

from gomodel.config.kinds import Check, is_string, string_list
from gomodel.config.sources import unresolved_refs
from gomodel.errors import ConfigError
from gomodel.providers.spec import SPECS

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


# The keys of one entry under ``providers:`` and the YAML type of each.
ENTRY_FIELDS: Mapping[str, Check] = {
    "type": is_string,
    "api_key": is_string,
    "base_url": is_string,
    "api_version": is_string,
    "models": string_list,
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


def _missing(draft: _Draft, field: str, env_name: str) -> str:
    where = f"providers.{draft.name}.{field}"
    if refs := draft.unresolved.get(field):
        return f"{where} refers to {', '.join(refs)}, which is not set"
    if draft.in_file and draft.env:
        return f"neither {where} nor {env_name} is set"
    return f"{where} is not set" if draft.in_file else f"{env_name} is not set"


def _finish(draft: _Draft, warnings: list[str]) -> ProviderConfig | None:
    spec = SPECS[draft.type]
    prefix = draft.type.upper()
    key = draft.api_key
    if key is not None and (refs := unresolved_refs(key)):
        draft.unresolved["api_key"] = refs
        key = None
    reasons = []
    if spec.key_required and key is None:
        reasons.append(_missing(draft, "api_key", f"{prefix}_API_KEY"))
    base_url = draft.base_url
    if base_url is None and spec.base_url_required:
        reasons.append(_missing(draft, "base_url", f"{prefix}_BASE_URL"))
    if reasons:
        warnings.append(f"provider '{draft.name}' skipped: {'; '.join(reasons)}")
        return None
    if base_url is None:  # a key is present, or the type needs none (ollama, vllm)
        assert spec.default_base_url is not None
        base_url = spec.default_base_url
    api_version = None
    if spec.api_version_query:
        api_version = draft.api_version or spec.default_api_version
    return ProviderConfig(draft.name, draft.type, base_url, key, api_version, draft.models)


def build_providers(
    entries: Mapping[object, Mapping[str, object] | None],
    environ: Mapping[str, str],
    warnings: list[str],
) -> tuple[ProviderConfig, ...]:
    """The usable providers, sorted by name, from checked YAML entries and the environment."""
    drafts: dict[str, _Draft] = {}
    for name, entry in entries.items():
        draft = _draft_from_file(name, entry or {})
        drafts[draft.name] = draft
    _overlay_env(drafts, environ, warnings)
    finished = (_finish(drafts[name], warnings) for name in sorted(drafts))
    return tuple(p for p in finished if p is not None)
