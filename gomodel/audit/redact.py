"""Secrets out of everything the audit log stores, before it is stored (docs/observability.md,
"Redaction").

* Headers: the value of ``authorization``, ``proxy-authorization``, ``x-api-key``, ``api-key``,
  ``x-goog-api-key``, ``cookie``, ``set-cookie``, ``x-auth-token``, ``x-access-token`` and
  ``x-gomodel-key`` is replaced by ``[REDACTED]`` whatever it is (names compared
  case-insensitively); every other value goes through the text rule below.
* Text (bodies, other header values, error messages): every occurrence of a configured secret
  (each provider's API key, the master key, the metrics token), as written and as JSON would
  escape it, and anything shaped like a managed gateway key (``sk_gom_...``), becomes
  ``[REDACTED]``. Secrets shorter than 8 characters are not searched for (they would blank
  out ordinary words; no real key is that short).
* Bodies are cut at the cap *after* redaction of a window that reaches past the cap by the
  longest secret, so a secret that straddles the cut cannot leave its first half behind.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import orjson

__all__ = ["REDACTED", "SECRET_HEADERS", "Body", "Redactor"]

REDACTED = "[REDACTED]"
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "cookie",
        "set-cookie",
        "x-auth-token",
        "x-access-token",
        "x-gomodel-key",
    }
)
MIN_SECRET = 8
_MANAGED_KEY = r"sk_gom_[A-Za-z0-9_\-]{16,}"


@attrs.frozen
class Body:
    """A body as stored: parsed JSON when it is whole and valid, else text."""

    value: Any  # dict / list / str / ...; None: no body
    size: int  # bytes received
    truncated: bool  # cut at the cap


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        found: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET:
                found.add(secret)
                found.add(orjson.dumps(secret).decode()[1:-1])  # as a JSON string holds it
        # Longest first, so a secret that contains another is replaced whole.
        ordered = sorted(found, key=len, reverse=True)
        self._secrets = tuple(ordered)
        self.longest = max((len(s) for s in ordered), default=0) + 64
        self._pattern = re.compile("|".join([*map(re.escape, ordered), _MANAGED_KEY]))

    def text(self, value: str) -> str:
        if "sk_gom_" in value or any(secret in value for secret in self._secrets):
            return self._pattern.sub(REDACTED, value)
        return value

    def headers(self, headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
        """Flattened (one string per name, lower-case names), secrets redacted."""
        flat: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            value = REDACTED if name in SECRET_HEADERS else self.text(raw_value.decode("latin-1"))
            flat[name] = f"{flat[name]}, {value}" if name in flat else value
        return flat

    def body(self, raw: bytes | None, cap: int) -> Body:
        if raw is None:
            return Body(None, 0, False)
        size = len(raw)
        truncated = size > cap
        window = raw[: cap + self.longest] if truncated else raw
        text = self.text(window.decode("utf-8", "replace"))
        if truncated:
            text = text.encode()[:cap].decode("utf-8", "ignore")
            return Body(text, size, True)
        try:
            return Body(orjson.loads(text), size, False)
        except orjson.JSONDecodeError:
            return Body(text, size, False)

    def value(self, value: Any) -> Any:
        """Every string inside a JSON-like value (a reassembled stream), redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value
