"""Run the gateway under hypercorn's trio worker, in this process.

``serve_gateway`` is what ``gomodel serve`` (one worker) and ``gomodel demo`` run, and what
end-to-end tests start with ``await nursery.start(serve_gateway, app, host, 0)``.
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from functools import partial

import hypercorn.config
import hypercorn.trio
import trio

from gomodel.app.asgi import GatewayApp

__all__ = ["hypercorn_config", "serve_gateway", "wait_for_signal"]

# Longer than nginx's default upstream keepalive_timeout (60 s), so nginx never reuses a
# connection hypercorn is closing (RELIABILITY.md §1.4, §3).
KEEP_ALIVE_TIMEOUT = 75.0
# Streams in flight get this long to finish after SIGTERM; then each ends with a
# server_shutdown error event.
GRACEFUL_TIMEOUT = 30.0


def hypercorn_config(
    host: str,
    port: int,
    *,
    workers: int = 1,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    graceful_timeout: float = GRACEFUL_TIMEOUT,
) -> hypercorn.config.Config:
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.worker_class = "trio"
    config.workers = workers
    config.keep_alive_timeout = keep_alive_timeout
    config.graceful_timeout = graceful_timeout
    config.accesslog = None
    return config


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM: the shutdown trigger of a foreground gateway."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def serve_gateway(
    app: GatewayApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT,
    graceful_timeout: float = GRACEFUL_TIMEOUT,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; reports the base URL when listening."""
    serve = partial(
        hypercorn.trio.serve,
        app,  # type: ignore[arg-type]
        hypercorn_config(
            host, port, keep_alive_timeout=keep_alive_timeout, graceful_timeout=graceful_timeout
        ),
        shutdown_trigger=shutdown_trigger or trio.sleep_forever,
    )
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve)
        task_status.started(binds[0])
