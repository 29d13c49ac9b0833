"""A mock OpenAI-compatible upstream provider, for the gateway's tests and for users' tests.

:class:`MockUpstream` holds the behaviour and the records; it serves over real loopback sockets
(:func:`serve_mock_upstream`) or fully in memory (:func:`gomodel.testing.memory_transport`)::

    mock = MockUpstream(require_key="sk-test")
    mock.script(Reply.sse([{"choices": []}], gap=1.0), path="/chat/completions")
    base_url = await nursery.start(serve_mock_upstream, mock)      # "http://127.0.0.1:<port>/v1"

Unscripted requests get the default OpenAI dialect, on paths with or without a ``/v1`` prefix:

* ``GET /models``: ``{"object": "list", "data": [{"id", "object": "model", ...}]}``
* ``POST /chat/completions``: ``"Mock response to: <last user message>"`` with usage 10/20/30;
  with ``"stream": true``, a role chunk, the text in 5-character chunks, a
  ``finish_reason: "stop"`` chunk, a usage chunk only when ``stream_options.include_usage`` is
  true, then ``data: [DONE]``. ``Sleep(stream_gap)`` separates consecutive chunks; ``[DONE]``
  follows the last one at once. The completion id is ``chatcmpl-mock-<n>``, ``n`` being the
  request's 1-based position in :attr:`MockUpstream.requests`.
* anything else: 404. Errors use the OpenAI envelope ``{"error": {"message", "type", "param",
  "code"}}``: 400 for a body that is not JSON, 401 for a missing or wrong key.

Every request lands in :attr:`MockUpstream.requests` and every connection in
:attr:`MockUpstream.connections`, with the virtual (``trio.current_time()``) time and side of its
close: the point of this module is to assert *at the provider's socket* that the gateway let go.

:meth:`MockUpstream.fail` arms a fault (:mod:`gomodel.testing.faults`: an error status, a delay
before the head, a stall, a cut, a malformed or error event, a slow drip) over whatever the mock
would have answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NoReturn

import attrs
import trio

from gomodel.testing._anthropic import anthropic_error_reply, anthropic_reply
from gomodel.testing._h11server import ConnectionRecord, RecordedRequest, serve_h11
from gomodel.testing._reply import Close, Reply, Reset, Silence, Sleep, Step, Truncate
from gomodel.testing.faults import Fault

__all__ = [
    "Close",
    "ConnectionRecord",
    "MockUpstream",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Silence",
    "Sleep",
    "Step",
    "Truncate",
    "serve_mock_upstream",
]

USAGE = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
_CHUNK_CHARS = 5


def _to_models(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.define(eq=False)
class MockUpstream:
    """A scriptable OpenAI-compatible provider that records requests and connections."""

    models: tuple[str, ...] = attrs.field(default=("gpt-4o-mini", "gpt-4o"), converter=_to_models)
    require_key: str | None = None
    stream_gap: float = 0.0
    # "anthropic": answer /messages and /models as Anthropic's API does (x-api-key auth).
    dialect: Literal["openai", "anthropic"] = "openai"
    requests: list[RecordedRequest] = attrs.field(factory=list, init=False)
    connections: list[ConnectionRecord] = attrs.field(factory=list, init=False)
    _scripts: list[tuple[str | None, Reply]] = attrs.field(factory=list, init=False)
    _faults: list[_Armed] = attrs.field(factory=list, init=False)
    _change: trio.Event = attrs.field(factory=trio.Event, init=False)

    def script(self, reply: Reply, *, path: str | None = None) -> None:
        """Queue ``reply`` for the next request whose path ends with ``path`` (None: any path).

        Scripts are one-shot and taken first in, first out; requests that match none get the
        default behaviour. A request refused for its key does not use up a script.
        """
        self._scripts.append((path, reply))

    def fail(
        self,
        fault: Fault,
        *,
        path: str | None = None,
        times: int | None = 1,
        every: int = 1,
    ) -> None:
        """Apply ``fault`` to the answers of requests whose path ends with ``path`` (None: any):
        to every ``every``-th such request, ``times`` times (None: for good). Faults armed first
        are looked at first; a request takes at most one. A scripted reply is faulted too."""
        if every < 1 or (times is not None and times < 1):
            raise ValueError("every and times must be at least 1")
        self._faults.append(_Armed(fault, path, times, every))

    def clear_faults(self) -> None:
        """Disarm every fault."""
        self._faults.clear()

    def open_connections(self) -> int:
        """How many connections are open right now."""
        return sum(1 for record in self.connections if record.closed_at is None)

    async def wait_closed(self, conn_index: int = -1) -> float:
        """Wait until ``connections[conn_index]`` exists and is closed; return its ``closed_at``."""
        while True:
            change = self._change
            needed = conn_index + 1 if conn_index >= 0 else -conn_index
            if len(self.connections) >= needed:
                closed_at = self.connections[conn_index].closed_at
                if closed_at is not None:
                    return closed_at
            await change.wait()

    async def serve_connection(self, stream: trio.abc.Stream) -> None:
        """Serve HTTP/1.1 on one accepted stream until either side closes it.

        Usable as a ``trio.serve_tcp`` / ``trio.serve_listeners`` handler.
        """
        await serve_h11(stream, self._accept(), self)

    # -- hooks for the connection handler (gomodel.testing._h11server / memory) --

    def _accept(self) -> ConnectionRecord:
        record = ConnectionRecord(id=len(self.connections), opened_at=trio.current_time())
        self.connections.append(record)
        self._changed()
        return record

    def _changed(self) -> None:
        self._change.set()
        self._change = trio.Event()

    def _reply_to(self, request: RecordedRequest) -> Reply:
        self.requests.append(request)
        key = self.require_key
        if self.dialect == "anthropic":
            if key is not None and request.header("x-api-key") != key:
                return anthropic_error_reply(401, "invalid x-api-key")
        elif key is not None and request.header("authorization") != f"Bearer {key}":
            return Reply.error(401, "Incorrect API key provided.", code="invalid_api_key")
        reply = None
        for index, (suffix, scripted) in enumerate(self._scripts):
            if suffix is None or request.path.endswith(suffix):
                del self._scripts[index]
                reply = scripted
                break
        if reply is None:
            reply = self._default(request)
        return self._faulted(request, reply)

    def _faulted(self, request: RecordedRequest, reply: Reply) -> Reply:
        if request.method == "GET" and request.path.endswith("/models"):
            return reply  # the model list is never faulted: the gateway must start
        for armed in self._faults:
            if armed.path is not None and not request.path.endswith(armed.path):
                continue
            armed.seen += 1
            if armed.seen % armed.every:
                continue
            if armed.times is not None:
                armed.times -= 1
                if armed.times == 0:
                    self._faults.remove(armed)
            return armed.fault.apply(reply)
        return reply

    # -- the default OpenAI dialect --

    def _default(self, request: RecordedRequest) -> Reply:
        if self.dialect == "anthropic":
            message_id = f"msg_mock_{len(self.requests)}"
            return anthropic_reply(
                request, stream_gap=self.stream_gap, models=self.models, message_id=message_id
            )
        path = request.path.removeprefix("/v1")
        if request.method == "GET" and path == "/models":
            return Reply.json({"object": "list", "data": [_model(m) for m in self.models]})
        if request.method == "POST" and path == "/chat/completions":
            return self._chat(request)
        message = f"Unknown request URL: {request.method} {request.path}."
        return Reply.error(404, message, code="not_found")

    def _chat(self, request: RecordedRequest) -> Reply:
        payload = request.json
        if not isinstance(payload, dict):
            return Reply.error(400, "We could not parse the JSON body of your request.")
        model = payload.get("model")
        model = model if isinstance(model, str) else ""
        text = f"Mock response to: {_last_user_text(payload.get('messages'))}"
        completion_id = f"chatcmpl-mock-{len(self.requests)}"
        if payload.get("stream") is not True:
            message = {"role": "assistant", "content": text}
            return Reply.json(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": USAGE,
                }
            )
        options = payload.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return Reply.sse(
            _chat_chunks(completion_id, model, text, include_usage=include_usage),
            gap=self.stream_gap,
        )


@attrs.define
class _Armed:
    fault: Fault
    path: str | None
    times: int | None  # left; None: for good
    every: int
    seen: int = 0  # matching requests so far


def _model(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "mock"}


def _last_user_text(messages: Any) -> str:
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    part["text"]
                    for part in content
                    if isinstance(part, dict) and isinstance(part.get("text"), str)
                )
            return ""
    return ""


def _chat_chunks(
    completion_id: str, model: str, text: str, *, include_usage: bool
) -> list[dict[str, object]]:
    def chunk(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, object]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [
        chunk({"content": text[i : i + _CHUNK_CHARS]}) for i in range(0, len(text), _CHUNK_CHARS)
    ]
    chunks.append(chunk({}, "stop"))
    if include_usage:
        usage_chunk = chunk({})
        usage_chunk["choices"] = []
        usage_chunk["usage"] = USAGE
        chunks.append(usage_chunk)
    return chunks


async def serve_mock_upstream(
    mock: MockUpstream,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve ``mock`` on a TCP port until cancelled; report the base URL (with ``/v1``).

    ``base_url = await nursery.start(serve_mock_upstream, mock)``. Give ``host`` as an IP
    literal: a name that resolves to several addresses would get one port per address.
    """
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound_port: int = listeners[0].socket.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    task_status.started(f"http://{url_host}:{bound_port}/v1")
    await trio.serve_listeners(mock.serve_connection, listeners)
