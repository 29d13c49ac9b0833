"""An estimate of a Messages request's input tokens, for ``count_tokens`` on models that are
not Anthropic's (Anthropic's own endpoint counts exactly; nothing else has one).

:func:`estimate_input_tokens` counts what
:func:`~gomodel.translate.messages_request.messages_to_chat` would send, with a heuristic
instead of the model's tokenizer (which the gateway does not have, and which differs per
provider):

* text: its UTF-8 length divided by :data:`BYTES_PER_TOKEN` (4), rounded up, per piece: the
  system prompt, text blocks, text documents (with title and context), tool results, and
  tool calls (name and the compact JSON of ``input``);
* tools: each definition's compact JSON (``name``, ``description``, ``input_schema``) the same
  way;
* every image (in a message or a tool result) a flat :data:`IMAGE_TOKENS` (765: what OpenAI's
  GPT-4o family charges for a 1024x1024 image at high detail), every PDF a flat
  :data:`PDF_TOKENS` (1500: the low end of the 1,500-3,000 tokens a page that Anthropic
  documents, for one page);
* :data:`MESSAGE_TOKENS` (4) per chat message the translation makes (the system prompt, each
  turn, each tool result) and :data:`REPLY_TOKENS` (3) for the answer's start, OpenAI's chat
  framing;
* ``thinking`` and ``redacted_thinking`` blocks count nothing: the translation drops them.

The request is read leniently (what it cannot read counts nothing); validate it with
``messages_to_chat`` first for the same 400s a real request gets. How far off this can be is
measured in docs/anthropic.md ("Token estimates").

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

__all__ = [
    "BYTES_PER_TOKEN",
    "IMAGE_TOKENS",
    "MESSAGE_TOKENS",
    "PDF_TOKENS",
    "REPLY_TOKENS",
    "estimate_input_tokens",
    "text_tokens",
]

BYTES_PER_TOKEN = 4
MESSAGE_TOKENS = 4
REPLY_TOKENS = 3
IMAGE_TOKENS = 765
PDF_TOKENS = 1500


def estimate_input_tokens(doc: dict[str, Any]) -> int:
    """The estimated input tokens of the Messages request ``doc`` (see the module docs)."""
    total = REPLY_TOKENS
    system = _texts(doc.get("system"))
    if system:
        total += MESSAGE_TOKENS + system
    messages = doc.get("messages")
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict):
            total += _message(message.get("content"))
    tools = doc.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict):
            keys = ("name", "description", "input_schema")
            total += _json_tokens({k: tool[k] for k in keys if k in tool})
    return total


def text_tokens(text: str) -> int:
    """The estimated tokens of ``text``: UTF-8 bytes / :data:`BYTES_PER_TOKEN`, rounded up."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
    return -(-size // BYTES_PER_TOKEN)


def _message(content: object) -> int:
    """One turn: the turn itself, plus one chat message per tool result it holds."""
    if isinstance(content, str):
        return MESSAGE_TOKENS + text_tokens(content)
    total = MESSAGE_TOKENS
    for block in _blocks(content):
        if block.get("type") == "tool_result":
            total += _message(block.get("content"))
        else:
            total += _block(block)
    return total


def _block(block: dict[str, Any]) -> int:
    kind = block.get("type")
    if kind == "text":
        return _texts([block])
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "tool_use":
        name = block.get("name") if isinstance(block.get("name"), str) else ""
        assert isinstance(name, str)
        return text_tokens(name) + _json_tokens(block.get("input") or {})
    if kind == "document":
        source = block.get("source") if isinstance(block.get("source"), dict) else {}
        assert isinstance(source, dict)
        if source.get("type") == "base64":
            return PDF_TOKENS
        pieces = (
            block.get("title"),
            block.get("context"),
            source.get("data"),
            source.get("content"),
        )
        return sum(_texts(piece) for piece in pieces)
    return 0  # thinking blocks are not sent; anything else a real request rejects


def _texts(value: object) -> int:
    """A string, or the text blocks of a list."""
    if isinstance(value, str):
        return text_tokens(value)
    return sum(
        text_tokens(block["text"])
        for block in _blocks(value)
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _blocks(value: object) -> Iterable[dict[str, Any]]:
    return (block for block in value if isinstance(block, dict)) if isinstance(value, list) else ()


def _json_tokens(value: object) -> int:
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        return 0
    return -(-len(encoded) // BYTES_PER_TOKEN)
