"""Secrets as ``check-config`` shows them.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["mask_secret", "mask_url"]


def mask_secret(secret: str) -> str:
    """The first 3 and last 4 characters of a key of 12 or more characters, else ``****``."""
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 12 else "****"


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:****@{host}").geturl()
