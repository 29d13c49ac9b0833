"""The ``system`` and ``messages`` of an Anthropic Messages request as OpenAI chat messages.

Part of :mod:`gomodel.translate.messages_request`, whose docstring states every rule. Pure.
"""

from __future__ import annotations

from typing import Any

from gomodel.errors import InvalidRequest
from gomodel.translate._anthropic_messages import bad_value
from gomodel.translate.anthropic_response import tool_arguments

__all__ = ["IMAGE_RESULT_TEXT", "TOOL_ERROR_PREFIX", "chat_messages", "system_text"]

IMAGE_RESULT_TEXT = "(the result is the image in the next message)"
TOOL_ERROR_PREFIX = "Error: "
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_Part = dict[str, Any]


def system_text(system: object, param: str = "system", place: str = "system prompts") -> str:
    """A ``system`` value (a string or text blocks) as one string, blocks joined by a blank
    line; ``cache_control`` and ``citations`` are dropped."""
    if system is None or isinstance(system, str):
        return system or ""
    if not isinstance(system, list):
        raise bad_value(param, "a string or an array of text blocks", system)
    texts = [_text(block, f"{param}[{i}]", place) for i, block in enumerate(system)]
    return "\n\n".join(text for text in texts if text)


def chat_messages(messages: object) -> list[dict[str, Any]]:
    """The chat messages for a Messages ``messages`` array, in order."""
    if not isinstance(messages, list) or not messages:
        raise bad_value("messages", "a non-empty array of messages", messages)
    out: list[dict[str, Any]] = []
    tool_ids: set[str] = set()  # tool_use ids seen so far: what a tool_result may answer
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_value(param, "an object", message)
        role, content = message.get("role"), message.get("content")
        if content is None or (content == [] and role != "assistant"):
            expected = "a string or a non-empty array of content blocks"
            raise bad_value(f"{param}.content", expected, content)
        if role == "user":
            out.extend(_user(content, f"{param}.content", tool_ids))
        elif role == "assistant":
            out.extend(_assistant(content, f"{param}.content", tool_ids))
        elif role == "system":
            if text := system_text(content, f"{param}.content"):
                out.append({"role": "system", "content": text})
        else:
            raise bad_value(f"{param}.role", "user, assistant or system", role)
    if all(message["role"] == "system" for message in out):
        raise InvalidRequest("messages must contain a user or assistant message", param="messages")
    return out


def _blocks(content: object, param: str) -> list[tuple[str, dict[str, Any]]]:
    """``(json path, block)`` for each block of ``content``; a string is one text block."""
    if isinstance(content, str):
        return [(param, {"type": "text", "text": content})]
    if not isinstance(content, list):
        raise bad_value(param, "a string or an array of content blocks", content)
    blocks = []
    for j, block in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise bad_value(where, "a content block with a type", block)
        blocks.append((where, block))
    return blocks


def _user(content: object, param: str, tool_ids: set[str]) -> list[dict[str, Any]]:
    """Tool messages for the turn's ``tool_result`` blocks, in order, then one user message
    with everything else (images returned by tools first, then the turn's own blocks)."""
    results: list[dict[str, Any]] = []
    images: list[_Part] = []
    parts: list[_Part] = []
    for where, block in _blocks(content, param):
        kind = block["type"]
        if kind == "tool_result":
            message, returned = _tool_result(block, where, tool_ids)
            results.append(message)
            images.extend(returned)
        elif kind == "text":
            if text := _text(block, where, "user messages"):
                parts.append({"type": "text", "text": text})
        elif kind == "image":
            parts.append(_image(block, where))
        elif kind == "document":
            parts.extend(_document(block, where))
        else:
            raise _unsupported(kind, where, "user messages")
    parts = images + parts
    if parts or (isinstance(content, str) and not results):
        results.append({"role": "user", "content": _collapse(parts)})
    return results


def _assistant(content: object, param: str, tool_ids: set[str]) -> list[dict[str, Any]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for where, block in _blocks(content, param):
        kind = block["type"]
        if kind == "text":
            texts.append(_text(block, where, "assistant messages"))
        elif kind == "tool_use":
            call = _tool_call(block, where)
            tool_ids.add(call["id"])
            calls.append(call)
        elif kind not in ("thinking", "redacted_thinking"):
            raise _unsupported(kind, where, "assistant messages")
    text = "".join(texts)
    if not text and not calls:
        return []
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    call_id, name, tool_input = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not call_id:
        raise bad_value(f"{where}.id", "a non-empty string", call_id)
    if not isinstance(name, str) or not name:
        raise bad_value(f"{where}.name", "a non-empty string", name)
    if not isinstance(tool_input, dict):
        raise bad_value(f"{where}.input", "an object", tool_input)
    function = {"name": name, "arguments": tool_arguments(tool_input)}
    return {"id": call_id, "type": "function", "function": function}


def _tool_result(
    block: dict[str, Any], where: str, tool_ids: set[str]
) -> tuple[dict[str, Any], list[_Part]]:
    use_id = block.get("tool_use_id")
    if not isinstance(use_id, str) or not use_id:
        raise bad_value(f"{where}.tool_use_id", "a non-empty string", use_id)
    if use_id not in tool_ids:
        message = f"tool_result for {use_id!r} follows no tool_use block with that id"
        raise InvalidRequest(message, param=f"{where}.tool_use_id")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise bad_value(f"{where}.is_error", "a boolean", is_error)
    texts: list[str] = []
    images: list[_Part] = []
    content = block.get("content")
    if isinstance(content, list):
        for k, item in _blocks(content, f"{where}.content"):
            if item["type"] == "text":
                texts.append(_text(item, k, "tool results"))
            elif item["type"] == "image":
                images.append(_image(item, k))
            else:
                raise _unsupported(item["type"], k, "tool results")
    elif isinstance(content, str):
        texts.append(content)
    elif content is not None:
        raise bad_value(
            f"{where}.content", "a string or an array of text and image blocks", content
        )
    text = "\n\n".join(t for t in texts if t) or (IMAGE_RESULT_TEXT if images else "")
    if is_error:
        text = TOOL_ERROR_PREFIX + text if text else TOOL_ERROR_PREFIX.rstrip(": ")
    return {"role": "tool", "tool_call_id": use_id, "content": text}, images


def _text(block: object, where: str, place: str) -> str:
    if not isinstance(block, dict):
        raise bad_value(where, "a text block", block)
    if block.get("type") != "text":
        raise _unsupported(block.get("type"), where, place)
    text = block.get("text")
    if not isinstance(text, str):
        raise bad_value(f"{where}.text", "a string", text)
    return text


def _image(block: dict[str, Any], where: str) -> _Part:
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        assert isinstance(source, dict)
        media_type, data = source.get("media_type"), source.get("data")
        if media_type not in _IMAGE_TYPES:
            expected = "image/jpeg, image/png, image/gif or image/webp"
            raise bad_value(f"{where}.source.media_type", expected, media_type)
        if not isinstance(data, str) or not data:
            raise bad_value(f"{where}.source.data", "base64 image data", data)
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        assert isinstance(source, dict)
        link = source.get("url")
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise bad_value(f"{where}.source.url", "an http(s) URL", link)
        url = link
    elif kind == "file":
        message = "images by Files API file_id are not supported for this model; send base64 data"
        raise InvalidRequest(message, param=f"{where}.source.type")
    else:
        raise bad_value(f"{where}.source.type", "base64 or url", kind)
    return {"type": "image_url", "image_url": {"url": url}}


def _document(block: dict[str, Any], where: str) -> list[_Part]:
    """A PDF -> a ``file`` part (``context`` as a text part before it); a text document -> one
    text part of its title, context and text."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    title, context = block.get("title"), block.get("context")
    heading = [t for t in (title, context) if isinstance(t, str) and t]
    if kind == "base64":
        assert isinstance(source, dict)
        if source.get("media_type") != "application/pdf":
            raise bad_value(
                f"{where}.source.media_type", "application/pdf", source.get("media_type")
            )
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise bad_value(f"{where}.source.data", "base64 PDF data", data)
        filename = title if isinstance(title, str) and title else "document.pdf"
        file = {"filename": filename, "file_data": f"data:application/pdf;base64,{data}"}
        lead = [{"type": "text", "text": context}] if isinstance(context, str) and context else []
        return [*lead, {"type": "file", "file": file}]
    if kind == "text":
        assert isinstance(source, dict)
        data = source.get("data")
        if not isinstance(data, str):
            raise bad_value(f"{where}.source.data", "a string", data)
        return [{"type": "text", "text": "\n\n".join([*heading, data])}]
    if kind == "content":
        assert isinstance(source, dict)
        inner = source.get("content")
        texts = [system_text(inner, f"{where}.source.content", "document content")]
        return [{"type": "text", "text": "\n\n".join([*heading, *texts])}]
    if kind in ("url", "file"):
        message = "documents by URL or Files API file_id are not supported for this model"
        raise InvalidRequest(message + "; send base64 data or text", param=f"{where}.source.type")
    raise bad_value(f"{where}.source.type", "base64, text or content", kind)


def _collapse(parts: list[_Part]) -> str | list[_Part]:
    """Text-only content is one string (parts joined by a blank line); else the parts."""
    if all(part["type"] == "text" for part in parts):
        return "\n\n".join(part["text"] for part in parts)
    return parts


def _unsupported(kind: object, where: str, place: str) -> InvalidRequest:
    message = f"content block type {kind!r} is not supported in {place} for this model"
    return InvalidRequest(message, param=f"{where}.type")
