"""gomodel: an OpenAI-compatible AI gateway on trio.

One HTTP endpoint in front of many LLM providers. A chat stream that needs no rewriting is
relayed byte for byte; everything else is minimally rewritten or translated.
"""

from gomodel._version import __version__
from gomodel.app.asgi import GatewayApp
from gomodel.config import Config, ProviderConfig, load_config
from gomodel.errors import ConfigError, GatewayError
from gomodel.serve import serve_gateway

__all__ = [
    "Config",
    "ConfigError",
    "GatewayApp",
    "GatewayError",
    "ProviderConfig",
    "__version__",
    "load_config",
    "serve_gateway",
]
