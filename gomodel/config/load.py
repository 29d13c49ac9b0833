""":func:`load_config`: the sources layered into one :class:`~gomodel.config.Config`.

Code defaults -> YAML file -> environment variables -> CLI overrides, setting by setting; then
the providers (:mod:`gomodel.config.providers`), the virtual models
(:mod:`gomodel.config.virtual_models`), the price table, and the checks that span settings.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from gomodel.config.document import check_document, file_value
from gomodel.config.limits import rules_from_environment
from gomodel.config.providers import build_providers
from gomodel.config.settings import SETTINGS, Config
from gomodel.config.sources import Document, read_file
from gomodel.config.virtual_models import parse_virtual_models
from gomodel.errors import ConfigError
from gomodel.usage.pricing import PriceTable

__all__ = ["find_file", "load_config"]

_BY_FIELD = {s.field: s for s in SETTINGS}


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def load_config(
    environ: Mapping[str, str],
    *,
    config_path: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the effective :class:`Config`; raises :class:`ConfigError` on any bad value.

    ``overrides`` are typed values from CLI flags, keyed by :class:`Config` field name (``None``
    means the flag was not given); they win over everything and are reported as ``--flag-name``.
    """
    path = find_file(config_path, cwd)
    document: Document = read_file(path, environ) if path is not None else {}
    check_document(document)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        value = file_value(document, setting.path)
        if not _blank(value):
            values[setting.field] = setting.kind.from_value(value, setting.dotted)
        text = environ.get(setting.env, "")
        if text.strip():
            values[setting.field] = setting.kind.from_text(text, setting.env)
    for name, value in (overrides or {}).items():
        if name not in _BY_FIELD:
            raise ValueError(f"not an overridable setting: {name!r}")
        if not _blank(value):
            flag = "--" + name.replace("_", "-")
            values[name] = _BY_FIELD[name].kind.from_value(value, flag)
    warnings: list[str] = []
    providers, groups = build_providers(document.get("providers") or {}, environ, warnings)
    virtual_models = parse_virtual_models(document.get("virtual_models"), environ)
    if prices := document.get("prices"):
        values["price_table"] = PriceTable.from_package(prices)  # a bad override fails here
        values["prices"] = prices
    names = [p.name for p in providers] + [g.name for g in groups]
    rules = rules_from_environment(environ, names)
    config = Config(
        **values,
        providers=providers,
        groups=groups,
        virtual_models=virtual_models,
        config_file=path,
        limit_rules=rules,
    )
    if config.storage_type == "postgresql" and config.usage_enabled and not config.postgres_url:
        raise ConfigError("POSTGRES_URL", "required when STORAGE_TYPE is postgresql")
    if config.http_response_header_timeout > config.http_timeout:
        warnings.append(
            "HTTP_RESPONSE_HEADER_TIMEOUT is longer than HTTP_TIMEOUT; "
            "the total deadline (HTTP_TIMEOUT) applies first"
        )
    if config.client_send_timeout <= config.stream_stall_timeout:
        warnings.append(
            "CLIENT_SEND_TIMEOUT is not longer than STREAM_STALL_TIMEOUT; a client that stops "
            "reading is cut off before its stream is ended as stalled"
        )
    return attrs.evolve(config, warnings=tuple(warnings))


def find_file(config_path: str | None, cwd: str | os.PathLike[str] | None) -> str | None:
    """The YAML file to read: ``config_path`` (under ``cwd``), else one found there, else None."""
    base = os.fspath(cwd) if cwd is not None else os.getcwd()
    if config_path is not None:
        path = os.path.join(base, config_path)  # an absolute config_path ignores base
        if not os.path.exists(path):
            raise ConfigError("--config", f"{config_path}: file not found")
        if not os.path.isfile(path):
            raise ConfigError("--config", f"{config_path}: not a regular file")
        return path
    for relative in ("config/config.yaml", "config.yaml"):
        candidate = os.path.join(base, relative)
        if os.path.isfile(candidate):
            return candidate
    return None
