"""Shared test helpers.

Test rules: trio mode, warnings are errors, deterministic time (``autojump_clock``) for anything
about timeouts or cancellation, real hypercorn on port 0 and the official ``openai`` SDK end to
end, and never a real provider: the mock upstream in ``gomodel.testing`` and the recordings in
``tests/fixtures`` stand in for them.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "providers"

# Managed keys, budgets and rate limits keep their state in storage and poll it from worker
# threads; tests that run in virtual time (MockClock) leave them off.
VIRTUAL_TIME_ENV = {
    "AUTH_KEYS_ENABLED": "false",
    "BUDGETS_ENABLED": "false",
    "RATE_LIMITS_ENABLED": "false",
}


def load_stream(name: str) -> bytes:
    """A recorded SSE body. The recordings lost the blank line after their last event; a real
    stream has it, so it is put back."""
    raw = (FIXTURES / name).read_bytes()
    return raw if raw.endswith(b"\n\n") else raw + b"\n"
