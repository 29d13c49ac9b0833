"""The usage record of one request, and the interface of whatever stores it.

Storage and pricing come with their own work; for now a sink keeps records in memory and logs
them. Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

from gomodel.termination import Termination
from gomodel.usage.extract import Usage

__all__ = ["LogUsageSink", "MemoryUsageSink", "UsageRecord", "UsageSink"]

log = logging.getLogger("gomodel.usage")


@attrs.frozen(slots=True)
class UsageRecord:
    request_id: str
    provider: str  # configured provider name
    provider_type: str
    requested_model: str
    model: str  # the model the upstream reported, else the one it was asked for
    endpoint: str
    route: str  # passthrough | rewrite | translate
    stream: bool
    usage: Usage | None  # None: the provider reported nothing before the request ended
    complete: bool  # the provider reported its counts (False: the stream ended first)
    status: int
    termination: Termination
    provider_id: str | None = None
    user_path: str = "/"
    key_id: str | None = None  # the managed key the request presented
    latency_ms: float | None = None  # request received -> last byte handed to the server
    ttfb_ms: float | None = None  # request received -> first byte handed to the server
    overhead_ms: float | None = None  # latency minus the time spent waiting on the upstream
    client: str | None = None  # the client's address, past TRUSTED_PROXY_HOPS proxies


class UsageSink(Protocol):
    def record(self, record: UsageRecord) -> None:
        """Take one record; must not block the request."""


@attrs.define
class MemoryUsageSink:
    """Keeps every record; for tests and for the demo."""

    records: list[UsageRecord] = attrs.field(factory=list)

    def record(self, record: UsageRecord) -> None:
        self.records.append(record)


class LogUsageSink:
    """Logs each record at debug level until persistent storage lands."""

    def record(self, record: UsageRecord) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("usage %s", record)
