"""A session's own log lines: Nautilus's log file of its process, lines of its trader id.

Every process running sessions writes ``$PAPERLAB_HOME/logs/nautilus-<pid>.log``; each
line names the trader (``PAPER-<last 6 of the session id, upper>``), the strategies'
``self.log`` lines included. Reads are by byte offset, so a follower reads only what
was written since its last read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from kernelext.ledger import paperlab_home

TAIL_BYTES = 4 * 1024 * 1024
"""A tail read looks at most this far back in the file (a long session's log can be large)."""


def trader_id(session_id: str) -> str:
    """The Nautilus trader id of a paper session: ``PAPER-`` and its id's last 6 characters, upper."""
    return f"PAPER-{session_id[-6:].upper()}"


def log_path(pid: int) -> Path:
    """The Nautilus log file of the process ``pid``."""
    return paperlab_home() / "logs" / f"nautilus-{pid}.log"


def current_file(path: Path | None) -> Path | None:
    """The file Nautilus writes for the log ``path``: rotated by size, it is named
    ``<stem>_<timestamp>.log`` (the newest holds the latest lines); None before it exists."""
    if path is None:
        return None
    if path.exists():
        return path
    found = sorted(path.parent.glob(f"{path.stem}_*.log"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def stderr_file(path: Path) -> Path:
    """Where Nautilus's stderr lines of the log ``path`` go (``<stem>.stderr.log``, beside it)."""
    return path.with_name(f"{path.stem}.stderr.log")


_process_log: list[tuple[Path, str]] = []


def process_log(trader: str) -> tuple[Path, str]:
    """This process's Nautilus log file and the trader id its lines carry. Nautilus's logger is set
    up once per process, by its first node, and keeps that file and that node's trader id for every
    later node: a later session's lines carry the first session's trader id (``trader``, first call)."""
    if not _process_log:
        _process_log.append((log_path(os.getpid()), trader))
    return _process_log[0]


def session_log_lines(trader: str, path: Path | None, *, after: int | None = None, since_ns: int | None = None,
                      until_ns: int | None = None) -> tuple[list[str], int]:
    """Lines of ``trader`` in the log file ``path`` written after byte ``after`` (None: the file's
    last ``TAIL_BYTES``), stamped within [``since_ns``, ``until_ns``] -> (lines, the
    offset to read after next time). A partial last line waits for the next read."""
    path = current_file(path)
    if path is None:
        return [], after or 0
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - TAIL_BYTES) if after is None else min(after, size)
            f.seek(start)
            data = f.read(size - start)
    except OSError:
        return [], after or 0
    if after is None and start > 0:
        data = data.partition(b"\n")[2]  # the first line of a tail may be cut
    complete, _, partial = data.rpartition(b"\n")
    needle = f" {trader}.".encode()
    low, high = _stamp(since_ns, b""), _stamp(until_ns, b"\xff")
    lines = [mask_accounts(ln.decode(errors="replace")) for ln in complete.split(b"\n")
             if needle in ln and low <= ln[:29] <= high]
    return lines, size - len(partial)


_ACCOUNT = re.compile(rb"(?<![A-Za-z0-9])(DU|U)(\d)(\d{4,})(?![0-9])")


def _masked(m: re.Match[bytes]) -> bytes:
    return m.group(1) + m.group(2) + b"*" * len(m.group(3))  # same length: byte offsets stay valid


def mask_accounts(text: str) -> str:
    """IB account ids (``U1234567``, ``DU1234567``) masked, ``U1******``, in a line shown to a person."""
    return _ACCOUNT.sub(_masked, text.encode()).decode()


def mask_accounts_in_file(path: Path) -> int:
    """Mask IB account ids in a Nautilus log file in place, byte for byte the same length (a node of
    this process may still be appending: its offset stays valid); how many were masked."""
    return LogMasker().mask([path], final=True)


class LogMasker:
    """Masks IB account ids in log files as they grow (a live session's, about once a second while
    it runs): each look reads only what was appended since the last, and masks in place."""

    OVERLAP = 32  # re-read this much before the last end: an id cut at the end is masked once whole

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}  # inode -> bytes looked at (a rotated file keeps its inode)

    def mask(self, paths: Iterable[Path], *, final: bool = False) -> int:
        """Mask the ids appended to ``paths`` since the last look; how many were masked. ``final``:
        nothing more will be written, so an id at the very end is whole too."""
        masked = 0
        for path in paths:
            try:
                with path.open("r+b") as f:
                    inode = os.fstat(f.fileno()).st_ino
                    start = max(0, self._seen.get(inode, 0) - self.OVERLAP)
                    f.seek(start)
                    data = f.read()
                    for m in _ACCOUNT.finditer(data):
                        if m.end() == len(data) and not final:
                            continue  # more digits may follow: the next look has it (OVERLAP)
                        f.seek(start + m.start())
                        f.write(_masked(m))
                        masked += 1
                    self._seen[inode] = start + len(data)
            except OSError:
                continue
        return masked


def _stamp(ns: int | None, default: bytes) -> bytes:
    """UTC nanoseconds -> the ``YYYY-MM-DDTHH:MM:SS.fffffffff`` a Nautilus log line starts with."""
    import datetime as dt

    if ns is None:
        return default
    seconds = dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{seconds}.{ns % 1_000_000_000:09d}".encode()
