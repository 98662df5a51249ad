"""The spool: events the ledger could not take yet, on disk next to it.

``$PAPERLAB_HOME/spool/<session>.pickle`` (0600, folder 0700) is a bounded append-only file of
length-prefixed pickled frames. The writer that spooled holds an ``flock`` on it and replays it
into the ledger (one transaction, then empties it) as soon as writes succeed again; a file
left by a writer that died is replayed by the next open of that ledger (:func:`unspool_orphans`).
Each frame carries its writer's batch tag (``Ledger.write_batches``): a crash between a replay's
commit and the emptying leaves frames the ledger already holds, and the next replay skips them.
It also says whether its order intents join the audit chain: a backtest's simulated orders do not,
whoever replays them. A frame cut short by a crash is ignored.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import struct
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from typing import Any

from kernelext.events import Event
from kernelext.paths import private_dir

log = logging.getLogger(__name__)

SPOOL_DIRNAME = "spool"
SUFFIX = ".pickle"
MAX_SPOOL_BYTES = 1 << 30  # past this the writer keeps events in memory (and says so)
_HEADER = struct.Struct(">I")


def spool_dir(ledger_path: Path) -> Path:
    """The spool folder beside the ledger file."""
    return Path(ledger_path).parent / SPOOL_DIRNAME


def read_batches(path: Path) -> list[tuple[Any, list[Event]]]:
    """Every whole frame in ``path`` as ``(tag, events)``, oldest first (tag None: a frame spooled
    before frames carried one)."""
    return [(tag, events) for tag, events, _ in read_frames(path)]


def read_frames(path: Path) -> list[tuple[Any, list[Event], bool]]:
    """Every whole frame in ``path`` as ``(tag, events, audit)``, oldest first (``audit`` True for a
    frame spooled before frames said: every writer audited then)."""
    frames = []
    for frame in _frames(path.read_bytes()):
        if not isinstance(frame, tuple):
            frame = (None, frame)
        frames.append((frame[0], frame[1], frame[2] if len(frame) > 2 else True))
    return frames


def read_events(path: Path) -> list[Event]:
    """Every whole frame's events in ``path``, oldest first."""
    return [e for _, events in read_batches(path) for e in events]


def _frames(data: bytes) -> Iterator[Any]:
    at = 0
    while at + _HEADER.size <= len(data):
        (size,) = _HEADER.unpack_from(data, at)
        at += _HEADER.size
        if at + size > len(data):
            return  # cut short by a crash mid-write
        yield pickle.loads(data[at:at + size])
        at += size


class Spool:
    """One writer's spool file: append while the ledger is busy, replay when it is free."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_SPOOL_BYTES, audit: bool = True) -> None:
        """``audit``: the order intents of its events join the audit chain when replayed."""
        self.path = path
        self.max_bytes = max_bytes
        self.audit = audit
        self.count = 0  # events in the file now
        self._fd: int | None = None

    @property
    def full(self) -> bool:
        """True when the file has reached its bound."""
        return self._fd is not None and os.fstat(self._fd).st_size >= self.max_bytes

    def append(self, events: list[Event], tag: Any = None) -> bool:
        """Append one frame (a batch and its writer's tag) and sync it to disk; False (nothing
        written) when the spool is full."""
        if self.full:
            return False
        fd = self._open()
        data = pickle.dumps((tag, events, self.audit), protocol=pickle.HIGHEST_PROTOCOL)
        os.write(fd, _HEADER.pack(len(data)) + data)
        os.fsync(fd)
        self.count += len(events)
        return True

    def unspool(self, ledger: Any) -> int:
        """Commit the spooled events in one transaction (raises while the ledger is busy), then empty the file."""
        if not self.count or self._fd is None:
            return 0
        ledger.write_batches(read_batches(self.path), audit=self.audit)
        os.ftruncate(self._fd, 0)
        n, self.count = self.count, 0
        return n

    def close(self) -> None:
        """Release the file: removed when empty, else left for the ledger's next open."""
        if self._fd is None:
            return
        if self.count == 0:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd = None

    def _open(self) -> int:
        """The file, created 0600 and locked; reopened if a replay-on-open removed it meanwhile."""
        while self._fd is None:
            private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
            else:
                os.close(fd)
        return self._fd


def unspool_orphans(ledger: Any) -> int:
    """Replay spool files no live writer holds into ``ledger``; remove each once committed.

    Returns the number of events replayed. A busy ledger leaves the files for the next open.
    """
    folder = spool_dir(ledger.path)
    if not folder.is_dir():
        return 0
    total = 0
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            frames = read_frames(path)
            for audit, run in groupby(frames, key=lambda frame: frame[2]):  # in order, audited as spooled
                ledger.write_batches([(tag, events) for tag, events, _ in run], audit=audit)
            path.unlink()
            total += sum(len(events) for _, events, _ in frames)
        except BlockingIOError:
            continue  # a live writer owns it and replays it itself
        except Exception as e:  # noqa: BLE001  (a busy ledger: the next open tries again)
            log.warning("ledger: spool %s not replayed yet (%s)", path, e)
        finally:
            os.close(fd)
    if total:
        log.warning("ledger: replayed %d spooled events into %s", total, ledger.path)
    return total
