"""``gomodel check-config``: the effective configuration as YAML-like text, secrets masked.

Each scalar setting is shown by its kind (a secret kind masks, see
:mod:`gomodel.config.masking`) at its YAML path, with the environment variable that sets it.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from gomodel.config.masking import mask_secret, mask_url
from gomodel.config.settings import SETTINGS, Config

__all__ = ["describe_config"]

NOT_SET = "(not set)"


def describe_config(config: Config) -> str:
    """The effective configuration as YAML-like text, secrets masked, for ``check-config``."""
    lines = [f"# config file: {config.config_file or '(none)'}"]
    open_path: tuple[str, ...] = ()
    for setting in SETTINGS:
        *parents, key = setting.path
        for depth, name in enumerate(parents):
            if open_path[: depth + 1] != tuple(parents[: depth + 1]):
                lines.append(f"{'  ' * depth}{name}:")
        open_path = tuple(parents)
        value = getattr(config, setting.field)
        shown = NOT_SET if value is None else setting.kind.show(value)
        entry = f"{'  ' * len(parents)}{key}: {shown}"
        lines.append(f"{entry:<46} # {setting.env}")
    lines.append("providers:" if config.providers else "providers: {}  # none")
    for p in config.providers:
        lines += [
            f"  {p.name}:",
            f"    type: {p.type}",
            f"    base_url: {mask_url(p.base_url)}",
            f"    api_key: {NOT_SET if p.api_key is None else mask_secret(p.api_key)}",
            f"    api_version: {NOT_SET if p.api_version is None else p.api_version}",
            f"    models: {', '.join(p.models) if p.models else NOT_SET}",
        ]
        if p.group is not None:
            lines.append(f"    deployment_of: {p.group}")
            lines.append(f"    weight: {p.weight:g}")
        if p.max_connections is not None:
            lines.append(f"    max_connections: {p.max_connections}")
    for group in config.groups:
        lines.append(f"  # {group.name}: {group.strategy.value} over {', '.join(group.members)}")
    lines.append("virtual_models:" if config.virtual_models else "virtual_models: []  # none")
    for model in config.virtual_models:
        targets = ", ".join(
            t.label if t.weight == 1 else f"{t.label} (weight {t.weight:g})" for t in model.targets
        )
        failover = "" if model.failover else ", no failover"
        lines.append(f"  {model.name}: {model.strategy.value}{failover}: {targets}")
    lines.append("warnings:" if config.warnings else "warnings: []  # none")
    lines += [f"  - {warning}" for warning in config.warnings]
    return "\n".join(lines)
