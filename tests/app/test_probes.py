"""Probes and forwarded headers: /health, /ready, the client address behind a proxy."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from gomodel.app.asgi import GatewayApp
from gomodel.config import load_config
from gomodel.serve import serve_gateway
from gomodel.termination import Termination
from gomodel.testing import MockUpstream, Reply, serve_mock_upstream
from gomodel.usage.extract import Usage
from gomodel.usage.pricing import PriceTable
from gomodel.usage.record import UsageRecord
from gomodel.usage.row import row_from_record, to_json_line
from tests.app.gateway import start_gateway


async def _gateway(nursery: trio.Nursery, tmp_path: Path, **env: str) -> tuple[str, GatewayApp]:
    mock = MockUpstream(models=("gpt-4o",))
    mock.script(attrs.evolve(Reply.json({"data": [{"id": "gpt-4o"}]}), headers_delay=1.0))
    upstream = await nursery.start(serve_mock_upstream, mock)
    config = load_config(
        {
            "OPENAI_API_KEY": "k",
            "OPENAI_BASE_URL": upstream,
            "SQLITE_PATH": str(tmp_path / "u.db"),
            "USAGE_SPILL_DIR": str(tmp_path),
            **env,
        },
        cwd=tmp_path,
    )
    app = GatewayApp(config)
    return await nursery.start(partial(serve_gateway, app)), app


async def test_ready_after_models_and_storage(nursery: trio.Nursery, tmp_path: Path) -> None:
    """/ready is 503 while the model lists load, 200 once they have and storage answers;
    /health is 200 throughout."""
    url, app = await _gateway(nursery, tmp_path)
    async with httpx.AsyncClient(base_url=url) as client:
        early = await client.get("/ready")
        alive = await client.get("/health")
        assert app.runtime is not None
        await app.runtime.initial_load.wait()
        later = await client.get("/ready")
    assert alive.status_code == 200
    assert early.status_code == 503
    assert early.json()["error"]["code"] == "not_ready"
    assert "model lists" in early.json()["error"]["message"]
    assert later.status_code == 200
    assert later.json() == {"status": "ready"}


async def test_ready_warns_of_quarantined_usage_rows(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A spill file torn by a crash: its good rows are stored, the damaged line goes to
    quarantine, and /ready stays 200 (the gateway serves and records) but carries the alarm
    until someone repairs the file."""
    row = row_from_record(
        UsageRecord(
            request_id="req-1",
            provider="openai",
            provider_type="openai",
            requested_model="gpt-4o",
            model="gpt-4o",
            endpoint="/v1/chat/completions",
            route="passthrough",
            stream=False,
            usage=Usage(input_tokens=3, output_tokens=2, total_tokens=5),
            complete=True,
            status=200,
            termination=Termination.COMPLETED,
        ),
        prices=PriceTable.from_package(),
        now=datetime.now(UTC),
        row_id=str(uuid.uuid4()),
    )
    dead_pid = 2**22 + 12345  # above Linux's pid_max default: no such process
    (tmp_path / f"usage-spill-{dead_pid}.jsonl").write_bytes(
        to_json_line(row) + to_json_line(row)[:40]
    )
    url, app = await _gateway(nursery, tmp_path)
    assert app.runtime is not None and app.runtime.store is not None
    await app.runtime.initial_load.wait()
    async with httpx.AsyncClient(base_url=url) as client:
        probe = await client.get("/ready")
    assert probe.status_code == 200
    body = probe.json()
    assert body["status"] == "ready"
    [warning] = body["warnings"]
    assert "1 damaged" in warning and "usage-quarantine-" in warning
    assert await trio.to_thread.run_sync(app.runtime.store.count) == 1
    [error] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "quarantine" in error.getMessage()
    caplog.clear()  # that error line was the point: the autouse check must not fail on it


async def test_not_ready_without_storage(
    nursery: trio.Nursery, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With its PostgreSQL unreachable the gateway still serves master-key requests, but
    /ready says why not: publicly only that storage does not answer (the probe is
    unauthenticated; the driver's message names the database host and user), the detail goes
    to the log."""
    url, app = await _gateway(
        nursery,
        tmp_path,
        STORAGE_TYPE="postgresql",
        POSTGRES_URL="postgresql://billing_admin@127.0.0.1:1/test?connect_timeout=1",
        GOMODEL_MASTER_KEY="mk",
    )
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    async with httpx.AsyncClient(base_url=url) as client:
        probe = await client.get("/ready")
        chat = await client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"authorization": "Bearer mk"},
        )
    assert probe.status_code == 503
    error = probe.json()["error"]
    assert (error["message"], error["code"]) == (
        "not ready: usage storage does not answer",
        "not_ready",
    )
    assert "127.0.0.1" not in probe.text and "port 1" not in probe.text
    [logged] = [r for r in caplog.records if "usage storage does not answer" in r.getMessage()]
    assert logged.levelno == logging.WARNING
    assert "127.0.0.1" in logged.getMessage()  # the operator still sees why
    assert chat.status_code == 200  # usage waits (and spills) while storage is away


async def test_client_address_behind_trusted_proxy(nursery: trio.Nursery, tmp_path: Path) -> None:
    """With TRUSTED_PROXY_HOPS=1 the usage row names the address nginx saw, not one the
    client made up."""
    gw = await start_gateway(nursery, tmp_path, {"TRUSTED_PROXY_HOPS": "1"})
    async with gw.http() as client:
        await client.post(
            "/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-forwarded-for": "6.6.6.6, 203.0.113.7"},
        )
    [record] = await gw.records(1)
    assert record.client == "203.0.113.7"


async def test_keyless_gateway_fails_closed_while_key_storage_is_down(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """No master key, and the database that holds managed keys is down from the start: the
    gateway cannot know whether keys exist, so it lets nobody in (503), never everybody."""
    url, app = await _gateway(
        nursery,
        tmp_path,
        STORAGE_TYPE="postgresql",
        POSTGRES_URL="postgresql://gomodel@127.0.0.1:1/test?connect_timeout=1",
    )
    assert app.runtime is not None
    await app.runtime.initial_load.wait()
    async with httpx.AsyncClient(base_url=url) as client:
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        anonymous = await client.post("/v1/chat/completions", json=body)
        guessed = await client.post(
            "/v1/chat/completions", json=body, headers={"authorization": "Bearer sk_gom_x"}
        )
    assert (anonymous.status_code, guessed.status_code) == (503, 503)
    assert anonymous.json()["error"]["code"] == "auth_keys_unavailable"
