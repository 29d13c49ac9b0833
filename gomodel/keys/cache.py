"""The hot-path lookup of managed keys: a dict by secret hash, kept fresh by a background task.

The request path never touches the database. :meth:`AuthKeyCache.serve` polls the store's
change marker every ``refresh_interval`` (1 s) and reloads the whole key set when it moved (keys
are few: thousands at most; also every ``reload_interval`` whatever the marker says). A lookup
is one SHA-256 and one dict lookup; a token that is no key is unknown without a database hit, so
a flood of random tokens costs nothing.

**The bound.** The snapshot is *verified at* the time a poll started that found it current.
Every change committed before that instant is in it. A lookup serves an active key only while
``now - verified_at <= max_staleness`` (2 s); past that, managed keys are refused with a 503
(``code=auth_keys_unavailable``) until storage answers again. So a key deactivated at ``T`` on
any replica sharing the database is refused everywhere from ``T + max_staleness`` on, whatever
the state of the database or of this task; with polls every second it is usually refused about
a second after. Deactivated and expired keys get their 401 even from a stale snapshot (neither
can come back), an unknown token gets the 503 (it may be a key created meanwhile).

Expiry is checked against the wall clock at each lookup, so it needs no refresh.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NoReturn, Protocol, TypeVar

import attrs
import trio

from gomodel.errors import AuthenticationFailed, GatewayError, UpstreamUnavailable
from gomodel.keys.models import check_model
from gomodel.keys.record import AuthKey, KeyState
from gomodel.keys.secret import hash_token
from gomodel.storage.keys import AuthKeyStore

__all__ = ["AuthKeyCache", "KeyCacheStatistics"]

log = logging.getLogger("gomodel.keys")

T = TypeVar("T")

REFRESH_INTERVAL = 1.0
MAX_STALENESS = 2.0
RELOAD_INTERVAL = 60.0


@attrs.frozen
class KeyCacheStatistics:
    keys: int  # stored keys, active or not
    active: int
    revision: int
    age: float  # seconds since the snapshot was last verified (inf: never loaded)
    fresh: bool  # active keys are being served (age <= max_staleness)
    polls: int
    loads: int
    failures: int  # failed polls since the cache started


class RunSync(Protocol):
    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _to_thread(fn: Callable[[], T]) -> T:
    # A poll stuck on an unreachable database must not hold up shutdown; the bound does not
    # depend on the poll returning.
    return await trio.to_thread.run_sync(fn, abandon_on_cancel=True)


class AuthKeyCache:
    """The managed keys of one process. Start :meth:`serve` in the runtime's nursery with
    ``await nursery.start(cache.serve)``; then :meth:`authenticate` and :meth:`check_model`
    answer from memory.

    ``wall_clock`` (aware UTC) judges expiry; ``trio.current_time()`` measures staleness.
    ``run_sync`` runs a blocking store call (a worker thread; tests may run it inline).
    """

    def __init__(
        self,
        store: AuthKeyStore,
        *,
        refresh_interval: float = REFRESH_INTERVAL,
        max_staleness: float = MAX_STALENESS,
        reload_interval: float = RELOAD_INTERVAL,
        wall_clock: Callable[[], datetime] = _utcnow,
        run_sync: RunSync = _to_thread,
    ) -> None:
        if not 0 < refresh_interval < max_staleness:
            raise ValueError("refresh_interval must be positive and below max_staleness")
        self.store = store
        self.refresh_interval = refresh_interval
        self.max_staleness = max_staleness
        self.reload_interval = reload_interval
        self._wall_clock = wall_clock
        self._run_sync = run_sync
        self._by_hash: dict[str, AuthKey] = {}
        self._revision = -1
        self._verified_at = -math.inf
        self._loaded_at = -math.inf
        self._migrated = False
        self._poll_lock = trio.Lock()
        self._wake = trio.Event()
        self._failing = False
        self._polls = self._loads = self._failures = 0

    # -- the request path ------------------------------------------------------------------------

    async def authenticate(self, token: bytes) -> AuthKey:
        """The active key ``token`` (the bearer token, without ``Bearer ``) is, or a 401 that
        says why not (unknown, expired, deactivated), or a 503 when the snapshot is stale.
        Answers from memory: it never waits (and is not a checkpoint)."""
        secret_hash = hash_token(token)
        if secret_hash is None:
            raise _unknown()
        key = self._by_hash.get(secret_hash)
        # The dict found it by the hash; compare once more in constant time all the same.
        if key is not None and not hmac.compare_digest(key.secret_hash, secret_hash):
            key = None
        fresh = trio.current_time() - self._verified_at <= self.max_staleness
        if key is None:
            if not fresh:
                raise _unavailable()
            raise _unknown()
        state = key.state(self._wall_clock())
        if state is KeyState.DEACTIVATED:
            raise AuthenticationFailed(
                "authentication failed: the API key has been deactivated", code="key_deactivated"
            )
        if state is KeyState.EXPIRED:
            raise AuthenticationFailed(
                "authentication failed: the API key has expired", code="key_expired"
            )
        if not fresh:
            raise _unavailable()
        return key

    @staticmethod
    def check_model(
        key: AuthKey, *, provider: str, provider_type: str, model: str, requested: str
    ) -> None:
        """403 naming the model unless ``key`` may use the resolved target
        (:func:`gomodel.keys.models.check_model`)."""
        check_model(
            key, provider=provider, provider_type=provider_type, model=model, requested=requested
        )

    @property
    def loaded(self) -> bool:
        """Whether the keys were ever read from storage (until then nobody knows if any
        exist)."""
        return self._loads > 0

    def unavailable(self) -> GatewayError:
        """The 503 a request gets while the keys cannot be known."""
        return _unavailable()

    @property
    def has_keys(self) -> bool:
        """Whether managed keys may exist: keys (active or not) were stored at the last load,
        or no load has succeeded yet (unknown counts as yes, so authentication fails closed)."""
        return self._loads == 0 or bool(self._by_hash)

    def statistics(self) -> KeyCacheStatistics:
        now_wall = self._wall_clock()
        age = trio.current_time() - self._verified_at
        return KeyCacheStatistics(
            keys=len(self._by_hash),
            active=sum(key.is_active(now_wall) for key in self._by_hash.values()),
            revision=self._revision,
            age=age,
            fresh=age <= self.max_staleness,
            polls=self._polls,
            loads=self._loads,
            failures=self._failures,
        )

    # -- keeping fresh ---------------------------------------------------------------------------

    def nudge(self) -> None:
        """Poll now rather than at the next tick (after a write through this process)."""
        self._wake.set()

    async def refresh(self) -> None:
        """One poll: read the change marker, reload the keys if it moved. Raises what the
        store raised; polls never overlap."""
        async with self._poll_lock:
            started = trio.current_time()
            self._polls += 1
            if not self._migrated:
                await self._run_sync(self.store.migrate)
                self._migrated = True
            revision = await self._run_sync(self.store.revision)
            if revision != self._revision or started - self._loaded_at >= self.reload_interval:
                keyset = await self._run_sync(self.store.snapshot)
                self._by_hash = {key.secret_hash: key for key in keyset.keys}
                self._revision = keyset.revision
                self._loaded_at = started
                self._loads += 1
            self._verified_at = max(self._verified_at, started)

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Poll every ``refresh_interval`` until cancelled. The first poll happens before
        ``started()`` (waiting at most ``max_staleness``): a gateway whose storage answers
        serves its keys from the first request; one whose storage is down or silent starts
        anyway (the master key works) and refuses managed keys with a 503 until a poll
        succeeds."""
        started = trio.current_time()
        with trio.move_on_after(self.max_staleness) as first:
            await self._poll_logged()
        if first.cancelled_caught:
            self._failures += 1
            self._failing = True
            log.warning(
                "managed keys: storage did not answer within %gs; starting without them "
                "(refused with 503 until a refresh succeeds)",
                self.max_staleness,
            )
        task_status.started()
        while True:
            # Polls start every refresh_interval, however long each took.
            with trio.move_on_at(started + self.refresh_interval):
                await self._wake.wait()
            self._wake = trio.Event()
            started = trio.current_time()
            await self._poll_logged()

    async def _poll_logged(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:
            self._failures += 1
            reason = (
                exc.message if isinstance(exc, GatewayError) else f"{type(exc).__name__}: {exc}"
            )
            if not self._failing:
                log.warning(
                    "managed keys: refresh from storage failed (%s); keys are served from "
                    "memory for at most %gs after the last good refresh, then refused with 503",
                    reason,
                    self.max_staleness,
                )
            self._failing = True
        else:
            if self._failing:
                log.info("managed keys: storage answers again; %d keys", len(self._by_hash))
            self._failing = False


def _unknown() -> AuthenticationFailed:
    return AuthenticationFailed("authentication failed: unknown API key", code="key_unknown")


def _unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable(
        "managed API keys cannot be checked: their storage has not answered recently",
        code="auth_keys_unavailable",
    )
