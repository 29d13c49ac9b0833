"""Logging set-up, the same in every process that serves: ``gomodel serve`` with one worker,
each of its ``--workers N`` processes, and ``hypercorn gomodel.asgi:app``."""

from __future__ import annotations

import logging

from gomodel.config import Config

__all__ = ["setup_logging"]

_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_JSON = '{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}'


def setup_logging(config: Config) -> None:
    """``LOG_LEVEL`` and ``LOG_FORMAT`` on the root logger, unless the host program (a server
    started with its own logging configuration, a test) already configured it."""
    ours = not logging.getLogger().handlers
    logging.basicConfig(
        level=config.log_level.upper(), format=_JSON if config.log_format == "json" else _TEXT
    )
    if ours:
        # One line per request is on the hot path: skip what no format here prints (the
        # caller's file and line, found by walking the stack; process and task names), as the
        # logging HOWTO's "Optimization" section suggests. Process and thread ids stay:
        # hypercorn's own log format prints %(process)d, which fails on None.
        logging._srcfile = None
        logging.logMultiprocessing = False
        logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # 3.12+; harmless before
    # httpx logs every upstream request at INFO; the gateway's own line per request says more.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
