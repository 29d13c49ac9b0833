"""``hypercorn --worker-class trio gomodel.asgi:app``: configuration comes from the environment
(and ``GOMODEL_CONFIG`` or ``config.yaml``), read when the lifespan starts."""

from __future__ import annotations

import os

from gomodel.app.asgi import GatewayApp
from gomodel.config import Config, load_config

__all__ = ["app"]


def _config_from_environment() -> Config:
    return load_config(os.environ, config_path=os.environ.get("GOMODEL_CONFIG") or None)


app = GatewayApp(_config_from_environment)
