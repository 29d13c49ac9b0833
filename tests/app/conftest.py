"""Every test here also asserts that nothing reached the server as an application error."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_application_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No traceback, no "Error in ASGI Framework", no error-level log line from the gateway."""
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
