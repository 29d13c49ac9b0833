"""``hypercorn --worker-class trio gomodel.asgi:app``: configuration comes from the environment
(and ``GOMODEL_CONFIG`` or ``config.yaml``), read when the lifespan starts."""

from __future__ import annotations

import os

from gomodel.app.asgi import GatewayApp
from gomodel.config import Config, load_config
from gomodel.logs import setup_logging

__all__ = ["app"]


def _config_from_environment() -> Config:
    config = load_config(os.environ, config_path=os.environ.get("GOMODEL_CONFIG") or None)
    setup_logging(config)  # a worker process of `gomodel serve --workers N`, or hypercorn's
    return config


app = GatewayApp(_config_from_environment)
