"""The integration suite needs nginx; without it every test here fails with how to install it."""

from __future__ import annotations

import pytest

from tests.integration.stack import nginx_binary


@pytest.fixture(autouse=True)
def nginx_installed() -> str:
    """The nginx executable (fails the test, never skips it, when nginx is missing)."""
    return nginx_binary()
