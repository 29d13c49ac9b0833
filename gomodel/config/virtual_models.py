"""Virtual models: ``virtual_models:`` in the YAML file and ``VIRTUAL_MODELS`` in the environment.

Both take GOModel's shape, a list of entries (the environment variable as a JSON array)::

    virtual_models:
      - source: smart                  # the name clients send as "model"
        strategy: priority             # priority | weighted | least_inflight | lowest_cost |
                                       # sticky (GOModel's failover, round_robin, cost too)
        targets:
          - model: anthropic/claude-sonnet-4-5
          - {provider: openai, model: gpt-4o}
      - source: fast
        target: groq/llama-3.1-8b-instant   # one target: an alias
      - source: balanced
        targets: [{model: azure/gpt-4o, weight: 3}, {model: openai/gpt-4o}]
        failover: false                # serve the chosen target only (default true)

A target may also be written as a plain string (``- openai/gpt-4o``). Entries of the
environment variable replace entries of the file with the same ``source`` (the environment
wins, as everywhere). ``enabled: false`` leaves an entry out; ``description`` is kept for
people. The default strategy is ``weighted`` (GOModel's ``round_robin``), every weight 1.

Whether a target's provider is configured and serves its model is known only once the model
lists are in: a target that is not is left out of each request's choice. What can be checked
here is: names, strategies, weights, and that no virtual model reaches itself through others.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

import orjson

from gomodel.config.sources import show_value
from gomodel.errors import ConfigError
from gomodel.routing.strategy import STRATEGY_NAMES, Strategy, parse_strategy
from gomodel.routing.virtual import VirtualModel, VirtualTarget

__all__ = ["ENV", "parse_virtual_models"]

ENV = "VIRTUAL_MODELS"
_ENTRY_KEYS = ("source", "strategy", "target", "targets", "failover", "enabled", "description")
_TARGET_KEYS = ("provider", "model", "weight")


def parse_virtual_models(from_file: object, environ: Mapping[str, str]) -> tuple[VirtualModel, ...]:
    """The enabled virtual models of the file's ``virtual_models:`` with ``VIRTUAL_MODELS``
    over them, in file order (new ones from the environment after), checked."""
    merged: dict[str, VirtualModel | None] = {}
    if from_file is not None:
        for model in _entries(from_file, "virtual_models"):
            merged[model[0]] = model[1]
    text = environ.get(ENV, "").strip()
    if text:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(ENV, f"expected a JSON array of virtual models: {exc}")
        for model in _entries(doc, ENV):
            merged.pop(model[0], None)
            merged[model[0]] = model[1]
    models = {name: model for name, model in merged.items() if model is not None}
    _check_cycles(models)
    return tuple(models.values())


def _entries(doc: object, where: str) -> list[tuple[str, VirtualModel | None]]:
    """``(source, model or None when disabled)`` for each entry of one source."""
    if not isinstance(doc, list):
        raise ConfigError(where, f"expected a list of virtual models, got {show_value(doc)}")
    seen: set[str] = set()
    out: list[tuple[str, VirtualModel | None]] = []
    for index, entry in enumerate(doc):
        path = f"{where}[{index}]"
        model = _entry(entry, path)
        if model[0] in seen:
            raise ConfigError(f"{path}.source", f"virtual model {model[0]!r} is listed twice")
        seen.add(model[0])
        out.append(model)
    return out


def _unknown(keys: Sequence[object], known: Sequence[str], path: str) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            hint = f" (did you mean {path}.{close[0]}?)" if close else ""
            raise ConfigError(f"{path}.{key}", f"unknown key{hint}")


def _text(entry: Mapping[str, object], key: str, path: str, *, required: bool) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        problem = "is required" if value is None else f"expected a string, got {show_value(value)}"
        raise ConfigError(f"{path}.{key}", problem)
    if any(ch.isspace() for ch in value.strip()):
        raise ConfigError(f"{path}.{key}", f"must not contain whitespace, got {value!r}")
    return value.strip()


def _flag(entry: Mapping[str, object], key: str, path: str) -> bool:
    value = entry.get(key, True)
    if value is None:
        return True
    if not isinstance(value, bool):
        raise ConfigError(f"{path}.{key}", f"expected true or false, got {show_value(value)}")
    return value


def _entry(entry: object, path: str) -> tuple[str, VirtualModel | None]:
    if not isinstance(entry, dict):
        raise ConfigError(path, f"expected a mapping, got {show_value(entry)}")
    _unknown(list(entry), _ENTRY_KEYS, path)
    source = _text(entry, "source", path, required=True)
    assert source is not None
    strategy = Strategy.WEIGHTED
    word = entry.get("strategy")
    if word is not None:
        parsed = parse_strategy(word) if isinstance(word, str) else None
        if parsed is None:
            raise ConfigError(
                f"{path}.strategy",
                f"unknown strategy {show_value(word)}; expected one of: "
                + ", ".join(STRATEGY_NAMES),
            )
        strategy = parsed
    single, listed = entry.get("target"), entry.get("targets")
    if single is not None and listed is not None:
        raise ConfigError(f"{path}.target", "give either target or targets, not both")
    targets: tuple[VirtualTarget, ...]
    if single is not None:
        targets = (_target(single, f"{path}.target"),)
    elif isinstance(listed, list) and listed:
        targets = tuple(_target(item, f"{path}.targets[{i}]") for i, item in enumerate(listed))
    else:
        raise ConfigError(f"{path}.targets", "expected a non-empty list of targets")
    description = entry.get("description")
    if description is not None and not isinstance(description, str):
        raise ConfigError(
            f"{path}.description", f"expected a string, got {show_value(description)}"
        )
    if not _flag(entry, "enabled", path):
        return source, None
    model = VirtualModel(
        source,
        targets,
        strategy=strategy,
        failover=_flag(entry, "failover", path),
        description=description,
    )
    return source, model


def _target(item: object, path: str) -> VirtualTarget:
    if isinstance(item, str):
        item = {"model": item}
    if not isinstance(item, dict):
        raise ConfigError(path, f"expected a selector or a mapping, got {show_value(item)}")
    _unknown(list(item), _TARGET_KEYS, path)
    model = _text(item, "model", path, required=True)
    assert model is not None
    provider = _text(item, "provider", path, required=False)
    weight = item.get("weight", 1)
    if weight is None:
        weight = 1
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < 1e9:
        raise ConfigError(f"{path}.weight", f"expected a number > 0, got {show_value(weight)}")
    return VirtualTarget(model, provider, float(weight))


def _check_cycles(models: Mapping[str, VirtualModel]) -> None:
    """No virtual model may reach itself through the virtual models among its targets."""

    def visit(name: str, trail: tuple[str, ...]) -> None:
        for target in models[name].targets:
            if target.provider is not None or target.model not in models:
                continue
            if target.model in trail:
                loop = " -> ".join((*trail, target.model))
                raise ConfigError("virtual_models", f"virtual models refer to each other: {loop}")
            visit(target.model, (*trail, target.model))

    for name in models:
        visit(name, (name,))
