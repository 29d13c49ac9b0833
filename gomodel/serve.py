"""Run the gateway on hypercorn's HTTP/1.1 protocol and trio, in this process or in N.

``serve_gateway`` is what ``gomodel serve`` and ``gomodel demo`` run (each worker process of
``serve --workers N`` too), and what end-to-end tests start with
``await nursery.start(serve_gateway, app)``. It is hypercorn's trio worker loop
(``hypercorn.trio.run.worker_serve``: lifespan, accept, one ``TCPServer`` per connection, the
graceful shutdown) with one difference: each accepted connection is a
:class:`~gomodel.connections.ClientStream`, so a write to a client that reads nothing has a
deadline, a request head has one, and after the grace period no connection can hold the process
(docs/security.md, "Limits"). ``hypercorn gomodel.asgi:app`` serves the same app without them.

Shutdown: the listening sockets close at once (a proxy moves on to other replicas), idle
connections close, requests in flight get ``graceful_timeout``; then they are cancelled (a
stream ends with a ``server_shutdown`` event), and every write still pending gets
:data:`LAST_WRITE` more at most. The lifespan then ends the runtime, which flushes usage rows.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any

import attrs
import hypercorn.config
import trio
from hypercorn.events import Event, Updated
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.utils import repr_socket_addr, wrap_app

from gomodel.app.asgi import GatewayApp
from gomodel.config import Config
from gomodel.connections import ConnectionLimits, Connections
from gomodel.process import freeze_startup_objects, listen_backlog

__all__ = [
    "GRACEFUL_TIMEOUT",
    "KEEP_ALIVE_TIMEOUT",
    "LAST_WRITE",
    "ServerSettings",
    "hypercorn_config",
    "run_workers",
    "serve_gateway",
    "wait_for_signal",
]

log = logging.getLogger("gomodel")

# Longer than nginx's default upstream keepalive_timeout (60 s), so nginx never reuses a
# connection hypercorn is closing (RELIABILITY.md §1.4, §3).
KEEP_ALIVE_TIMEOUT = 75.0
# Streams in flight get this long to finish after SIGTERM (SHUTDOWN_GRACE_PERIOD); then each
# ends with a server_shutdown error event.
GRACEFUL_TIMEOUT = 30.0
# After the grace period, a stream still running writes its server_shutdown event within this.
LAST_WRITE = 1.0


@attrs.frozen
class ServerSettings:
    keep_alive_timeout: float = KEEP_ALIVE_TIMEOUT
    graceful_timeout: float = GRACEFUL_TIMEOUT
    limits: ConnectionLimits = attrs.field(factory=ConnectionLimits)
    # After start-up, freeze the objects alive and collect less often (gomodel/process.py):
    # what `gomodel serve` does; off for servers started inside a test process.
    tune_gc: bool = False

    @classmethod
    def from_config(cls, config: Config) -> ServerSettings:
        return cls(
            config.keep_alive_timeout,
            config.shutdown_grace_period,
            ConnectionLimits.from_config(config),
        )


def hypercorn_config(
    host: str, port: int, settings: ServerSettings | None = None
) -> hypercorn.config.Config:
    settings = settings or ServerSettings()
    config = hypercorn.config.Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.worker_class = "trio"
    config.keep_alive_timeout = settings.keep_alive_timeout
    config.graceful_timeout = settings.graceful_timeout
    config.accesslog = None
    return config


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM: the shutdown trigger of a foreground gateway."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


class _TCPServer(TCPServer):
    """hypercorn's connection handler, telling the stream when a request head is complete and
    when the connection is idle again (the header deadline runs in between)."""

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):
            self.stream.set_idle(event.idle)
        await super().protocol_send(event)


async def serve_gateway(
    app: GatewayApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    settings: ServerSettings | None = None,
    listeners: Sequence[trio.abc.Listener[Any]] | None = None,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; reports the base URL when listening.

    ``listeners`` replace binding ``host:port`` (a worker's inherited sockets; tests' in-memory
    listeners, whose streams need a ``socket`` attribute as hypercorn asks it for addresses).
    """
    settings = settings or ServerSettings()
    config = hypercorn_config(host, port, settings)
    if listeners is None:
        sockets = config.create_sockets().insecure_sockets
        for sock in sockets:
            sock.listen(listen_backlog())
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")  # type: ignore[arg-type]
    state: dict[str, Any] = {}
    lifespan = Lifespan(asgi, config, state)
    context = WorkerContext(None)
    connections = Connections(settings.limits)

    async def serve_connection(stream: Any) -> None:
        client = connections.wrap(stream)
        try:
            # hypercorn types the stream as an SSL stream; it uses only the Stream API, a
            # ``socket`` attribute, and whether ``do_handshake`` exists (it does not: plain).
            await _TCPServer(asgi, config, context, dict(state), client)  # type: ignore[arg-type]
        finally:
            client.forget()

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        if settings.tune_gc:
            freeze_startup_objects()
        async with trio.open_nursery() as handlers:
            async with trio.open_nursery() as accepting:
                accepting.start_soon(
                    partial(
                        trio.serve_listeners,
                        serve_connection,
                        list(listeners),
                        handler_nursery=handlers,
                    )
                )
                task_status.started(_url(listeners[0]))
                await (shutdown_trigger or trio.sleep_forever)()
                accepting.cancel_scope.cancel()  # closes the listening sockets
            await context.terminated.set()  # idle connections close; answers say "close"
            deadline = trio.current_time() + settings.graceful_timeout
            handlers.cancel_scope.deadline = deadline
            connections.cut_off(deadline + LAST_WRITE)
        stats = connections.statistics()
        if stats.send_timeouts or stats.header_timeouts or stats.cut_off:
            log.info(
                "client connections: %d accepted, %d cut off for not reading, %d for a slow "
                "request head, %d at shutdown",
                stats.accepted,
                stats.send_timeouts,
                stats.header_timeouts,
                stats.cut_off,
            )
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()


def _url(listener: trio.abc.Listener[Any]) -> str:
    sock = getattr(listener, "socket", None)
    if sock is None:
        return "http://memory"
    return f"http://{repr_socket_addr(sock.family, sock.getsockname())}"


# -- serve --workers N ---------------------------------------------------------------------------


def run_workers(config: Config, workers: int) -> int:
    """``workers`` processes serving one listening socket; SIGINT or SIGTERM to this process
    shuts them all down gracefully. Each worker loads the configuration again from the
    environment (``GOMODEL_CONFIG`` names the file). Returns the first failing exit code."""
    settings = ServerSettings.from_config(config)
    hconfig = hypercorn_config(config.host, config.port, settings)
    sockets = hconfig.create_sockets().insecure_sockets
    for sock in sockets:
        sock.listen(listen_backlog())
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    # The children inherit an ignored SIGINT (a terminal's Ctrl-C reaches the whole group):
    # this process tells them when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    processes = [context.Process(target=_worker, args=(sockets, stop)) for _ in range(workers)]
    for process in processes:
        process.start()

    def shutdown(*_: object) -> None:
        stop.set()
        # The workers close their copies when their shutdown starts; with this one closed too,
        # the socket stops accepting at once (a proxy moves on instead of being reset later).
        for sock in sockets:
            sock.close()

    for name in (signal.SIGINT, signal.SIGTERM):
        signal.signal(name, shutdown)
    log.info("gomodel listening on %s (%d workers)", hconfig.bind[0], workers)
    code = 0
    running = list(processes)
    while running:
        ready = multiprocessing.connection.wait([p.sentinel for p in running])
        for process in [p for p in running if p.sentinel in ready]:
            process.join()
            running.remove(process)
            code = code or (process.exitcode or 0)
        stop.set()  # one worker ended (a crash, or the shutdown): the others follow
    for sock in sockets:
        sock.close()
    return code


def _worker(sockets: list[socket.socket], stop: ProcessEvent) -> None:
    from gomodel.config import load_config
    from gomodel.logs import setup_logging

    config = load_config(os.environ, config_path=os.environ.get("GOMODEL_CONFIG") or None)
    setup_logging(config)

    async def stopped() -> None:
        while not stop.is_set():  # noqa: ASYNC110 (a multiprocessing event: no waiting on it)
            await trio.sleep(0.1)

    async def main() -> None:
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
        await serve_gateway(
            GatewayApp(config),
            settings=attrs.evolve(ServerSettings.from_config(config), tune_gc=True),
            listeners=listeners,
            shutdown_trigger=stopped,
        )

    trio.run(main)
