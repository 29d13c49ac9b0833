"""How a request ended: exactly one reason per request, logged and kept for the usage record.

Pure: no trio, httpx or hypercorn.
"""

from __future__ import annotations

import enum

__all__ = ["Termination"]


class Termination(enum.Enum):
    COMPLETED = "completed"
    CLIENT_DISCONNECT = "client_disconnect"  # the client went away; the upstream was closed
    UPSTREAM_EOF = "upstream_eof"  # the upstream ended the stream before its terminal event
    UPSTREAM_ERROR = "upstream_error"  # an error status, a reset, a protocol error
    CONNECT_ERROR = "connect_error"  # the upstream could not be reached
    HEADER_TIMEOUT = "header_timeout"  # no response (or no first event) in time
    IDLE_TIMEOUT = "idle_timeout"  # the upstream went silent mid-stream
    DEADLINE = "deadline"  # the total deadline (HTTP_TIMEOUT) passed
    STALLED_CLIENT = "stalled_client"  # the client stopped reading; the upstream was closed
    EVENT_TOO_LARGE = "event_too_large"  # an upstream event passed STREAM_MAX_EVENT_SIZE
    SHUTDOWN = "shutdown"  # the server shut down mid-request
