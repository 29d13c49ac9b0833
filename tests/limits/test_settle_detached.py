"""Settling without waiting (``settle_detached``): the same outcome as an awaited settle, in
order before any later call of the same process (a freed slot is free for the next request at
once), and, from the pipeline's admission stage, failures counted and logged once per run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import attrs
import pytest
import trio
import trio.testing

from gomodel.errors import RedisUnavailable, UpstreamUnavailable
from gomodel.ingress.semantics import Operation
from gomodel.limits import Demand, Hold, Limit, Metric, Period, Reservation, Settled, Settlement
from gomodel.limits.redis_store import RedisLimits
from gomodel.limits.rules import RuleSet
from gomodel.pipeline.admission import LimitAdmission
from gomodel.pipeline.plan import Admitted
from gomodel.redis import RedisSettings, open_redis
from tests.limits.backends import BACKENDS, Clock, replicas
from tests.redis.fake import serve_fake

TPM = Limit("key:k1", Metric.TOKENS, 1000, Period.MINUTE)
SLOT = Limit("key:k1", Metric.CONCURRENT, 1)
IDLE = 0.1  # real seconds of idleness before virtual time jumps


async def _until(done: list[Any]) -> None:
    with trio.fail_after(5):
        while not done:  # noqa: ASYNC110 (a plain list)
            await trio.sleep(0.01)


@pytest.mark.parametrize("kind", BACKENDS)
async def test_detached_settle_charges_like_a_settle_and_frees_the_slot_at_once(
    kind: str,
) -> None:
    """A detached settle charges the actual tokens and releases the slot; a reserve made right
    after it (nothing awaited in between) already finds the slot free; settling again does
    nothing."""
    clock = Clock()
    async with replicas(kind) as [store]:
        first = await store.reserve(
            [TPM, SLOT], Demand(input_tokens=10, max_output_tokens=90), now=clock.now
        )
        assert first.admitted and first.reservation is not None
        done: list[Settlement | Exception] = []
        store.settle_detached(first.reservation, done.append, now=clock.now, tokens=42)
        second = await store.reserve(
            [TPM, SLOT], Demand(input_tokens=10, max_output_tokens=90), now=clock.now
        )
        assert second.admitted
        await _until(done)
        assert done == [Settlement(((TPM, Settled.SETTLED), (SLOT, Settled.SETTLED)))]
        [tokens, slot] = await store.read([TPM, SLOT], now=clock.now)
        assert (tokens.used, tokens.held, slot.held) == (42, 100, 1)
        again: list[Settlement | Exception] = []
        store.settle_detached(first.reservation, again.append, now=clock.now, tokens=42)
        await _until(again)
        assert again == [Settlement(((TPM, Settled.GONE), (SLOT, Settled.GONE)))]


NOW = datetime(2025, 3, 10, 12, 0, 5, tzinfo=UTC)
HELD = Reservation(
    "r1", (Hold(TPM, "tokens/minute/0/key:k1", 10, datetime(2025, 3, 10, 12, 1, tzinfo=UTC)),), NOW
)


def _admission(store: RedisLimits) -> LimitAdmission:
    return LimitAdmission(
        store=store,
        rules=cast(Any, None),
        prices=cast(Any, None),
        default_output_cap=100,
        min_output_cap=10,
        fail_open=True,
        lease=60.0,
        clock=lambda: NOW.timestamp(),
    )


async def test_settle_failures_are_counted_and_logged_once(
    mock_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stalls: the admission stage's settle returns at once (the request does not wait),
    each failed settle is counted when its timeout passes, and the run of failures is logged
    once, not once per request."""
    mock_clock.autojump_threshold = IDLE
    caplog.set_level(logging.WARNING, "gomodel.limits")
    plan = cast(Any, SimpleNamespace(admitted=Admitted(HELD, None)))
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: b"+PONG\r\n" if c[0] == b"PING" else None)
        settings = RedisSettings(host="127.0.0.1", port=fake.port, timeout=0.5, backoff_min=0.01)
        async with open_redis(settings) as client:
            await client.execute("PING")
            admission = _admission(RedisLimits(client))
            start = trio.current_time()
            for _ in range(3):
                await admission.settle(cast(Any, None), plan, [])
            assert trio.current_time() == start  # nobody waited
            assert admission.statistics().settle_failures == 0
            await trio.sleep(1)
            assert admission.statistics().settle_failures == 3
        nursery.cancel_scope.cancel()
    logged = [r for r in caplog.records if "not settled" in r.getMessage()]
    assert len(logged) == 1


async def test_detached_settle_on_a_closed_port_reports_unavailable(
    mock_clock: trio.testing.MockClock,
) -> None:
    """No Redis at all: the callback gets RedisUnavailable, within the timeout."""
    mock_clock.autojump_threshold = IDLE
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with open_redis(RedisSettings(host="127.0.0.1", port=port, timeout=0.5)) as client:
        done: list[Settlement | Exception] = []
        start = trio.current_time()
        RedisLimits(client).settle_detached(HELD, done.append, now=NOW, tokens=3)
        await _until(done)
        assert trio.current_time() - start <= 0.5
        assert isinstance(done[0], RedisUnavailable)


async def test_a_reserve_redis_refuses_is_a_503_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis answers the reserve script with an error (a script it refuses: a bug, not an
    outage): the request gets the limits' 503, never a 500 and never let through (not even
    under RATE_LIMITS_FAIL_OPEN), and a run of them is logged once."""
    caplog.set_level(logging.ERROR, "gomodel.limits")
    rules = RuleSet((Limit("key:k1", Metric.REQUESTS, 10, Period.MINUTE),))
    ctx = cast(
        Any,
        SimpleNamespace(
            principal=SimpleNamespace(key_id="k1"),
            user_path="/",
            snapshot=SimpleNamespace(body=b"{}", request_id="r"),
        ),
    )
    target = cast(
        Any,
        SimpleNamespace(
            provider=SimpleNamespace(name="openai"),
            resolution=SimpleNamespace(model="gpt-4o"),
            semantics=SimpleNamespace(operation=Operation.CHAT, doc={"max_tokens": 5}),
        ),
    )
    async with trio.open_nursery() as nursery:
        fake = await serve_fake(nursery, lambda c: b"-ERR value is not an integer\r\n")
        async with open_redis(RedisSettings(host="127.0.0.1", port=fake.port)) as client:
            admission = attrs.evolve(_admission(RedisLimits(client)), rules=lambda: rules)
            for _ in range(3):
                with pytest.raises(UpstreamUnavailable) as refused:
                    await admission.admit(ctx, target)
                assert refused.value.code == "limits_unavailable"
                assert refused.value.status == 503
        nursery.cancel_scope.cancel()
    assert admission.statistics().unavailable == 3
    assert [r.getMessage() for r in caplog.records] == [
        "limits not checked: the limit store refused the call (ERR value is not an integer)"
    ]
