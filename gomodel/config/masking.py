"""Secrets as ``check-config`` shows them: enough to tell keys apart, never enough to use one.

* A key (the master key, a provider's API key) of :data:`REVEAL_MIN_LENGTH` (24) characters or
  more shows as ``****`` and its last 4 characters (``****9f3a``); a shorter one as ``****``.
  Four characters of a 24-character key leave 20 hidden; of a short key they would be a large
  share of it (the old rule showed 7 of 12).
* A URL keeps its scheme, user, hosts, port, database and query, and loses the password wherever
  libpq (psycopg) or an HTTP client would read one: after the user in the userinfo
  (``user:****@host``) and in a ``password`` or ``sslpassword`` query parameter (the key
  percent-decoded, in any case). The userinfo ends at whichever ``@`` is furthest of the ones
  libpq and a URL parser would pick, so a password with a raw ``@``, ``?``, ``#`` or ``/`` is
  masked whole. A URL with an ``@`` that neither reading places, or without ``://``, shows as
  ``<scheme>://****``.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["MASK", "REVEAL_MIN_LENGTH", "mask_secret", "mask_url"]

MASK = "****"
REVEAL_MIN_LENGTH = 24
_PASSWORD_PARAMS = frozenset({"password", "sslpassword"})


def mask_secret(secret: str) -> str:
    """``****`` and the last 4 characters of a key of 24 or more characters, else ``****``."""
    return MASK + secret[-4:] if len(secret) >= REVEAL_MIN_LENGTH else MASK


def _userinfo_end(rest: str) -> int:
    """The index of the ``@`` that ends the userinfo in ``rest`` (after ``://``), or -1."""
    # libpq: the first "@" before any "/" ("?" and "#" may be part of the password)
    libpq = next((i for i, ch in enumerate(rest) if ch in "@/"), -1)
    if libpq >= 0 and rest[libpq] != "@":
        libpq = -1
    # a URL parser: the last "@" of the authority; taken up to the query so that a raw "/" in
    # a password still counts (this only ever masks more)
    loose = rest.partition("?")[0].rfind("@")
    return max(libpq, loose)


def _mask_param(param: str) -> str:
    key, eq, _ = param.partition("=")
    if eq and unquote(key).strip().lower() in _PASSWORD_PARAMS:
        return f"{key}={MASK}"
    return param


def mask_url(url: str) -> str:
    """``url`` with every password in it replaced by ``****`` (see the module docstring)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return MASK
    userinfo = ""
    end = _userinfo_end(rest)
    if end >= 0:
        user, colon, _ = rest[:end].partition(":")
        userinfo = f"{user}:{MASK}@" if colon else f"{user}@"
        rest = rest[end + 1 :]
    head, question, query = rest.partition("?")
    params = [_mask_param(p) for p in query.split("&")] if question else []
    unplaced = "@" in head or any("@" in p.partition("=")[0] for p in params)
    if unplaced or "@" in userinfo.removesuffix("@"):
        return f"{scheme}://{MASK}"
    return f"{scheme}://{userinfo}{head}{question}{'&'.join(params)}"
