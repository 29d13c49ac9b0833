"""Test doubles that ship with gomodel, as ``trio.testing`` ships with trio.

:class:`MockUpstream` is a scriptable OpenAI-compatible provider that records every request and
every connection (with the time and side of its close). Run it over loopback sockets with
:func:`serve_mock_upstream`, or fully in memory, under ``MockClock``, with
:func:`memory_transport` (the gateway's own upstream transport on :class:`MemoryConnector`).
:mod:`gomodel.testing.faults` injects failures into its answers (``mock.fail(...)``).
"""

from __future__ import annotations

from gomodel.testing import faults
from gomodel.testing._h11server import ConnectionRecord, RecordedRequest
from gomodel.testing._reply import Close, Reply, Reset, Silence, Sleep, Step, Truncate
from gomodel.testing.faults import Fault
from gomodel.testing.keys import MemoryAuthKeyStore, run_inline
from gomodel.testing.memory import MemoryConnector, memory_transport
from gomodel.testing.mock_upstream import MockUpstream, serve_mock_upstream

__all__ = [
    "Close",
    "ConnectionRecord",
    "Fault",
    "MemoryAuthKeyStore",
    "MemoryConnector",
    "MockUpstream",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Silence",
    "Sleep",
    "Step",
    "Truncate",
    "faults",
    "memory_transport",
    "run_inline",
    "serve_mock_upstream",
]
