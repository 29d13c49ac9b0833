"""The shape of a Messages request's conversation, checked before it goes anywhere.

:func:`check_messages` holds every ``POST /v1/messages`` (and ``count_tokens``) body to what any
provider behind the gateway needs, so the same malformed conversation gets the same 400 whether
the model is Anthropic's (the body then goes upstream byte for byte) or not (it is translated,
and :func:`~gomodel.translate.messages_request.messages_to_chat` checks the rest):

* ``system``: absent, a string, or an array of ``text`` blocks (``{"type": "text", "text"}``);
* ``messages``: a non-empty array of objects, each with ``role`` ``user``, ``assistant`` (or
  ``system``, which the translation keeps in place) and ``content``: a string or an array of
  content blocks (objects with a string ``type``), empty only in an assistant turn;
* every ``tool_use`` block has a non-empty string ``id``, every ``tool_result`` a non-empty
  string ``tool_use_id`` naming a ``tool_use`` that came before it.

What a block means is not judged here: Anthropic knows block types the gateway does not (server
tools, citations, new betas), and for Anthropic models those go through untouched. ``param`` of
every error is the JSON path (``messages[2].content[0].tool_use_id``), as in the translation.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from typing import Any

import orjson

from gomodel.errors import InvalidRequest

__all__ = ["ROLES", "check_messages"]

ROLES = ("user", "assistant", "system")


def check_messages(doc: dict[str, Any]) -> None:
    """Raise :class:`~gomodel.errors.InvalidRequest` naming the first part of ``system`` or
    ``messages`` that is malformed (see the module docs)."""
    _system(doc.get("system"))
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "a non-empty array of messages", messages)
    tool_ids: set[str] = set()  # tool_use ids seen so far: what a tool_result may answer
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _bad(param, "an object", message)
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise _bad(f"{param}.role", "user, assistant or system", role)
        if content is None or (content == [] and role != "assistant"):
            expected = "a string or a non-empty array of content blocks"
            raise _bad(f"{param}.content", expected, content)
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise _bad(f"{param}.content", "a string or an array of content blocks", content)
        for j, block in enumerate(content):
            _block(block, f"{param}.content[{j}]", tool_ids)


def _system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system", "a string or an array of text blocks", system)
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad(f"system[{i}]", "a text block", block)
        if not isinstance(block.get("text"), str):
            raise _bad(f"system[{i}].text", "a string", block.get("text"))


def _block(block: object, where: str, tool_ids: set[str]) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise _bad(where, "a content block with a type", block)
    kind = block["type"]
    if kind == "tool_use":
        call_id = block.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise _bad(f"{where}.id", "a non-empty string", call_id)
        tool_ids.add(call_id)
    elif kind == "tool_result":
        use_id = block.get("tool_use_id")
        if not isinstance(use_id, str) or not use_id:
            raise _bad(f"{where}.tool_use_id", "a non-empty string", use_id)
        if use_id not in tool_ids:
            message = f"tool_result for {use_id!r} follows no tool_use block with that id"
            raise InvalidRequest(message, param=f"{where}.tool_use_id")


def _bad(param: str, expected: str, value: object) -> InvalidRequest:
    """The translation's wording (``translate._anthropic_messages.bad_value``)."""
    try:
        shown = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # nested past what orjson writes back
        shown = "a deeply nested value"
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidRequest(
        f"invalid request body: {param} must be {expected}, got {shown}", param=param
    )
