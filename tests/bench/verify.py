"""One request per workload before measuring: a 200, a complete answer, the mock's text intact.

A workload that fails here would be measured as errors or, worse, as fast failures; the bench
stops with a message saying which one and what came back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.bench.payloads import TEXT
from tests.bench.workloads import Workload

__all__ = ["BenchError", "Check", "answer_text", "check_workload"]


class BenchError(RuntimeError):
    """The bench cannot measure what it was asked to; the message says why."""


@dataclass
class Check:
    workload: str
    target: str
    workers: int | None
    status: int
    route: str | None  # X-GoModel-Route
    complete: bool
    text_ok: bool | None  # None: not checked
    route_ok: bool | None = None  # None: no expectation


def _stream_text(body: bytes) -> str:
    parts: list[str] = []
    for line in body.splitlines():
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        try:
            event: Any = orjson.loads(line[5:])
        except orjson.JSONDecodeError:
            continue
        if not isinstance(event, dict):
            continue
        for choice in event.get("choices") or ():
            parts.append((choice.get("delta") or {}).get("content") or "")
        if event.get("type") == "content_block_delta":
            parts.append(event["delta"].get("text", ""))
        if event.get("type") == "response.output_text.delta":
            parts.append(event.get("delta", ""))
    return "".join(parts)


def _unary_text(body: bytes) -> str:
    doc: Any = orjson.loads(body)
    if doc.get("choices"):
        return str(doc["choices"][0]["message"]["content"])
    if doc.get("type") == "message":
        return "".join(block.get("text", "") for block in doc["content"])
    if doc.get("object") == "response":
        return "".join(part.get("text", "") for item in doc["output"] for part in item["content"])
    return ""


def answer_text(body: bytes, *, stream: bool) -> str:
    """The assistant text of a chat, Anthropic or Responses answer, streamed or not."""
    return _stream_text(body) if stream else _unary_text(body)


def check_workload(
    base_url: str,
    workload: Workload,
    *,
    target: str,
    workers: int | None,
    direct: bool = False,
    model: str | None = None,
    check_text: bool = True,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> Check:
    """Post ``workload`` once (``body`` instead of its payload when given, with ``headers``
    added); raise :class:`BenchError` unless the answer is whole."""
    path, payload = (
        (workload.direct_path, workload.direct_payload())
        if direct
        else (workload.path, workload.payload(model))
    )
    body = payload if body is None else body
    marker = workload.direct_end_marker if direct else workload.end_marker
    url = base_url + path
    sent = {"content-type": "application/json", **(headers or {})}
    try:
        response = httpx.post(url, content=body, headers=sent, timeout=30)
    except httpx.HTTPError as exc:
        raise BenchError(f"{target}: {workload.name} request to {url} failed: {exc!r}")
    where = f"{target}{'' if workers is None else f' ({workers} workers)'}"
    if response.status_code != 200:
        raise BenchError(
            f"{where}: workload {workload.name!r} got {response.status_code} from {url}: "
            f"{response.text[:500]}"
        )
    complete = marker is None or marker in response.text
    if not complete:
        raise BenchError(
            f"{where}: workload {workload.name!r}: the stream from {url} did not end with "
            f"{marker!r}; it ended with: {response.text[-500:]!r}"
        )
    text_ok: bool | None = None
    if check_text:
        got = answer_text(response.content, stream=workload.stream)
        text_ok = got == TEXT
        if not text_ok:
            raise BenchError(
                f"{where}: workload {workload.name!r}: the answer text from {url} is not the "
                f"mock's: got {got[:200]!r}, expected {TEXT[:200]!r}"
            )
    route = response.headers.get("x-gomodel-route")
    route_ok = None
    if target == "gomodel" and workload.route is not None:
        route_ok = route is not None and route.startswith(workload.route)
    return Check(
        workload.name, target, workers, response.status_code, route, complete, text_ok, route_ok
    )
