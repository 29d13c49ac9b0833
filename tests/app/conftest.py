"""Every test here also asserts that nothing reached the server as an application error.

``gw`` is the gateway in front of the OpenAI mock (a module defines its own ``gw`` when it
needs other settings); ``translated`` has only a vLLM provider, which has no Responses API.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from gomodel.testing import MockUpstream
from tests.app.gateway import ONE_ATTEMPT, Gateway, start_gateway


@pytest.fixture(autouse=True)
def no_application_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No traceback, no "Error in ASGI Framework", no error-level log line from the gateway."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


@pytest.fixture
async def gw(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    return await start_gateway(nursery, tmp_path)


@pytest.fixture
async def gw1(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    """``gw`` with retries off: one attempt per request, so an upstream error is the answer
    (tests/pipeline/test_attempts.py and tests/app/test_failover_e2e.py retry)."""
    return await start_gateway(nursery, tmp_path, ONE_ATTEMPT)


@pytest.fixture
async def translated(nursery: trio.Nursery, tmp_path: Path) -> Gateway:
    """A gateway whose only provider (vllm) has no Responses API: requests become chat."""
    return await start_gateway(
        nursery,
        tmp_path,
        mock=MockUpstream(models=("llama-3",)),
        provider=lambda url: {"VLLM_BASE_URL": url},
    )
