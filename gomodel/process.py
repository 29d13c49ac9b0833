"""What a serving process sets once about itself: its file limit, its listen backlog, its GC.

Each default of the interpreter and the kernel here was measured to fail at scale
(docs/decisions.md, "20. The serving process"):

* **Open files.** Every stream holds two sockets (client and provider). A soft limit of 1,024,
  still the default of many systems, refuses the 500th stream with ``EMFILE``. The soft limit
  is raised to the hard limit, as Go's runtime does for every Go server since 1.19.
* **Listen backlog.** hypercorn listens with a backlog of 100: a burst of a few hundred
  connections overflows the accept queue and clients see resets. The gateway asks for the
  kernel's largest (``net.core.somaxconn``, 4,096 on current kernels; the kernel caps it anyway).
* **Garbage collector.** With a thousand open streams a worker holds some 300,000 objects that
  live as long as their stream. CPython 3.11's collector, at its default thresholds
  (700, 10, 10), ran a young collection every few hundred allocations and a full one every few
  seconds, each full one a pause of hundreds of milliseconds in which no stream moves: event
  lag p99 of ~480 ms at 1,000 streams on a shared machine. After start-up the process freezes
  what it has (modules, configuration, price table: never garbage, never scanned again) and
  collects less often. Reference counting still frees everything that is not in a cycle at
  once; only cycles wait for a collection.
"""

from __future__ import annotations

import gc
import logging
import resource
import socket
from pathlib import Path

__all__ = ["GC_THRESHOLDS", "freeze_startup_objects", "listen_backlog", "raise_fd_limit"]

log = logging.getLogger("gomodel")

# Young collections per 20,000 net container allocations instead of 700; a middle one every 20
# young ones, a full one at most every 50 middle ones (and, as always in 3.11, only once the
# objects promoted since the last full collection exceed a quarter of the old generation).
GC_THRESHOLDS = (20_000, 20, 50)
_SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in force.
    Worker processes inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # "unlimited" is refused as a soft value on Linux; the hard limit itself stays as it is.
    target = max(soft, 1 << 20) if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:  # a container that forbids it: say so, serve anyway
        log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def listen_backlog() -> int:
    """The kernel's largest accept queue (``net.core.somaxconn``), else ``socket.SOMAXCONN``."""
    try:
        value = int(_SOMAXCONN.read_text().strip())
    except (OSError, ValueError):
        value = 0
    return max(value, socket.SOMAXCONN)


def freeze_startup_objects() -> None:
    """Collect once, move every object alive now out of the collector's sight, and set
    :data:`GC_THRESHOLDS`. For a serving process, after its start-up; never in a test
    process (frozen objects are never collected)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
