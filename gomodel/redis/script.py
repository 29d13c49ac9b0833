"""A Lua script known by its SHA1, as ``EVALSHA`` wants it.

This module is pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import attrs

__all__ = ["Script"]


@attrs.frozen
class Script:
    """Lua source and its SHA1; :meth:`RedisClient.evalsha` loads it when Redis has not seen it."""

    name: str
    source: str = attrs.field(repr=False)
    sha1: str = attrs.field(init=False, repr=False)

    @sha1.default
    def _sha1(self) -> str:
        return hashlib.sha1(self.source.encode()).hexdigest()

    @classmethod
    def from_package(cls, package: str, filename: str) -> Script:
        """The script shipped as ``filename`` inside ``package`` (package data)."""
        return cls(filename, resources.files(package).joinpath(filename).read_text("utf-8"))
