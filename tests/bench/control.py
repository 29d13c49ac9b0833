"""The control plane under load: the gateway with a managed key, a budget and rate limits on
Redis (``gomodel-limits``), and with metrics and the audit log on as well (``gomodel-full``).

Issue 14 asks that a managed key under a budget and a rate limit on Redis keep 0.85 of plain
chat; issue 18 that everything a production deployment turns on keep 0.8 of the bare run and
add at most 0.3 ms p50 at concurrency 1. Both are only worth reading if the control plane
really ran, so after the measured cells each variant proves it did: ``GET /v1/usage`` with the
managed key shows its spend and its limits, Redis holds counters under the run's own key
prefix, no request got a 429 or any other refusal, and (full) the metrics answer and the audit
log has entries without the key's secret. A variant whose wrk or curl saw an error is stopped
and reported as failed, never measured as fast. Redis unreachable (``BENCH_REDIS_URL``,
default ``redis://127.0.0.1:6379``): the variants are skipped with a note.

The rules sit on the key's user path, seeded from the environment (``SET_BUDGET_BENCH__TEAM``,
``SET_RATE_LIMIT_BENCH__TEAM``), far above what a run can use. The requests carry a
``max_tokens`` (plain chat's body plus ``"max_tokens": 256``): a budgeted request without an
output cap is rewritten to get one (docs/budgets.md), while one whose reservation fits keeps the
fast path, which is what a client that sets its cap gets and what the targets are about.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import trio

from gomodel.errors import ConfigError, RedisUnavailable
from gomodel.redis import RedisClient, RedisSettings, open_redis
from tests.bench.control_check import ControlCheck
from tests.bench.servers import Server, gateway_server
from tests.bench.verify import BenchError
from tests.bench.workloads import WORKLOADS, Workload

__all__ = [
    "CONTROL_WORKLOADS",
    "FULL",
    "KEY_ONLY",
    "LIMITS",
    "LIMITS_MEMORY",
    "VARIANT_NAMES",
    "ControlPlane",
    "VariantFailed",
    "control_body",
    "redis_problem",
    "redis_url",
    "stop_on_errors",
    "variant_env",
]

LIMITS, FULL = "gomodel-limits", "gomodel-full"
VARIANT_NAMES = (LIMITS, FULL)
# Only for tests/bench/control_cost.py, to take the bill apart: the managed key alone (no
# rules), and the limits with counters in the process instead of Redis.
KEY_ONLY, LIMITS_MEMORY = "gomodel-key", "gomodel-limits-memory"
CONTROL_WORKLOADS = ("chat", "stream")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
USER_PATH = "/bench/team"  # SET_*_BENCH__TEAM below
BUDGET = "monthly=1000000"  # USD: a run spends well under a dollar
RATES = "rpm=1000000000,tpm=1000000000000,concurrent=1000000"
MAX_TOKENS = 256
KEY_SPREAD_S = 2.5  # every worker serves a new key within 2 s (docs/keys.md)
SETTLE_WAIT_S = 12.0  # usage rows and audit entries are flushed every 5 s


T = TypeVar("T")


class VariantFailed(BenchError):
    """A control-plane variant saw errors or refusals: stopped, reported, not measured."""


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS_URL


def _settings(url: str) -> RedisSettings:
    return RedisSettings.from_url(url, timeout=2.0, setting="BENCH_REDIS_URL")


def _with_redis(url: str, work: Callable[[RedisClient], Awaitable[T]]) -> T:
    """``work(client)`` on a client of ``url``, from sync code; RedisUnavailable as itself
    (raised inside the client's nursery it would come out wrapped in an exception group)."""

    async def go() -> T | RedisUnavailable:
        async with open_redis(_settings(url)) as client:
            try:
                return await work(client)
            except RedisUnavailable as exc:
                return exc

    answer = trio.run(go)
    if isinstance(answer, RedisUnavailable):
        raise answer
    return answer


def redis_problem(url: str) -> str | None:
    """Why Redis at ``url`` cannot be used (None: it answers PING)."""

    async def ping(client: RedisClient) -> None:
        await client.execute("PING")

    try:
        _with_redis(url, ping)
    except (RedisUnavailable, ConfigError, ValueError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def _scan(client: RedisClient, prefix: str) -> list[bytes]:
    cursor: bytes | int = b"0"
    found: list[bytes] = []
    while True:
        reply = await client.execute("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
        assert isinstance(reply, list) and isinstance(reply[1], list)
        cursor = reply[0]
        found.extend(k for k in reply[1] if isinstance(k, bytes))
        if cursor in (b"0", 0):
            return found


def _redis_keys(url: str, prefix: str, *, delete: bool) -> int:
    """How many keys are under ``prefix``; ``delete``: and remove them (a shared Redis)."""

    async def go(client: RedisClient) -> int:
        keys = await _scan(client, prefix)
        if delete and keys:
            await client.execute("UNLINK", *keys)
        return len(keys)

    return _with_redis(url, go)


def variant_env(
    variant: str, url: str, prefix: str, master_key: str, metrics_token: str
) -> dict[str, str]:
    if variant == KEY_ONLY:
        return {"GOMODEL_MASTER_KEY": master_key}
    env = {
        "GOMODEL_MASTER_KEY": master_key,
        "REDIS_URL": url,
        "REDIS_KEY_LIMITS": prefix + "limits:",
        "BUDGETS_ENABLED": "true",
        "RATE_LIMITS_ENABLED": "true",
        "SET_BUDGET_BENCH__TEAM": BUDGET,
        "SET_RATE_LIMIT_BENCH__TEAM": RATES,
    }
    if variant == LIMITS_MEMORY:
        del env["REDIS_URL"], env["REDIS_KEY_LIMITS"]
    if variant == FULL:
        env |= {
            "METRICS_ENABLED": "true",
            "METRICS_TOKEN": metrics_token,
            "LOGGING_ENABLED": "true",
            "LOGGING_LOG_HEADERS": "true",
            "LOGGING_LOG_BODIES": "false",
        }
    return env


def control_body(workload: Workload) -> bytes:
    """The workload's request with an output cap, so that the budget needs no rewrite."""
    return orjson.dumps({**workload.body, "model": workload.model, "max_tokens": MAX_TOKENS})


def stop_on_errors(target: str, what: str, errors: int) -> None:
    """Stop a control-plane variant whose load generator saw ``errors``."""
    if errors and target in VARIANT_NAMES:
        raise VariantFailed(f"{target}: {what}: {errors} errors; stopped, not measured further")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ControlPlane:
    """One start of a control-plane variant: its secrets, its Redis prefix and its check."""

    def __init__(self, variant: str, url: str, workers: int, check: ControlCheck) -> None:
        self.variant, self.url, self.workers, self.check = variant, url, workers, check
        self.prefix = f"bench:{secrets.token_hex(6)}:"
        self.master_key = "bench-master-" + secrets.token_urlsafe(24)
        self.metrics_token = "bench-metrics-" + secrets.token_urlsafe(16)
        self.key_secret: str | None = None

    @contextmanager
    def server(self, mock_url: str, workdir: Path) -> Iterator[Server]:
        """The gateway with this variant's settings, serving with a fresh managed key; the
        log's statuses and the secrets' absence are checked after it stopped, and the run's
        Redis keys deleted."""
        env = variant_env(self.variant, self.url, self.prefix, self.master_key, self.metrics_token)
        env["SQLITE_PATH"] = str(workdir / f"{self.variant}-w{self.workers}.db")
        cm = gateway_server(
            mock_url, self.workers, workdir, self.variant, env=env, headers=_bearer(self.master_key)
        )
        running: Server | None = None
        try:
            with cm as running:
                self._issue_key(running)
                yield running
        finally:
            if running is not None:
                self._after_stop(running)
            try:
                _redis_keys(self.url, self.prefix, delete=True)
            except (RedisUnavailable, OSError):
                pass  # the keys expire with their TTL

    def _issue_key(self, server: Server) -> None:
        answer = httpx.post(
            server.url + "/admin/api/v1/auth-keys",
            json={"name": f"bench {self.variant}", "user_path": USER_PATH},
            headers=server.headers,
            timeout=10,
        )
        if answer.status_code != 201:
            raise BenchError(
                f"{self.variant}: creating a managed key got {answer.status_code}: "
                f"{answer.text[:300]}"
            )
        doc = answer.json()
        self.key_secret = str(doc["value"])
        self.check.key_id = str(doc["id"])
        server.headers = _bearer(self.key_secret)
        time.sleep(KEY_SPREAD_S)  # until every worker has loaded it: no 401 while measuring

    def verify(self, server: Server, routes: dict[str, str]) -> None:
        """After the measured cells: what the key, the budget, the limits and Redis show."""
        check, problems = self.check, self.check.problems
        check.routes = dict(routes)
        for workload, route in routes.items():
            if route != "passthrough":
                problems.append(f"{workload}: route {route!r}, not the fast path (passthrough)")
        # One request in the current window, so that rpm shows it even when the last measured
        # request fell in the minute before.
        chat = WORKLOADS["chat"]
        sent = httpx.post(
            server.url + chat.path,
            content=control_body(chat),
            headers={**server.headers, "content-type": "application/json"},
            timeout=30,
        )
        if sent.status_code != 200:
            problems.append(f"a chat request with the managed key got {sent.status_code}")
        usage = self._until(server, "/v1/usage", server.headers, _spent)
        if usage is None:
            problems.append("GET /v1/usage with the managed key did not answer 200")
        else:
            self._read_usage(usage)
        check.redis_keys = _redis_keys(self.url, self.prefix, delete=False)
        if not check.redis_keys:
            problems.append(f"no Redis keys under the run's prefix {self.prefix!r}")
        if self.variant == FULL:
            self._observability(server)

    def _read_usage(self, usage: dict[str, Any]) -> None:
        check, problems = self.check, self.check.problems
        check.user_path = usage.get("user_path")
        if usage.get("key_id") != check.key_id or check.user_path != USER_PATH:
            problems.append(
                f"/v1/usage answered for key {usage.get('key_id')!r} on "
                f"{check.user_path!r}, not the managed key on {USER_PATH}"
            )
        check.spend_usd = (usage.get("spend") or {}).get("month")
        if not check.spend_usd:
            problems.append(f"no spend in the key's usage rows: {usage.get('spend')!r}")
        budgets = usage.get("budgets") or []
        check.budget_spent_usd = sum(float(b.get("spent") or 0) for b in budgets) or None
        if not budgets or not check.budget_spent_usd:
            problems.append(f"the budget on {USER_PATH} shows no spend: {budgets!r}")
        check.rate_limits = {
            str(r.get("name")): int(r.get("used") or 0) for r in usage.get("rate_limits") or []
        }
        if set(check.rate_limits) != {"rpm", "tpm", "concurrent"} or not check.rate_limits["rpm"]:
            problems.append(f"the rate limits do not show the run: {check.rate_limits!r}")

    def _observability(self, server: Server) -> None:
        check, problems = self.check, self.check.problems
        metrics = httpx.get(
            server.url + "/metrics", headers=_bearer(self.metrics_token), timeout=10
        )
        check.metrics_ok = metrics.status_code == 200 and "# TYPE" in metrics.text
        if not check.metrics_ok:
            problems.append(f"GET /metrics with its token got {metrics.status_code}")
        page = self._until(
            server,
            "/admin/api/v1/audit/log?limit=100",
            _bearer(self.master_key),
            lambda doc: bool(doc.get("entries")),
        )
        entries = (page or {}).get("entries") or []
        check.audit_entries = len(entries)
        if not entries:
            problems.append("the audit log has no entries")
        if self.key_secret and self.key_secret in orjson.dumps(entries).decode():
            problems.append("the managed key's secret is in the audit log")

    def _until(
        self, server: Server, path: str, headers: dict[str, str], done: Any
    ) -> dict[str, Any] | None:
        """GET ``path`` until ``done(answer)`` (rows and entries are flushed every 5 s)."""
        deadline = time.monotonic() + SETTLE_WAIT_S
        doc: dict[str, Any] | None = None
        while True:
            answer = httpx.get(server.url + path, headers=headers, timeout=10)
            doc = answer.json() if answer.status_code == 200 else None
            if (doc is not None and done(doc)) or time.monotonic() > deadline:
                return doc
            time.sleep(0.5)

    def _after_stop(self, server: Server) -> None:
        check, problems = self.check, self.check.problems
        if server.log is not None:
            check.statuses = dict(server.log.statuses)
            # 499: the load generator closing its connections as a run ends, not a refusal.
            refused = {
                s: n for s, n in check.statuses.items() if not s.startswith("2") and s != "499"
            }
            if refused:
                problems.append(f"requests refused or failed: {refused}")
        if server.log_path is not None and self.key_secret:
            try:
                text = server.log_path.read_text(errors="replace")
            except OSError:
                text = ""
            if self.key_secret in text or self.master_key in text:
                problems.append("a secret is in the server's log")


def _spent(doc: dict[str, Any]) -> bool:
    return bool((doc.get("spend") or {}).get("month"))
