"""The child of :class:`~kernelext.ledger.writers.ProcessLedgerWriter`:
``python -m kernelext.ledger.writer_process PATH [MEMORY_LIMIT]`` (PATH ``-``: the PostgreSQL
ledger of ``$PAPERLAB_LEDGER_URL``).

A reader thread takes length-prefixed pickled frames (``(event tuples, flush ids)``) from stdin
until EOF; the main thread commits each through a :class:`~kernelext.ledger.backlog.Backlog` (a busy ledger is waited
for and retried, never dropped), answers flush markers on stdout (``ack ID WRITTEN ERRORS
DROPPED``) once everything before them is committed, reports what waits (``state WAITING
SPOOLED``) and says ``done SPOOLED`` at the end. Ignores SIGINT: the parent ends it by closing
the pipe (also by dying: then it commits what it has and exits quietly).
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from kernelext.events import Event
from kernelext.ledger.backlog import BUSY_TIMEOUT_S, CLOSE_WAIT_S, MEMORY_LIMIT, Backlog
from kernelext.ledger.store import Ledger
from kernelext.ledger.writers import FRAME_HEADER

_EOF = None


def _read_frame(stream: BinaryIO) -> list[Any] | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def _reader(stream: BinaryIO, inbox: queue.SimpleQueue) -> None:
    """Frames from ``stream`` into ``inbox`` until EOF (a dead parent is an EOF too)."""
    try:
        while (frame := _read_frame(stream)) is not None:
            inbox.put(frame)
    except (OSError, ValueError, pickle.UnpicklingError):
        pass
    finally:
        inbox.put(_EOF)


class _Answers:
    """Lines to the parent; a parent that is gone (its pipe closed) has nothing left to hear."""

    def __init__(self, stdout: BinaryIO) -> None:
        self.stdout = stdout
        self._state: tuple[int, int] = (0, 0)

    def say(self, line: str) -> None:
        try:
            self.stdout.write(line.encode())
            self.stdout.flush()
        except (BrokenPipeError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stdout.fileno())  # no error at exit either

    def state(self, backlog: Backlog) -> None:
        """``state WAITING SPOOLED`` when it changed."""
        now = (backlog.waiting, backlog.spooled)
        if now != self._state:
            self._state = now
            self.say(f"state {now[0]} {now[1]}\n")


def child_main(path: str, memory_limit: int = MEMORY_LIMIT, audit: int = 1) -> int:
    """Read frames from stdin until EOF, commit them, answer flushes on stdout (``audit=0``: order
    intents do not join the audit chain: a backtest's simulated orders)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we end: EOF
    logging.basicConfig(level=logging.WARNING, format="paperlab ledger writer: %(message)s")
    ledger = Ledger(None if path == "-" else Path(path))
    ledger.set_busy_timeout(BUSY_TIMEOUT_S)
    backlog = Backlog(ledger, memory_limit=memory_limit, audit=bool(audit))
    answers = _Answers(sys.stdout.buffer)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_reader, args=(sys.stdin.buffer, inbox), daemon=True).start()
    flushes: list[int] = []
    try:
        while True:
            try:
                frame = inbox.get(timeout=backlog.retry_in())
            except queue.Empty:
                frame = ([], [])
            if frame is _EOF:
                break
            events, flush_ids = frame
            flushes += flush_ids
            backlog.add([Event(*e) for e in events])
            if backlog.commit() and flushes:
                answers.say(f"ack {flushes[-1]} {backlog.written} {backlog.errors} 0\n")
                flushes = []
            answers.state(backlog)
        spooled = backlog.drain(CLOSE_WAIT_S)
        backlog.close()  # an empty spool file is gone before we say done
        if spooled:
            logging.warning("the ledger stayed busy: %d events spooled to %s (replayed on its next open)",
                            spooled, backlog.spool.path if backlog.spool else "?")
        answers.say(f"done {spooled}\n")  # committed (or on disk): the parent need not wait for our exit
    finally:
        backlog.close()
        ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1], *(int(a) for a in sys.argv[2:4])))
