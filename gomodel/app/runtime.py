"""What a running gateway holds: provider clients, the model catalog, the usage sink, and the
background tasks (model list refresh) in a nursery the ASGI lifespan owns.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import httpx
import orjson
import trio

from gomodel.app.control import Control, open_control
from gomodel.app.response_store import ResponseStore
from gomodel.config import Config
from gomodel.keys.cache import AuthKeyCache
from gomodel.observe.metrics import NO_METRICS, Metrics
from gomodel.observe.sampler import Sampler
from gomodel.observe.setup import open_observability
from gomodel.pipeline.context import Handler
from gomodel.pipeline.observers import RequestLog, UsageObserver
from gomodel.pipeline.stages import Credentials, Stages
from gomodel.providers.client import Provider, TransportFactory, make_provider
from gomodel.providers.endpoints import models_url, parse_model_list
from gomodel.relay.watch import Deadlines
from gomodel.resilience.breaker import BreakerSettings
from gomodel.resilience.fleet import Fleet
from gomodel.resilience.retry import RetryPolicy
from gomodel.routing.catalog import Catalog, ModelInfo
from gomodel.routing.decision import Policy
from gomodel.routing.virtual import Routing
from gomodel.storage import make_store
from gomodel.storage.audit import SQLAuditStore
from gomodel.storage.base import UsageStore
from gomodel.storage.keys import open_auth_key_store
from gomodel.storage.recorder import UsageRecorder
from gomodel.usage.record import LogUsageSink, UsageSink

__all__ = ["Runtime", "breaker_settings", "open_runtime", "retry_policy"]

log = logging.getLogger("gomodel")

# How long a model list request may take before the provider counts as unreachable.
MODEL_LIST_TIMEOUT = 30.0
RETENTION_INTERVAL = 3600.0


@attrs.define(eq=False)
class Runtime:
    config: Config
    providers: dict[str, Provider]
    catalog: Catalog
    usage: UsageSink
    deadlines: Deadlines
    policy: Policy
    stages: Stages
    auth_keys: AuthKeyCache | None = None  # managed keys, in the usage database
    control: Control | None = None  # limits and budgets
    store: UsageStore | None = None  # where usage rows are kept (None: usage disabled/replaced)
    initial_load: trio.Event = attrs.field(factory=trio.Event)
    clock: Callable[[], float] = time.time  # wall clock, for "created" stamps
    responses: ResponseStore = attrs.field(factory=ResponseStore)  # who owns which response
    # Observability (gomodel/observe/setup.py): the metrics registry, its sampler, and routes
    # that answer outside the gateway's authentication (the metrics path).
    metrics: Metrics = NO_METRICS
    sampler: Sampler | None = None
    routes: Mapping[str, Mapping[str, Handler]] = attrs.field(factory=dict)
    audit: SQLAuditStore | None = None  # the audit log (LOGGING_ENABLED)
    # Virtual models and providers with deployments; the deployments' breakers and counters;
    # how failed attempts are retried; the jitter's random source.
    routing: Routing = attrs.field(factory=Routing)
    fleet: Fleet = attrs.field(kw_only=True)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    random: Callable[[], float] = random.random

    async def refresh_models(self) -> None:
        """Load every provider's model list, concurrently; failures keep the configured list."""
        async with trio.open_nursery() as nursery:
            for provider in self.providers.values():
                nursery.start_soon(self._refresh_one, provider)
        self.initial_load.set()

    async def _refresh_one(self, provider: Provider) -> None:
        configured = tuple(ModelInfo(m) for m in provider.config.models)
        listed: tuple[ModelInfo, ...] | None = None
        url = models_url(provider.config, provider.spec)
        try:
            with trio.fail_after(MODEL_LIST_TIMEOUT):
                request = provider.build_request(
                    "GET", url, body=None, request_id=None, stream=False
                )
                response = await provider.send(request)
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            if response.status_code == 200:
                listed = parse_model_list(orjson.loads(response.content))
            problem = f"HTTP {response.status_code}" if listed is None else None
        except (httpx.HTTPError, trio.TooSlowError, orjson.JSONDecodeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        if listed is None:
            log.warning(
                "model list of provider %r unavailable (%s); %s",
                provider.name,
                problem,
                "using its configured models" if configured else "it accepts any model",
            )
            models = configured or None
        else:
            known = {m.id for m in listed}
            models = listed + tuple(m for m in configured if m.id not in known)
        self.catalog = self.catalog.with_models(provider.name, models)

    async def serve_retention(self) -> None:
        """Delete usage rows older than USAGE_RETENTION_DAYS, at start and every hour."""
        assert self.store is not None
        while True:
            cutoff = datetime.now(UTC) - timedelta(days=self.config.usage_retention_days)
            try:
                deleted = await trio.to_thread.run_sync(self.store.delete_older_than, cutoff)
            except Exception as exc:
                log.warning("usage retention cleanup failed: %s", exc)
            else:
                if deleted:
                    log.info("usage retention: deleted %d rows older than %s", deleted, cutoff)
            await trio.sleep(RETENTION_INTERVAL)

    async def serve_model_refresh(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await self.refresh_models()
            await trio.sleep(self.config.cache_refresh_interval)


def retry_policy(config: Config) -> RetryPolicy:
    return RetryPolicy(
        max_retries=config.retry_max_retries,
        initial_backoff=config.retry_initial_backoff,
        max_backoff=config.retry_max_backoff,
        backoff_factor=config.retry_backoff_factor,
        jitter_factor=config.retry_jitter_factor,
        total_timeout=config.retry_total_timeout,
        failover=config.failover_enabled,
        failover_max_attempts=config.failover_max_attempts,
        statuses=config.failover_retry_on_statuses,
    )


def breaker_settings(config: Config) -> BreakerSettings:
    return BreakerSettings(
        enabled=config.circuit_breaker_enabled,
        failure_threshold=config.circuit_breaker_failure_threshold,
        success_threshold=config.circuit_breaker_success_threshold,
        timeout=config.circuit_breaker_timeout,
        slow_call_threshold=config.circuit_breaker_slow_call_threshold,
    )


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    transport_factory: TransportFactory | None = None,
    usage: UsageSink | None = None,
    auth_keys: AuthKeyCache | None = None,
    span_processor: object = None,
) -> AsyncIterator[Runtime]:
    """Build clients, start the background tasks, and tear both down on exit.

    ``usage`` replaces the usage recorder (tests pass a :class:`MemoryUsageSink`); without it
    usage rows go to the configured storage, unless USAGE_ENABLED is false. Managed keys live
    in the same database (``STORAGE_TYPE``), whether usage is recorded or not; ``auth_keys``
    replaces their cache (tests pass one over an in-memory store). ``span_processor``
    replaces the OTLP exporter of traces (tests pass one with an in-memory exporter).
    """
    store: UsageStore | None = None
    recorder: UsageRecorder | None = None
    if usage is None and config.usage_enabled:
        store = make_store(
            config.storage_type,
            sqlite_path=config.sqlite_path,
            postgres_url=config.postgres_url or "",
        )
        recorder = UsageRecorder(
            store,
            config.price_table,
            Path(config.usage_spill_dir),
            buffer_size=config.usage_buffer_size,
            flush_interval=config.usage_flush_interval,
        )
    providers = {p.name: make_provider(p, config, transport_factory) for p in config.providers}
    seeded = {p.name: tuple(ModelInfo(m) for m in p.models) for p in config.providers if p.models}
    sink = usage or recorder or LogUsageSink()
    storage = config.storage_type == "sqlite" or config.postgres_url
    if auth_keys is None and config.auth_keys_enabled and storage:
        auth_keys = AuthKeyCache(
            open_auth_key_store(
                config.storage_type,
                sqlite_path=config.sqlite_path,
                postgres_url=config.postgres_url or "",
            )
        )
    async with open_control(config, store, lambda: runtime.clock()) as control:
        runtime = Runtime(
            config=config,
            providers=providers,
            catalog=Catalog(
                # What clients address: providers (with deployments or not); deployments too.
                providers=tuple(sorted({p.group or p.name for p in config.providers})),
                types={
                    **{p.name: p.type for p in config.providers},
                    **{p.group: p.type for p in config.providers if p.group is not None},
                },
                models=seeded,
                members={g.name: g.members for g in config.groups},
            ),
            usage=sink,
            store=store,
            deadlines=Deadlines.from_config(config),
            policy=Policy(
                config.usage_enabled,
                config.enforce_returning_usage_data,
                default_max_tokens=config.anthropic_default_max_tokens or None,
            ),
            stages=Stages(
                authenticator=Credentials(
                    config.master_key.encode() if config.master_key else None, auth_keys
                ),
                admission=control.admission,
                observers=(UsageObserver(sink), RequestLog()),
            ),
            auth_keys=auth_keys,
            control=control,
            routing=Routing(
                virtual_models={m.name: m for m in config.virtual_models},
                groups={g.name: g for g in config.groups},
            ),
            fleet=Fleet(
                config.providers, breaker_settings(config), config.price_table, trio.current_time
            ),
            retry=retry_policy(config),
        )
        try:
            # Observability (metrics, audit, traces) plugs into the stages first, stops last.
            async with (
                open_observability(runtime, span_processor=span_processor),
                trio.open_nursery() as nursery,
            ):
                if recorder is not None:
                    await nursery.start(recorder.serve)
                    if config.usage_retention_days:
                        nursery.start_soon(runtime.serve_retention)
                await nursery.start(runtime.serve_model_refresh)
                if auth_keys is not None:
                    await nursery.start(auth_keys.serve)
                await nursery.start(control.rules.serve)
                yield runtime
                nursery.cancel_scope.cancel()  # the recorder writes (or spills) what it holds
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(5.0):
                for provider in providers.values():
                    await provider.aclose()
                if store is not None:
                    await trio.to_thread.run_sync(store.close)
                if auth_keys is not None:
                    await trio.to_thread.run_sync(auth_keys.store.close)
