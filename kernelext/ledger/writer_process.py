"""The child of :class:`~kernelext.ledger.writers.ProcessLedgerWriter`:
``python -m kernelext.ledger.writer_process PATH``.

Reads length-prefixed pickled frames from stdin until EOF, commits each in one
transaction, answers flush markers on stdout (``ack ID WRITTEN ERRORS DROPPED``)
and says ``done`` once everything is committed. Ignores SIGINT: the parent ends
it by closing the pipe (also by dying).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from pathlib import Path
from typing import Any, BinaryIO

from kernelext.events import Event
from kernelext.ledger.store import Ledger
from kernelext.ledger.writers import FRAME_HEADER, commit_with_retry


def _read_frame(stream: BinaryIO) -> list[Any] | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def _write(ledger: Ledger, events: list[Event], counters: dict[str, int]) -> None:
    if not events:
        return
    if commit_with_retry(ledger, events):
        counters["written"] += len(events)
    else:
        counters["errors"] += 1
        counters["dropped"] += len(events)


def _answer(stdout: BinaryIO, line: str) -> None:
    """Tell the parent; a parent that is gone (its pipe closed) has nothing left to hear."""
    try:
        stdout.write(line.encode())
        stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())  # no error at exit either


def child_main(path: str) -> int:
    """Read frames from stdin until EOF, write them, answer flushes on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we end: EOF
    ledger = Ledger(Path(path))
    counters = {"written": 0, "errors": 0, "dropped": 0}
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        while (frame := _read_frame(stdin)) is not None:
            events: list[Event] = []
            for item in frame:
                if isinstance(item, tuple) and item and item[0] == "flush":
                    _write(ledger, events, counters)
                    events = []
                    _answer(stdout, f"ack {item[1]} {counters['written']} {counters['errors']} {counters['dropped']}\n")
                else:
                    events.append(item)
            _write(ledger, events, counters)
        _answer(stdout, "done\n")  # everything is committed: the parent need not wait for our exit
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1]))
