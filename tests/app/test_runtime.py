"""The model catalog: loaded in the background, refreshed, and never emptied by a failure."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.testing import MockUpstream, Reply, memory_transport
from gomodel.usage.record import MemoryUsageSink
from tests.conftest import VIRTUAL_TIME_ENV

_NO_KEYS = VIRTUAL_TIME_ENV


async def _catalog_ids(app: GatewayApp) -> list[str]:
    assert app.runtime is not None
    return [qualified for qualified, _, _ in app.runtime.catalog.listing()]


async def test_refresh_picks_up_new_models(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The list is reloaded every CACHE_REFRESH_INTERVAL."""
    mock = MockUpstream(models=("a",))
    config = load_config(
        {"OPENAI_API_KEY": "k", "CACHE_REFRESH_INTERVAL": "60", **_NO_KEYS}, cwd=tmp_path
    )
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery),
            usage=MemoryUsageSink(),
        )
        async with app.serving() as runtime:
            await runtime.initial_load.wait()
            assert await _catalog_ids(app) == ["openai/a"]
            mock.models = ("a", "b")
            await trio.sleep(59)
            assert await _catalog_ids(app) == ["openai/a"]
            await trio.sleep(2)
            assert await _catalog_ids(app) == ["openai/a", "openai/b"]
            nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("configured", "expected_ids", "any_model"),
    [
        ("x1,x2", ["openai/x1", "openai/x2"], False),  # the configured list is the fallback
        ("", [], True),  # nothing known: the provider is trusted with any model
    ],
)
async def test_failed_list_falls_back(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    configured: str,
    expected_ids: list[str],
    any_model: bool,
) -> None:
    """A provider whose /models fails keeps <TYPE>_MODELS, or accepts any model without one."""
    mock = MockUpstream()
    mock.script(Reply.html(502, "down"), path="/models")
    env = {"OPENAI_API_KEY": "k", **_NO_KEYS} | (
        {"OPENAI_MODELS": configured} if configured else {}
    )
    config = load_config(env, cwd=tmp_path)
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery),
            usage=MemoryUsageSink(),
        )
        async with app.serving() as runtime:
            await runtime.initial_load.wait()
            assert await _catalog_ids(app) == expected_ids
            assert runtime.catalog.knows("openai") is not any_model
            nursery.cancel_scope.cancel()
    assert "model list of provider 'openai' unavailable (HTTP 502)" in caplog.text


async def test_serving_does_not_wait_for_the_list(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """The gateway serves while the first load is still running; configured models at once."""
    mock = MockUpstream(models=("late",))
    mock.script(
        Reply(headers_delay=20.0, body=(b'{"data": [{"id": "late"}]}',), chunked=False),
        path="/models",
    )
    config = load_config(
        {"OPENAI_API_KEY": "k", "OPENAI_MODELS": "early", **_NO_KEYS}, cwd=tmp_path
    )
    async with trio.open_nursery() as nursery:
        app = GatewayApp(
            config,
            transport_factory=lambda _: memory_transport(mock, nursery),
            usage=MemoryUsageSink(),
        )
        async with app.serving() as runtime:
            assert trio.current_time() == 0
            assert await _catalog_ids(app) == ["openai/early"]
            assert not runtime.initial_load.is_set()
            await runtime.initial_load.wait()
            assert trio.current_time() == 20.0
            assert await _catalog_ids(app) == ["openai/early", "openai/late"]
            nursery.cancel_scope.cancel()


async def test_usage_disabled_opens_no_storage(tmp_path: Path) -> None:
    """USAGE_ENABLED=false (and no managed keys, budgets or rate limits): no storage is
    opened, no recorder runs, nothing is written."""
    config = load_config(
        {
            "USAGE_ENABLED": "false",
            "AUTH_KEYS_ENABLED": "false",
            "BUDGETS_ENABLED": "false",
            "RATE_LIMITS_ENABLED": "false",
            "SQLITE_PATH": str(tmp_path / "u.db"),
        },
        cwd=tmp_path,
    )
    async with GatewayApp(config).serving() as runtime:
        assert runtime.store is None
        assert not hasattr(runtime.usage, "statistics")
    assert not (tmp_path / "u.db").exists()


async def test_usage_enabled_by_default_into_sqlite(tmp_path: Path) -> None:
    """By default usage goes to SQLite: the file and its schema exist once the gateway runs."""
    config = load_config({"SQLITE_PATH": str(tmp_path / "u.db")}, cwd=tmp_path)
    async with GatewayApp(config).serving() as runtime:
        assert runtime.store is not None
        await trio.to_thread.run_sync(runtime.store.ping)
    assert (tmp_path / "u.db").exists()
