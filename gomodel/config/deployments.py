"""``deployments:`` under a provider: one provider type served by several keys or base URLs.

::

    providers:
      azure:
        type: azure
        api_version: "2024-10-21"     # shared: a deployment may set its own
        models: [gpt-4o]
        strategy: priority            # how requests pick a deployment (default: weighted)
        deployments:
          - name: east                # -> deployment "azure.east"
            api_key: "${AZURE_EAST_KEY}"
            base_url: https://east.openai.azure.com/openai/deployments/gpt-4o
          - name: west
            api_key: "${AZURE_WEST_KEY}"
            base_url: https://west.openai.azure.com/openai/deployments/gpt-4o
            weight: 2
            max_connections: 50

Each deployment is a provider of its own at run time (its own connection pool, limits and
circuit breaker), named ``<provider>.<name>`` (``name`` defaults to its 1-based position).
Its ``api_key``, ``base_url``, ``api_version``, ``models`` and ``max_connections`` default to
the provider's, which the ``<TYPE>_*`` variables overlay as for any provider: so
``AZURE_API_KEY`` can be the key every deployment shares. A deployment that cannot work (no
key, no base URL) is dropped with a warning; the provider goes only when none is left.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping

import attrs

from gomodel.config.kinds import WrongType, is_string, problem, string_list
from gomodel.config.sources import unresolved_refs
from gomodel.errors import ConfigError

__all__ = [
    "DEPLOYMENT_FIELDS",
    "DeploymentDraft",
    "check_deployments",
    "check_max_connections",
    "parse_deployments",
]

DEPLOYMENT_FIELDS = (
    "name",
    "api_key",
    "base_url",
    "api_version",
    "models",
    "weight",
    "max_connections",
)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@attrs.define
class DeploymentDraft:
    """One deployment while the sources are layered; unset fields take the provider's."""

    name: str
    path: str  # where it is in the file: providers.<name>.deployments[<i>]
    api_key: str | None = None
    base_url: str | None = None
    api_version: str | None = None
    models: tuple[str, ...] = ()
    weight: float = 1.0
    max_connections: int | None = None
    unresolved: dict[str, list[str]] = attrs.Factory(dict)  # field -> unset ${VAR} names


def check_deployments(value: object) -> WrongType | None:
    """The YAML type of ``deployments:`` (each entry is checked by :func:`parse_deployments`)."""
    if not isinstance(value, list):
        return WrongType("a list of deployments", value)
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            return WrongType(f"a mapping at index {index}", item)
    return None


def parse_deployments(
    items: list[Mapping[str, object]],
    where: str,
    *,
    check_url: Callable[[str, str], str],
    check_api_version: Callable[[str, str], str],
    api_version_allowed: bool,
    normalize_models: Callable[[list[str]], tuple[str, ...]],
) -> list[DeploymentDraft]:
    """The drafts of one provider's ``deployments:`` list; ``where`` is ``providers.<name>``.

    ``check_url`` and ``check_api_version`` are the provider entry's own value checks."""
    if not items:
        raise ConfigError(f"{where}.deployments", "expected at least one deployment")
    drafts: list[DeploymentDraft] = []
    for index, item in enumerate(items):
        path = f"{where}.deployments[{index}]"
        for key in item:
            if key not in DEPLOYMENT_FIELDS:
                close = difflib.get_close_matches(str(key), DEPLOYMENT_FIELDS, n=1, cutoff=0.75)
                hint = f" (did you mean {path}.{close[0]}?)" if close else ""
                raise ConfigError(f"{path}.{key}", f"unknown key{hint}")
        for key in ("name", "api_key", "base_url", "api_version"):
            value = item.get(key)
            if value is not None and (wrong := is_string(value)) is not None:
                raise ConfigError(f"{path}.{key}", problem(wrong, secret=key == "api_key"))
        name_value = item.get("name")
        name = name_value.strip() if isinstance(name_value, str) else str(index + 1)
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"{path}.name",
                f"invalid deployment name {name!r}: use letters, digits, '_' and '-', "
                "starting with a letter or digit",
            )
        if any(d.name == name for d in drafts):
            raise ConfigError(f"{path}.name", f"deployment {name!r} is listed twice")
        draft = DeploymentDraft(name, path)
        key_value = item.get("api_key")
        if isinstance(key_value, str) and key_value.strip():
            draft.api_key = key_value.strip()
        for field in ("base_url", "api_version"):
            value = item.get(field)
            if not isinstance(value, str) or not value.strip():
                continue
            if field == "api_version" and not api_version_allowed:
                raise ConfigError(f"{path}.api_version", "not used by this provider type")
            if refs := unresolved_refs(value):
                draft.unresolved[field] = refs
                continue
            check = check_url if field == "base_url" else check_api_version
            setattr(draft, field, check(value.strip(), f"{path}.{field}"))
        models = item.get("models")
        if models is not None:
            if (wrong := string_list(models)) is not None:
                raise ConfigError(f"{path}.models", problem(wrong, secret=False))
            assert isinstance(models, list)
            draft.models = normalize_models(models)
        weight = item.get("weight")
        if weight is not None:
            if not isinstance(weight, int | float) or isinstance(weight, bool):
                raise ConfigError(f"{path}.weight", f"expected a number > 0, got {weight!r}")
            if not 0 < float(weight) < float("inf"):
                raise ConfigError(f"{path}.weight", f"expected a number > 0, got {weight!r}")
            draft.weight = float(weight)
        limit = item.get("max_connections")
        if limit is not None:
            draft.max_connections = check_max_connections(limit, f"{path}.max_connections")
        drafts.append(draft)
    return drafts


def check_max_connections(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(where, f"expected an integer >= 1, got {value!r}")
    return value
