"""``X-GoModel-User-Path``: who a request is for, as a path (SPEC §4.1). Pure.

Trimmed, a leading ``/`` added, empty segments dropped; ``.``/``..`` segments or a ``:`` are a
400. No header, or nothing left, is ``/``.
"""

from __future__ import annotations

from gomodel.errors import InvalidRequest

__all__ = ["normalize_user_path"]


def normalize_user_path(raw: bytes | None) -> str:
    if raw is None:
        return "/"
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise _invalid()
    segments = [s for s in text.split("/") if s]
    if any(s in (".", "..") or ":" in s or not s.isprintable() for s in segments):
        raise _invalid()
    return "/" + "/".join(segments)


def _invalid() -> InvalidRequest:
    return InvalidRequest("invalid X-GoModel-User-Path header", param="X-GoModel-User-Path")
