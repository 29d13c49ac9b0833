"""What one upstream exchange gave: the answer a client gets, and the frozen outcome every
observer of the exchange (usage, log, metrics, audit) reads.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from gomodel.errors import GatewayError
from gomodel.termination import Termination
from gomodel.usage.extract import Usage

__all__ = ["Answer", "Outcome"]


@attrs.frozen(slots=True)
class Answer:
    """A non-streamed answer as the client gets it, and what the provider counted."""

    body: bytes
    usage: Usage | None = None  # OpenAI-style counts, whatever the dialect
    model: str | None = None  # the model the upstream reported
    provider_id: str | None = None  # the upstream's id of the answer
    status: int = 200
    # Headers relayed from the upstream (passthrough routes), lower-case names; None: JSON.
    headers: Sequence[tuple[bytes, bytes]] | None = None


@attrs.frozen(slots=True)
class Outcome:
    """How one upstream exchange ended. Built by the relay that ran it, never re-derived."""

    status: int  # what the client got (or gets): 200, the error's status, 499 if it left
    termination: Termination
    usage: Usage | None = None
    complete: bool = False  # the provider reported its counts before the exchange ended
    model: str | None = None
    provider_id: str | None = None
    first_byte_at: float | None = None  # trio clock: the first byte handed to the server
    upstream_seconds: float = 0.0  # time spent waiting on the provider
    error: GatewayError | None = None  # the failure, if it failed
    started: bool = False  # the client's response has started (a stream's 200 is out)
