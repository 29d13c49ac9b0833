"""Where Redis is and how patient to be with it: :class:`RedisSettings`, from ``REDIS_URL``.

``redis://[[user]:password@]host[:port][/db]`` and ``rediss://`` (TLS) as GOModel reads them;
percent-escapes in the user and password are decoded. The numbers are constructor arguments,
not URL parameters, so an operator sets them with their own env names (see docs/limits.md).

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import attrs

from gomodel.errors import ConfigError
from gomodel.redis.resp import Parser

__all__ = ["DEFAULT_TIMEOUT", "RedisSettings"]

DEFAULT_TIMEOUT = 0.5  # seconds; one limit check must never hold a request longer than this


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


@attrs.frozen(kw_only=True)
class RedisSettings:
    """One Redis server and the client's bounds on waiting for it."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=lambda p: "***" if p else "None")
    tls: bool = False
    # Every call (connect and handshake included) fails with RedisUnavailable past this.
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_positive)
    # After a failed connect or a timed-out call, calls fail at once for this long, doubling on
    # each further failure up to backoff_max; the first reply that arrives resets it.
    backoff_min: float = attrs.field(default=0.05, validator=_positive)
    backoff_max: float = attrs.field(default=2.0, validator=_positive)
    # "hiredis" (C, PyPI hiredis), "python" (gomodel.redis.resp) or "auto" (hiredis when it
    # can be imported); docs/decisions.md has the measurements behind the default.
    parser: Parser = "auto"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        parser: Parser = "auto",
        setting: str = "REDIS_URL",
    ) -> RedisSettings:
        """Settings from a ``redis://`` or ``rediss://`` URL; a bad URL is a ConfigError naming
        ``setting``."""
        parts = urlsplit(url.strip())
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(setting, f"expected redis:// or rediss://, got {url!r}")
        try:
            port = parts.port or 6379
        except ValueError:
            raise ConfigError(setting, f"bad port in {url!r}")
        host = parts.hostname
        if not host:
            raise ConfigError(setting, f"no host in {url!r}")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ConfigError(setting, f"the path must be a database number, got {path!r}")
        username = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        try:
            return cls(
                host=host,
                port=port,
                db=int(path or 0),
                username=username,
                password=password,
                tls=parts.scheme == "rediss",
                timeout=timeout,
                parser=parser,
            )
        except ValueError as exc:
            raise ConfigError(setting, str(exc))

    def handshake(self) -> list[list[str | int]]:
        """The commands every new connection sends before any other (AUTH, SELECT)."""
        commands: list[list[str | int]] = []
        if self.password is not None:
            if self.username:
                commands.append(["AUTH", self.username, self.password])
            else:
                commands.append(["AUTH", self.password])
        if self.db:
            commands.append(["SELECT", self.db])
        return commands
