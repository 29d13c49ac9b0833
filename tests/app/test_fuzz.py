"""Row 16, generated: whatever a client sends (method, path, query, headers, body), the ASGI app
answers with a 2xx or with a 4xx OpenAI error envelope; never a 5xx, never a traceback in the
log (the autouse fixture in conftest.py fails the test on any error-level record).

The app runs in memory in front of the mock provider (an OpenAI-style one that streams without
pauses), driven the way hypercorn drives it: the whole body in one ``http.request``, then a
``receive()`` that waits as long as the client stays. Examples are capped (max_examples) and
each has no deadline of its own: hypothesis's 200 ms would flake on a loaded machine; a
generous real-time guard per request turns a hang into a failure instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import trio
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.testing import MockUpstream, memory_transport
from gomodel.usage.record import MemoryUsageSink
from gomodel.wire.sse import SSEDecoder

ROUTES = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/models",
    "/health",
    "/ready",
    "/admin/api/v1/usage/summary",
    "/admin/api/v1/usage/log",
    "/admin/api/v1/auth-keys",
    "/p/openai/chat/completions",
]
PREFIXES = ["/p/openai/", "/p/anthropic/", "/v1/responses/", "/admin/api/v1/auth-keys/", "/"]
HEADER_NAMES = [
    b"content-type",
    b"content-encoding",
    b"authorization",
    b"accept",
    b"x-request-id",
    b"x-gomodel-user-path",
    b"x-forwarded-for",
    b"openai-beta",
    b"anthropic-version",
    b"idempotency-key",
    b"connection",
    b"cookie",
]
MODELS = ["gpt-4o", "openai/gpt-4o", "gpt-4o-mini", "nope", "openai/", "/", ""]

_text = st.text(max_size=12)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]) | _json},
    optional={"content": _text | _json, "name": _json, "tool_calls": _json},
)
_chat = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(MODELS) | _json,
        "messages": st.lists(_message, max_size=3) | _json,
        "input": _text | _json,
        "stream": st.booleans() | _json,
        "stream_options": st.fixed_dictionaries({}, optional={"include_usage": _json}) | _json,
        "max_tokens": _json,
        "temperature": _json,
        "provider": st.sampled_from(["openai", "anthropic"]) | _json,
        "name": _json,
        "allowed_models": _json,
    },
)
_bodies = st.one_of(
    _chat.map(orjson.dumps),
    _json.map(orjson.dumps),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"",
            b"{",
            b"[" * 2000,
            b'{"model": NaN}',
            b'{"a": "\\ud800"}',
            b"\xff\xfe",
            b'{"model": "gpt-4o", "messages": [], "max_tokens": 1' + b"0" * 5000 + b"}",
        ]
    ),
)
_header_value = st.binary(max_size=40).map(
    lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F)  # what h11 lets through
)
_headers = st.lists(
    st.tuples(st.sampled_from(HEADER_NAMES), _header_value)
    | st.tuples(st.sampled_from([b"content-type"]), st.just(b"application/json")),
    max_size=5,
)
_paths = st.sampled_from(ROUTES) | st.builds(
    lambda p, s: p + s, st.sampled_from(PREFIXES), st.text(max_size=30)
)


@asynccontextmanager
async def _gateway(tmp_path: Path) -> AsyncIterator[GatewayApp]:
    mock = MockUpstream(models=("gpt-4o", "gpt-4o-mini"))
    config = load_config(
        {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": "http://upstream.test/v1",
            "ANTHROPIC_API_KEY": "k",
            "ANTHROPIC_BASE_URL": "http://anthropic.test/v1",
            "SQLITE_PATH": str(tmp_path / "usage.db"),
            "USAGE_SPILL_DIR": str(tmp_path / "spill"),
        },
        cwd=tmp_path,
    )
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery),
            usage=MemoryUsageSink(),
        )
        async with app.serving() as runtime:
            await runtime.initial_load.wait()
            yield app
            nursery.cancel_scope.cancel()


async def _call(
    app: GatewayApp, method: str, path: str, query: bytes, headers: list[Any], body: bytes
) -> list[dict[str, Any]]:
    """One request as hypercorn presents it; the messages the app sent."""
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await trio.sleep_forever()  # the client stays until the answer is complete
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": quote(path, safe="/%").encode(),
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 5555),
    }
    with trio.fail_after(30):  # real time; every request here is answered in milliseconds
        await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


def _check(sent: list[dict[str, Any]]) -> None:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    status = starts[0]["status"]
    headers = dict(starts[0]["headers"])
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert not sent[-1].get("more_body", False)
    assert b"x-request-id" in headers
    event(f"status {status}")  # pytest --hypothesis-show-statistics: how deep examples get
    assert status < 500 and status not in (300, 301, 302), (status, body[:500])
    if status >= 400:
        error = orjson.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
        assert error["param"] is None or isinstance(error["param"], str)
        assert error["code"] is None or isinstance(error["code"], str)
    elif headers.get(b"content-type", b"").startswith(b"text/event-stream"):
        events = [e.data for e in SSEDecoder().feed(body) if e.data is not None]
        assert events, body[:500]
        last = events[-1]
        assert last == b"[DONE]" or b'"error"' in last, last
    elif headers.get(b"content-type") == b"application/json":
        orjson.loads(body)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    path=_paths,
    query=st.binary(max_size=20).map(lambda b: quote(b, safe="=&").encode()),
    headers=_headers,
    body=_bodies,
)
async def test_any_request_gets_an_answer_or_a_4xx_envelope(
    tmp_path_factory: pytest.TempPathFactory,
    method: str,
    path: str,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    async with _gateway(tmp_path_factory.mktemp("fuzz")) as app:
        _check(await _call(app, method, path, query, [list(h) for h in headers], body))


SURFACES = [
    "/v1/chat/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/p/openai/chat/completions",
    "/p/anthropic/messages",
]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(path=st.sampled_from(SURFACES), headers=_headers, body=_chat.map(orjson.dumps))
async def test_any_model_request_body_gets_an_answer_or_a_4xx_envelope(
    tmp_path_factory: pytest.TempPathFactory,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> None:
    """The same, aimed at the model surfaces with request-shaped bodies, so that examples get
    past parsing into resolution, the route decision, rewrites and the relay."""
    async with _gateway(tmp_path_factory.mktemp("fuzz")) as app:
        sent = await _call(app, "POST", path, b"", [list(h) for h in headers], body)
        _check(sent)
