"""Reading the YAML file: ``${VAR}`` expansion, a strict YAML loader, and the raw document.

* :func:`expand_env` applies ``${VAR}`` / ``${VAR:-default}`` to the file's text, as the Go
  gateway does: an unset or empty variable takes the default, and without one the reference
  stays literal (:func:`unresolved_refs` finds what is left);
* :func:`read_file` parses the expanded text, rejecting duplicate keys, and returns the
  document as plain mappings and lists. It checks nothing else: :mod:`gomodel.config.document`
  compares the document with the settings table.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping
from typing import Any

import yaml

from gomodel.errors import ConfigError

__all__ = ["Document", "expand_env", "read_file", "show_value", "unresolved_refs"]

# The YAML document as PyYAML builds it: keys are usually str, values any YAML value.
Document = Mapping[Any, Any]

_REF = re.compile(r"\$\{([^}]*)\}")


def expand_env(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unresolved ``${VAR}`` stays as written."""

    def replace(match: re.Match[str]) -> str:
        name, has_default, default = match.group(1).partition(":-")
        value = environ.get(name, "")
        if value:
            return value
        return default if has_default else match.group(0)

    return _REF.sub(replace, text)


def unresolved_refs(value: str) -> list[str]:
    """Names of the ``${VAR}`` references still present in ``value``."""
    return [m.group(1).partition(":-")[0] for m in _REF.finditer(value)]


def show_value(value: object) -> str:
    """A value as YAML would spell it, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, Hashable):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only position and problem: the offending line may hold an expanded secret.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return f"invalid YAML: {type(exc).__name__}"


def read_file(path: str, environ: Mapping[str, str]) -> Document:
    """Read, expand and parse one YAML config file (empty: ``{}``). Raises :class:`ConfigError`."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(path, f"cannot read the file: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(path, "the file is not valid UTF-8")
    try:
        document = yaml.load(expand_env(text, environ), Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(path, _yaml_problem(exc))
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(path, f"expected a mapping at the top level, got {show_value(document)}")
    return document
