"""Client paths that become provider paths: passthrough endpoints and response ids. Pure.

hypercorn gives the app two paths: ``path``, percent-decoded once (``%2e%2e`` is already
``..``, ``%3F`` already ``?``, ``%2F`` already ``/``), and ``raw_path``, the bytes the client
sent. A path the gateway builds an upstream URL from comes from ``raw_path`` (``path`` only when
a server gives no ``raw_path``):

* it is split on ``/`` and each segment is percent-decoded exactly once, as UTF-8;
* a segment is refused (400, before any upstream call) when a server on the way could read it
  as ``.`` or ``..``: decoded once more or twice more (``%252e``), split at ``/``, ``\\`` or a
  ``;`` parameter, Unicode-normalised (NFKC: fullwidth dots), with blanks and control
  characters stripped. A malformed escape (``%zz``, ``%u002e``), bytes that are not printable
  ASCII, or a decoding that is not UTF-8 are refused too;
* the upstream path re-encodes every segment, so a ``?``, ``#``, ``%``, ``/``, ``\\``, ``;``,
  a blank, a control character or a non-ASCII letter the client sent encoded stays one literal
  path byte of that segment: it can neither start a query or fragment nor end the segment.

Response ids (``/v1/responses/{id}``) need no encoding: they must match :data:`RESPONSE_ID`.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote, unquote_to_bytes

import attrs

from gomodel.errors import InvalidRequest

__all__ = [
    "RESPONSE_ID",
    "PassthroughPath",
    "encode_segment",
    "passthrough_path",
    "request_segments",
    "response_path",
    "upstream_query",
]

# Letters, digits, "_" and "-", up to 128 (OpenAI's are "resp_" and 48 hex digits).
RESPONSE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

# RFC 3986 pchar without "%" (escapes are made here) and ";" (a path parameter to some servers,
# as in "..;/"); everything else is percent-encoded.
_SEGMENT_SAFE = "-._~!$&'()*+,=:@"
_RAW_SEGMENT = re.compile(rb"(?:[!-$&-.0-~]|%[0-9A-Fa-f]{2})*")  # printable ASCII but "/"
# Where a server may end a segment or a name: "/", "\\", a ";" parameter, a NUL.
_SEPARATORS = re.compile(r"[/\\;\x00]")
# What a server may ignore or trim: blanks, control characters, invisible format characters.
_INVISIBLE = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)
_DECODINGS = 3  # the segment as decoded, and decoded once and twice more
_QUERY_KEPT = frozenset(range(0x21, 0x7F)) - {ord("#")}


def request_segments(raw_path: bytes | None, path: str) -> tuple[str, ...]:
    """The segments of an absolute path after its leading ``/``, each decoded once; empty
    segments are kept. ``raw_path`` wins over the decoded ``path`` (used as is without it)."""
    if raw_path is None:
        texts = path.removeprefix("/").split("/")
    else:
        raw = raw_path.partition(b"?")[0]  # some servers leave the query in raw_path
        texts = [_decode(part) for part in raw.removeprefix(b"/").split(b"/")]
    for text in texts:
        if _dot_like(text):
            raise _invalid_path("a path segment may not be '.' or '..', however encoded")
    return tuple(texts)


def encode_segment(text: str) -> str:
    """One decoded segment as the literal path bytes of one segment."""
    return quote(text, safe=_SEGMENT_SAFE, errors="replace")


def upstream_query(query: bytes) -> str:
    """The client's own query string for an upstream URL (``""`` or ``"?..."``): a ``#`` and
    any byte that is not printable ASCII are percent-encoded, so no fragment can start."""
    if not query:
        return ""
    return "?" + "".join(chr(b) if b in _QUERY_KEPT else f"%{b:02X}" for b in query)


@attrs.frozen
class PassthroughPath:
    """``/p/{provider}/{endpoint...}``, decoded and checked."""

    provider: str
    endpoint: tuple[str, ...]  # decoded segments after the provider, the v1 alias included

    @property
    def v1_alias(self) -> bool:
        """Whether the endpoint starts with ``v1`` (``ALLOW_PASSTHROUGH_V1_ALIAS``)."""
        return self.endpoint[:1] == ("v1",)

    @property
    def upstream_endpoint(self) -> str:
        """The endpoint under the provider's base URL, the v1 alias removed, encoded; ``""``
        when there is none."""
        segments = self.endpoint[1:] if self.v1_alias else self.endpoint
        if not any(segments):
            return ""
        return "/".join(map(encode_segment, segments))

    @property
    def path(self) -> str:
        """The client's path, re-encoded: safe to record and to log."""
        return "/p/" + "/".join(map(encode_segment, (self.provider, *self.endpoint)))


def passthrough_path(raw_path: bytes | None, path: str) -> PassthroughPath:
    segments = request_segments(raw_path, path)
    if len(segments) < 2 or segments[0] != "p":
        raise _invalid_path("a passthrough path is /p/{provider}/{endpoint}")
    return PassthroughPath(segments[1], segments[2:])


def response_path(raw_path: bytes | None, path: str) -> tuple[str, str]:
    """``(id, action)`` of ``/v1/responses/{id}[/{action...}]``; the id may be ``""`` (no
    such route) or must match :data:`RESPONSE_ID`."""
    segments = request_segments(raw_path, path)
    if segments[:2] != ("v1", "responses") or len(segments) < 3:
        raise _invalid_path("a response path is /v1/responses/{id}")
    response_id, action = segments[2], "/".join(segments[3:])
    if response_id and not RESPONSE_ID.fullmatch(response_id):
        raise InvalidRequest(
            "invalid response id: use letters, digits, '_' and '-', at most 128",
            param="response_id",
        )
    return response_id, action


def _decode(raw: bytes) -> str:
    if not _RAW_SEGMENT.fullmatch(raw):
        raise _invalid_path("a path segment has a malformed percent-escape or a byte to escape")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid_path("a path segment does not decode to UTF-8")


def _dot_like(text: str) -> bool:
    """Whether some server on the way could take ``text``, or a piece of it, for a dot segment."""
    for _ in range(_DECODINGS):
        for piece in _SEPARATORS.split(text):
            if not piece.isascii():
                piece = unicodedata.normalize("NFKC", piece)
            if _INVISIBLE.sub("", piece) in (".", ".."):
                return True
        if "%" not in text:
            return False
        text = unquote(text, errors="replace")
    return False


def _invalid_path(why: str) -> InvalidRequest:
    return InvalidRequest(f"invalid request path: {why}", code="invalid_path")
