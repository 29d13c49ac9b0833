"""The ``messages`` of an OpenAI chat request as Anthropic turns and blocks.

Part of :mod:`gomodel.translate.anthropic_request`, whose docstring states every rule. Pure.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gomodel.errors import InvalidRequest

__all__ = ["bad_value", "translate_messages"]

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_-]")
_PARTS = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url", "file"),
    "assistant": ("text", "refusal"),
    "tool": ("text", "image_url"),
}


def translate_messages(messages: object) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    if not isinstance(messages, list):
        raise bad_value("messages", "an array", messages)
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_value(param, "an object", message)
        role = message.get("role")
        if not isinstance(role, str) or role not in _PARTS:
            raise bad_value(f"{param}.role", "system, developer, user, assistant or tool", role)
        blocks = _content(message.get("content"), role, f"{param}.content")
        if role in ("system", "developer"):
            system.extend(blocks)
            continue
        if role == "assistant":
            for name in ("function_call", "audio"):
                if message.get(name) is not None:
                    raise InvalidRequest(f"'{name}' is not supported", param=f"{param}.{name}")
            blocks.extend(_tool_uses(message.get("tool_calls"), f"{param}.tool_calls"))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_value(f"{param}.tool_call_id", "a non-empty string", call_id)
            result: dict[str, Any] = {"type": "tool_result", "tool_use_id": _tool_id(call_id)}
            if blocks:
                result["content"] = _collapse(blocks)
            blocks = [result]
        if not blocks:
            continue
        turn_role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == turn_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": turn_role, "content": blocks})
    for turn in turns:
        blocks = turn["content"]
        if turn["role"] == "user":  # tool results first, as Anthropic requires
            blocks.sort(key=lambda block: block["type"] != "tool_result")
        turn["content"] = _collapse(blocks)
    if any("cache_control" in block for block in system):
        return system, turns
    return "\n\n".join(block["text"] for block in system), turns


def _collapse(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One plain text block reads as a string; anything else stays a list of blocks."""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and len(blocks[0]) == 2:
        text: str = blocks[0]["text"]
        return text
    return blocks


def _content(content: object, role: str, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise bad_value(param, "a string or an array of content parts", content)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        if not isinstance(part, dict):
            raise bad_value(where, "an object", part)
        kind = part.get("type")
        if kind not in _PARTS[role]:
            message = f"content part type {kind!r} is not supported in {role} messages"
            raise InvalidRequest(message, param=f"{where}.type")
        if kind == "image_url":
            block = _image(part.get("image_url"), f"{where}.image_url")
        elif kind == "file":
            block = _file(part.get("file"), f"{where}.file")
        else:
            text = part.get(kind)  # "text" or "refusal"
            if not isinstance(text, str):
                raise bad_value(f"{where}.{kind}", "a string", text)
            if not text:
                continue
            block = {"type": "text", "text": text}
        if isinstance(part.get("cache_control"), dict):
            block["cache_control"] = part["cache_control"]
        blocks.append(block)
    return blocks


def _image(spec: object, param: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if isinstance(url, str):
        if url.startswith(("http://", "https://")):
            return {"type": "image", "source": {"type": "url", "url": url}}
        media_type, data = _data_url(url)
        if media_type in _IMAGE_TYPES and data:
            return {"type": "image", "source": _base64(media_type, data)}
    message = "image_url must be an http(s) URL or a base64 data URL of a JPEG, PNG, GIF or WebP"
    raise InvalidRequest(message, param=param)


def _file(spec: object, param: str) -> dict[str, Any]:
    if isinstance(spec, dict) and isinstance(spec.get("file_data"), str):
        media_type, data = _data_url(spec["file_data"])
        if media_type == "application/pdf" and data:
            return {"type": "document", "source": _base64(media_type, data)}
        message = "file_data must be a base64 data URL of application/pdf"
        raise InvalidRequest(message, param=f"{param}.file_data")
    message = "only inline file_data is supported for Anthropic models (not file_id)"
    raise InvalidRequest(message, param=param)


def _data_url(url: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:<type>[;...];base64,<data>`` URL, else blanks."""
    if not url.startswith("data:"):
        return "", ""
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or params[-1] != "base64":
        return "", ""
    media_type = params[0].lower()
    return ("image/jpeg" if media_type == "image/jpg" else media_type), data


def _base64(media_type: str, data: str) -> dict[str, str]:
    return {"type": "base64", "media_type": media_type, "data": data}


def _tool_uses(calls: object, param: str) -> list[dict[str, Any]]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise bad_value(param, "an array", calls)
    blocks: list[dict[str, Any]] = []
    for k, call in enumerate(calls):
        where = f"{param}[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(fn, dict):
            raise bad_value(where, "a function tool call", call)
        call_id, name = call.get("id"), fn.get("name")
        if not isinstance(call_id, str) or not call_id:
            raise bad_value(f"{where}.id", "a non-empty string", call_id)
        if not isinstance(name, str) or not name:
            raise bad_value(f"{where}.function.name", "a non-empty string", name)
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments) if arguments.strip() else {}
            except orjson.JSONDecodeError:
                arguments = None
        if not isinstance(arguments, dict):
            message = "arguments must be a JSON object encoded as a string"
            raise InvalidRequest(message, param=f"{where}.function.arguments")
        blocks.append(
            {"type": "tool_use", "id": _tool_id(call_id), "name": name, "input": arguments}
        )
    return blocks


def _tool_id(call_id: str) -> str:
    return _UNSAFE_ID.sub("_", call_id)


def bad_value(param: str, expected: str, value: object) -> InvalidRequest:
    try:
        shown = orjson.dumps(value).decode()
    except TypeError:  # not from a parsed body; say what it is anyway
        shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    message = f"invalid request body: {param} must be {expected}, got {shown}"
    return InvalidRequest(message, param=param)
