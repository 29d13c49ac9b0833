"""The spill directory: usage rows kept on local disk while storage cannot take them.

Plain blocking functions; the recorder runs them in a worker thread. The files, all in
``USAGE_SPILL_DIR``:

* ``usage-spill-<pid>.jsonl``: a process appends its rows here, one JSON line each
  (:func:`append_rows`: one write and one fsync per batch);
* ``usage-spill-<pid>.<hex>.jsonl``: a file claimed for replay by process ``<pid>``
  (:func:`claim_replayable`): its own file, set aside so new spills start a new one, or a file
  left by a process that is gone. Claiming is a rename, so of several processes sharing the
  directory exactly one replays each file;
* ``usage-quarantine-<pid>.<hex>.jsonl``: the damaged lines of the claimed file of the same
  name, byte for byte, one per line (:func:`quarantine`), for an operator to repair.
  Repaired lines go back as a spill file whose name holds no number
  (``usage-spill-repaired.jsonl``): the next replay takes it.

A crash or a full disk in the middle of a write can leave a line cut short. A failed append is
cut back off the file; the next append starts on a new line if the file does not end with one;
and replay (:func:`read_spill`) keeps every good line and sets the damaged ones aside.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import attrs

from gomodel.usage.row import UsageRow, from_json_line, to_json_line

__all__ = [
    "QUARANTINE_PREFIX",
    "SPILL_PREFIX",
    "SpillContents",
    "append_rows",
    "claim_replayable",
    "live_spill_path",
    "quarantine",
    "quarantine_path",
    "quarantined",
    "read_spill",
    "remove",
]

SPILL_PREFIX = "usage-spill-"
QUARANTINE_PREFIX = "usage-quarantine-"
SUFFIX = ".jsonl"


@attrs.frozen
class SpillContents:
    rows: tuple[UsageRow, ...]
    good: tuple[bytes, ...]  # the lines of those rows, as they were (without the newline)
    damaged: tuple[bytes, ...]  # lines that hold no row, as they were


def live_spill_path(spill_dir: Path, pid: int) -> Path:
    """The file process ``pid`` appends to."""
    return spill_dir / f"{SPILL_PREFIX}{pid}{SUFFIX}"


def append_rows(path: Path, rows: Sequence[UsageRow]) -> None:
    """Append ``rows`` durably: one write and one fsync for the whole batch.

    Raises ``OSError`` (disk full, permissions, ...) with the file as it was before: a write or
    fsync that fails is cut back off, so a retry does not leave half a line in front of it.
    """
    data = b"".join(to_json_line(row) for row in rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        start = os.fstat(fd).st_size
        if start and os.pread(fd, 1, start - 1) != b"\n":
            data = b"\n" + data  # a torn last line stays a line of its own
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, start)
            except OSError:
                pass  # the next append starts on a new line; replay quarantines the rest
            raise
    finally:
        os.close(fd)


def _owner(path: Path) -> str:
    """The ``<pid>`` part of a spill file's name (any text for a file someone put there)."""
    return path.name.removeprefix(SPILL_PREFIX).removesuffix(SUFFIX).split(".", 1)[0]


def _is_claimed(path: Path) -> bool:
    return "." in path.name.removeprefix(SPILL_PREFIX).removesuffix(SUFFIX)


def _alive(owner: str, pid: int) -> bool:
    """Whether another process that still runs owns files named ``owner``."""
    if not owner.isdigit() or int(owner) == pid:
        return False
    try:
        os.kill(int(owner), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_replayable(spill_dir: Path, pid: int) -> list[tuple[Path, Path]]:
    """Claim, for process ``pid``, every spill file nobody else will replay: its own (the live
    one is set aside, so new spills start a new file; the caller makes sure no append is under
    way), and those of processes that are gone. Returns ``(name it had, claimed file)`` pairs.
    """
    if not spill_dir.is_dir():
        return []
    claimed: list[tuple[Path, Path]] = []
    for path in sorted(spill_dir.glob(f"{SPILL_PREFIX}*{SUFFIX}")):
        owner = _owner(path)
        if owner == str(pid) and _is_claimed(path):
            claimed.append((path, path))  # claimed earlier; its replay failed and is retried
            continue
        if _alive(owner, pid):
            continue  # it may still append, or it is replaying the file right now
        target = spill_dir / f"{SPILL_PREFIX}{pid}.{uuid.uuid4().hex}{SUFFIX}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            continue  # another process claimed it first
        claimed.append((path, target))
    return claimed


def read_spill(path: Path) -> SpillContents:
    """The rows a spill file holds, and the lines that hold none (cut short, garbage)."""
    rows: list[UsageRow] = []
    good: list[bytes] = []
    damaged: list[bytes] = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            rows.append(from_json_line(line))
        except Exception:  # any way a line can fail to be a row: JSON, shape, a value
            damaged.append(line)
        else:
            good.append(line)
    return SpillContents(tuple(rows), tuple(good), tuple(damaged))


def quarantine_path(spill: Path) -> Path:
    """Where the damaged lines of the claimed spill file ``spill`` go."""
    return spill.with_name(QUARANTINE_PREFIX + spill.name.removeprefix(SPILL_PREFIX))


def quarantine(path: Path, contents: SpillContents) -> Path:
    """Move the damaged lines of the claimed spill file ``path`` to its quarantine file, each
    unchanged and on a line of its own, durably; ``path`` keeps only its good lines, so a
    replay repeated after a failure finds nothing more to set aside. Returns the quarantine."""
    target = quarantine_path(path)
    _write_durably(target, contents.damaged)
    _write_durably(path, contents.good)
    return target


def _write_durably(path: Path, lines: Sequence[bytes]) -> None:
    """Replace ``path`` with ``lines``: a temporary file, fsync, then a rename."""
    temporary = path.with_name(f".{path.name}.tmp")  # matches no spill or quarantine name
    with temporary.open("wb") as out:
        out.write(b"".join(line + b"\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def quarantined(spill_dir: Path) -> tuple[tuple[str, int], ...]:
    """``(file name, lines)`` of every quarantine file waiting for an operator."""
    if not spill_dir.is_dir():
        return ()
    return tuple(
        (path.name, path.read_bytes().count(b"\n"))
        for path in sorted(spill_dir.glob(f"{QUARANTINE_PREFIX}*{SUFFIX}"))
    )


def remove(path: Path) -> None:
    """Delete a replayed file; already gone is fine."""
    path.unlink(missing_ok=True)
