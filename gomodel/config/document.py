"""The YAML file against the settings table: unknown keys and wrongly typed values.

The keys a file may have are the paths of :data:`~gomodel.config.settings.SETTINGS` and the
sections above them, plus the special sections: ``providers.<name>.<field>`` (fields from
:data:`~gomodel.config.providers.ENTRY_FIELDS`), ``prices:`` (checked by the price table) and
``virtual_models:`` (a list, checked by :mod:`gomodel.config.virtual_models`).
The unknown keys are the set difference between the document's dotted paths and those; they
are reported together with every wrongly typed value, in document order, in one
:class:`ConfigError` whose setting is the first problem's path::

    server.prot: unknown key (did you mean server.port?); also http.timeout: expected ...

Ranges, choices and units are checked afterwards, setting by setting, by each
:class:`~gomodel.config.kinds.Kind`.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping

from gomodel.config.kinds import WrongType, problem
from gomodel.config.providers import ENTRY_FIELDS, SECRET_ENTRY_FIELDS
from gomodel.config.settings import YAML_LEAVES, YAML_SECTIONS
from gomodel.config.sources import Document
from gomodel.errors import ConfigError

__all__ = ["check_document", "file_value"]

Path = tuple[str, ...]

_PROVIDERS: Path = ("providers",)
_PRICES: Path = ("prices",)
_VIRTUAL: Path = ("virtual_models",)  # a list: its entries are checked where it is parsed
_KNOWN: frozenset[Path] = frozenset(YAML_LEAVES) | YAML_SECTIONS | {_PROVIDERS, _PRICES, _VIRTUAL}


def _named(path: Path) -> bool:
    """A key the user names: ``providers.<name>``, ``prices.<type>``, ``prices.<type>.<model>``."""
    return (len(path) == 2 and path[0] in ("providers", "prices")) or (
        len(path) == 3 and path[0] == "prices"
    )


def _below(path: Path) -> bool:
    """Whether the keys under ``path`` are checked here."""
    if path in YAML_SECTIONS or path in (_PROVIDERS, _PRICES):
        return True
    return len(path) == 2 and _named(path)  # one provider entry, one provider type's prices


def _keys(
    node: Mapping[object, object], prefix: Path = ()
) -> Iterator[tuple[Path, object, object]]:
    """(dotted path, key, value) for every key in the document, in document order.

    Descends into sections, provider entries and the price table's first two levels only: the
    keys under an unknown key are not reported again, and rates are the price table's to check.
    """
    for key, value in node.items():
        path = (*prefix, str(key))
        yield path, key, value
        if isinstance(value, dict) and _below(path):
            yield from _keys(value, path)


def _known(paths: set[Path]) -> frozenset[Path]:
    """The table's paths, and the document's named keys with, for a provider, its fields."""
    named = {path for path in paths if _named(path)}
    entry_fields = {(*p, field) for p in named if p[0] == "providers" for field in ENTRY_FIELDS}
    return _KNOWN | named | entry_fields


def _wrong_type(path: Path, key: object, value: object) -> str | None:
    """The problem with a known key or its value, or ``None`` (``null`` means "not set")."""
    if _named(path) and not isinstance(key, str):
        return problem(WrongType("a string", key), secret=False)
    if value is None:
        return None
    if path in YAML_LEAVES:
        kind = YAML_LEAVES[path].kind
        wrong = kind.check(value)
        return problem(wrong, secret=kind.secret) if wrong else None
    if len(path) == 3 and path[0] == "providers":  # providers.<name>.<field>
        wrong = ENTRY_FIELDS[path[2]](value)
        return problem(wrong, secret=path[2] in SECRET_ENTRY_FIELDS) if wrong else None
    if len(path) == 3 and path[0] == "prices":  # one model's rates: the price table checks them
        return None
    if path == _VIRTUAL:
        ok = isinstance(value, list)
        return None if ok else problem(WrongType("a list of virtual models", value), secret=False)
    # a section, providers:, prices:, one provider entry, or one provider type's prices
    return None if isinstance(value, dict) else problem(WrongType("a mapping", value), secret=False)


def _unknown(path: Path, known: frozenset[Path]) -> str:
    """``unknown key``, and the known key it most looks like, if one does."""
    siblings = [p[-1] for p in known if len(p) == len(path) and p[:-1] == path[:-1]]
    close = difflib.get_close_matches(path[-1], siblings, n=1, cutoff=0.75)
    if not close:
        return "unknown key"
    return f"unknown key (did you mean {'.'.join((*path[:-1], close[0]))}?)"


def check_document(document: Document) -> None:
    """Raise one :class:`ConfigError` naming every unknown key and wrongly typed value."""
    keys = list(_keys(document))
    paths = {path for path, _, _ in keys}
    known = _known(paths)
    unknown = paths - known
    problems: list[tuple[str, str]] = []
    for path, key, value in keys:
        found = _unknown(path, known) if path in unknown else _wrong_type(path, key, value)
        if found is not None:
            problems.append((".".join(path), found))
    if problems:
        (setting, first), rest = problems[0], problems[1:]
        if rest:
            first += "; also " + "; ".join(f"{s}: {p}" for s, p in rest)
        raise ConfigError(setting, first)


def file_value(document: Document, path: Path) -> object:
    """The value at ``path`` in a checked document; ``None`` when absent or null."""
    node: object = document
    for name in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(name)
    return node
