"""``GET METRICS_ENDPOINT`` (``/metrics``): the Prometheus text format, every worker summed.

Outside the gateway's own authentication: the metrics have their own rule
(:mod:`gomodel.observe.access`). Rendering reads every worker's files, so it runs in a worker
thread.
"""

from __future__ import annotations

import trio

from gomodel.app.render import send_bytes
from gomodel.errors import NotFound
from gomodel.observe import multiproc
from gomodel.observe.access import check_metrics_access
from gomodel.pipeline.context import RequestContext

__all__ = ["metrics"]


async def metrics(ctx: RequestContext) -> None:
    runtime = ctx.runtime
    exposition = runtime.metrics.exposition
    if exposition is None:
        raise NotFound(f"unknown route: GET {ctx.snapshot.path}", code="unknown_route")
    config = runtime.config
    tokens = [t.encode() for t in (config.metrics_token, config.master_key) if t]
    check_metrics_access(ctx.snapshot.header(b"authorization"), ctx.snapshot.client, tokens)
    if runtime.sampler is not None:
        runtime.sampler.sample()  # this worker's pools and queues, as of now
    directory = exposition.directory
    if directory is not None:
        multiproc.sweep(directory)  # live gauges of workers that died
    body = await trio.to_thread.run_sync(exposition.render)
    await send_bytes(ctx.send, 200, body, exposition.content_type.encode(), ctx.headers)
