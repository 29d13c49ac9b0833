"""The mock provider's answers, built from the recordings in ``tests/fixtures/providers``.

The recordings give the real shapes (ids, members, framing); the text is replaced by
:data:`TOKENS`, 32 short tokens, so every stream has a realistic length: 32 content deltas plus
the framing events of its API. :func:`write_payloads` writes the files ``mockd`` loads.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import orjson

__all__ = ["FILES", "TEXT", "TOKENS", "stream_events", "write_payloads"]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"

_SENTENCE = (
    "A gateway earns its place by adding almost nothing: it reads the request, picks the"
    " provider, relays every event as it arrives and writes one usage row when the stream"
    " ends cleanly."
)
TOKENS: tuple[str, ...] = tuple(re.findall(r" ?\S+", _SENTENCE))
TEXT = "".join(TOKENS)
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
PROMPT_TOKENS = 48
COMPLETION_TOKENS = len(TOKENS)

Json = dict[str, Any]


def _json(name: str) -> Json:
    doc: Json = orjson.loads((FIXTURES / name).read_bytes())
    return doc


def stream_events(name: str) -> list[tuple[str | None, str]]:
    """``(event name or None, data)`` of every event of a recorded SSE body."""
    events: list[tuple[str | None, str]] = []
    for block in (FIXTURES / name).read_text().split("\n\n"):
        event: str | None = None
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            events.append((event, "\n".join(data)))
    return events


def _sse(data: Json | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _usage_openai() -> Json:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat() -> bytes:
    doc = _json("openai/chat_completion.json")
    doc["choices"][0]["message"]["content"] = TEXT
    doc["usage"] = _usage_openai()
    return orjson.dumps(doc)


def chat_stream() -> bytes:
    """Role chunk, 32 content chunks, finish chunk, usage chunk, ``[DONE]``."""
    chunks = [
        orjson.loads(data)
        for _, data in stream_events("openai/chat_completion_stream.txt")
        if data != "[DONE]"
    ]
    role, content, finish = chunks[0], chunks[1], chunks[-1]
    out = [role]
    for token in TOKENS:
        chunk = copy.deepcopy(content)
        chunk["choices"][0]["delta"] = {"content": token}
        out.append(chunk)
    out.append(finish)
    events = [_sse({**chunk, "usage": None}) for chunk in out]
    usage = {**copy.deepcopy(finish), "choices": [], "usage": _usage_openai()}
    events.append(_sse(usage))
    events.append(_sse("[DONE]"))
    return b"".join(events)


def messages() -> bytes:
    doc = _json("anthropic/messages.json")
    doc["model"] = ANTHROPIC_MODEL
    doc["content"] = [{"type": "text", "text": TEXT}]
    doc["usage"] = {"input_tokens": PROMPT_TOKENS, "output_tokens": COMPLETION_TOKENS}
    return orjson.dumps(doc)


def messages_stream() -> bytes:
    """message_start, content_block_start, 32 deltas, content_block_stop, message_delta, stop."""
    recorded = {
        name: orjson.loads(data) for name, data in stream_events("anthropic/messages_stream.txt")
    }
    start = recorded["message_start"]
    start["message"]["model"] = ANTHROPIC_MODEL
    start["message"]["usage"]["input_tokens"] = PROMPT_TOKENS
    start["message"]["usage"]["output_tokens"] = 1
    events = [_sse(start, "message_start")]
    events.append(_sse(recorded["content_block_start"], "content_block_start"))
    delta = recorded["content_block_delta"]
    for token in TOKENS:
        events.append(
            _sse({**delta, "delta": {"type": "text_delta", "text": token}}, "content_block_delta")
        )
    events.append(_sse(recorded["content_block_stop"], "content_block_stop"))
    end = recorded["message_delta"]
    end["usage"] = {
        **end["usage"],
        "input_tokens": PROMPT_TOKENS,
        "output_tokens": COMPLETION_TOKENS,
    }
    events.append(_sse(end, "message_delta"))
    events.append(_sse(recorded["message_stop"], "message_stop"))
    return b"".join(events)


def _responses_usage() -> Json:
    return {
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": COMPLETION_TOKENS,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def responses() -> bytes:
    doc = _json("openai/responses.json")
    doc["output"][0]["content"][0]["text"] = TEXT
    doc["usage"] = _responses_usage()
    return orjson.dumps(doc)


def responses_stream() -> bytes:
    """created, in_progress, item added, part added, 32 deltas, text done, part done, item
    done, completed; ``sequence_number`` counts from 0 without gaps."""
    recorded = {
        name: orjson.loads(data) for name, data in stream_events("openai/responses_stream.txt")
    }
    delta = recorded["response.output_text.delta"]
    text_done = recorded["response.output_text.done"]
    text_done["text"] = TEXT
    part_done = recorded["response.content_part.done"]
    part_done["part"]["text"] = TEXT
    item_done = recorded["response.output_item.done"]
    item_done["item"]["content"][0]["text"] = TEXT
    completed = recorded["response.completed"]
    completed["response"]["output"] = [item_done["item"]]
    completed["response"]["usage"] = _responses_usage()
    ordered: list[Json] = [
        recorded["response.created"],
        recorded["response.in_progress"],
        recorded["response.output_item.added"],
        recorded["response.content_part.added"],
        *({**delta, "delta": token} for token in TOKENS),
        text_done,
        part_done,
        item_done,
        completed,
    ]
    events = []
    for number, event in enumerate(ordered):
        event = {**event, "sequence_number": number}
        events.append(_sse(event, str(event["type"])))
    return b"".join(events)


def _openai_models() -> bytes:
    model = {"id": OPENAI_MODEL, "object": "model", "created": 1, "owned_by": "openai"}
    return orjson.dumps({"object": "list", "data": [model]})


def _anthropic_models() -> bytes:
    model = {
        "type": "model",
        "id": ANTHROPIC_MODEL,
        "display_name": "Claude Sonnet 4.5",
        "created_at": "2025-09-29T00:00:00Z",
    }
    return orjson.dumps(
        {
            "data": [model],
            "has_more": False,
            "first_id": ANTHROPIC_MODEL,
            "last_id": ANTHROPIC_MODEL,
        }
    )


def _not_found() -> bytes:
    error = {
        "message": "not found",
        "type": "invalid_request_error",
        "param": None,
        "code": "not_found",
    }
    return orjson.dumps({"error": error})


FILES = {
    "openai_models.json": _openai_models,
    "anthropic_models.json": _anthropic_models,
    "health.json": lambda: b'{"status":"ok"}',
    "chat.json": chat,
    "chat_stream.sse": chat_stream,
    "messages.json": messages,
    "messages_stream.sse": messages_stream,
    "responses.json": responses,
    "responses_stream.sse": responses_stream,
    "not_found.json": _not_found,
}


def write_payloads(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, build in FILES.items():
        (directory / name).write_bytes(build())
