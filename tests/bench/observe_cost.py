"""What metrics and the audit log cost per request, in CPU time, in one process:
``python -m tests.bench.observe_cost [requests]``.

The gateway's ASGI app is called directly (no server, no sockets: what is left is the
gateway's own work) in front of the mock upstream in memory, with usage recorded to SQLite as
in a deployment; each configuration serves the same non-streamed chat requests, and the
process CPU time (event loop and worker threads: the usage recorder's and the audit writer's
writes count) is divided by the requests. Measures and prints; asserts nothing.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import trio

CONFIGS: dict[str, dict[str, str]] = {
    "plain": {},
    "metrics": {"METRICS_ENABLED": "true", "METRICS_TOKEN": "t" * 16},
    "audit (no bodies)": {"LOGGING_ENABLED": "true"},
    "audit (bodies, headers)": {
        "LOGGING_ENABLED": "true",
        "LOGGING_LOG_BODIES": "true",
        "LOGGING_LOG_HEADERS": "true",
    },
}
BODY = orjson.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Summarise why a gateway should be fast." * 3}],
    }
)


async def _run(env: dict[str, str], requests: int, workdir: Path) -> float:
    from gomodel.app.asgi import GatewayApp
    from gomodel.config import load_config
    from gomodel.testing import MockUpstream, memory_transport

    mock = MockUpstream(models=("gpt-4o-mini",))
    async with trio.open_nursery() as nursery:
        config = load_config(
            {
                "OPENAI_API_KEY": "k",
                "OPENAI_BASE_URL": "http://mock.test/v1",
                "SQLITE_PATH": str(workdir / "usage.db"),
                "USAGE_SPILL_DIR": str(workdir),
                "LOG_LEVEL": "warning",
                **env,
            },
            cwd=workdir,
        )
        app = GatewayApp(config, transport_factory=lambda _: memory_transport(mock, nursery))
        async with app.serving() as runtime:
            await runtime.initial_load.wait()

            async def one() -> None:
                sent: list[dict[str, Any]] = []
                messages = [{"type": "http.request", "body": BODY, "more_body": False}]

                async def receive() -> dict[str, Any]:
                    if messages:
                        return messages.pop()
                    await trio.sleep_forever()
                    raise AssertionError

                async def send(message: dict[str, Any]) -> None:
                    sent.append(message)

                scope = {
                    "type": "http",
                    "method": "POST",
                    "path": "/v1/chat/completions",
                    "raw_path": b"/v1/chat/completions",
                    "query_string": b"",
                    "headers": [(b"content-type", b"application/json"), (b"host", b"gw")],
                    "client": ("127.0.0.1", 5000),
                }
                await app(scope, receive, send)
                assert sent[0]["status"] == 200, sent

            for _ in range(200):  # warm-up
                await one()
            started = time.process_time()
            for _ in range(requests):
                await one()
            await trio.sleep(0.2)
            cost = time.process_time() - started
        nursery.cancel_scope.cancel()
    return cost / requests * 1e6


def main(argv: list[str]) -> None:
    requests = int(argv[0]) if argv else 2000
    results = {}
    for name, env in CONFIGS.items():
        with tempfile.TemporaryDirectory() as workdir:
            results[name] = trio.run(_run, env, requests, Path(workdir))
    plain = results["plain"]
    print(f"CPU per non-streamed chat request, {requests} requests, in process:")
    for name, micros in results.items():
        extra = "" if name == "plain" else f"  (+{micros - plain:.0f} µs, {plain / micros:.3f}x)"
        print(f"  {name:<24} {micros:7.0f} µs{extra}")


if __name__ == "__main__":
    main(sys.argv[1:])
