"""Gateway configuration: one frozen :class:`Config`, built once at startup by :func:`load_config`.

Sources, each overriding the one before: code defaults -> YAML file (``--config``, else
``config/config.yaml`` or ``config.yaml`` in the working directory) -> environment variables ->
CLI overrides. Where the Go gateway has a setting we keep its env var name (SPEC §2.1, §10.8);
the rest are ours. An empty env value means "not set", as in Go.

Every bad value is a :class:`~gomodel.errors.ConfigError` naming the setting (``PORT``,
``server.port``, ``--port``); ``gomodel`` prints it and exits with status 2. A provider that cannot
work (no key, no base URL) is not an error: it is dropped and :attr:`Config.warnings` says why.

The modules, one concept each:

* :mod:`~gomodel.config.settings`: :class:`Config`, whose fields are the settings table;
* :mod:`~gomodel.config.kinds`: how a setting parses from env text and from YAML, and shows;
  :mod:`~gomodel.config.parsers`: the env syntax of sizes, durations and booleans;
* :mod:`~gomodel.config.sources`: reading the YAML file, ``${VAR}`` expansion;
* :mod:`~gomodel.config.document`: the file against the table (unknown keys, wrong types);
* :mod:`~gomodel.config.providers`: the ``providers:`` entries layered with ``<TYPE>_*``;
* :mod:`~gomodel.config.load`: :func:`load_config`, the layering;
* :mod:`~gomodel.config.masking`, :mod:`~gomodel.config.describe`: ``check-config``.

Pure: no trio, httpx or hypercorn. docs/configuration.md is the user-facing reference.
"""

from __future__ import annotations

from gomodel.config.describe import describe_config
from gomodel.config.load import load_config
from gomodel.config.parsers import parse_bool, parse_duration, parse_size
from gomodel.config.providers import ProviderConfig
from gomodel.config.settings import Config

__all__ = [
    "Config",
    "ProviderConfig",
    "describe_config",
    "load_config",
    "parse_bool",
    "parse_duration",
    "parse_size",
]
