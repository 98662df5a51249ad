"""The ledger writer as a child process: SQLite work never competes with the node for the GIL.

A session's node thread publishes events; ``LedgerWriter`` (a thread in the same process)
made the node ~35 % slower, and no single kind of event or commit rate was the cause:
whatever Python and SQLite work the writer thread did, it took turns with the node thread
for the GIL. ``ProcessLedgerWriter`` keeps the same API (``put`` never blocks, ``flush``,
``close``, ``written``/``errors``/``dropped``, ``alive``) and moves the writes to
``python -m kernelext.ledger_process PATH``:

- ``put`` appends to a queue; a feeder thread pickles what is queued (C code, short) and
  writes it to the child's stdin as length-prefixed frames, blocking only itself.
- The child writes each frame in one transaction (``Ledger.write_events``, retried once)
  and answers flush markers on stdout (``ack ID WRITTEN ERRORS DROPPED``) once everything
  sent before them is committed.
- The parent dying (even ``kill -9``) closes the pipe: the child writes what it has and
  exits. The child has its own process group and ignores SIGINT: a Jupyter kernel
  interrupt (sent to the kernel's group) or Ctrl-C in a terminal never ends it. The child dying makes ``alive`` false; later events are counted as dropped.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from kernelext.events import Event
from kernelext.ledger import EventQueue, Ledger, commit_with_retry

log = logging.getLogger(__name__)
_HEADER = struct.Struct(">I")
_STOP = object()
MAX_FRAME_EVENTS = 5000
FRAME_GATHER_S = 0.05  # after the first queued event, wait this long to send a fuller frame


class _Flush:
    __slots__ = ("id", "done", "ok")

    def __init__(self, flush_id: int) -> None:
        self.id = flush_id
        self.done = threading.Event()
        self.ok = False  # set when the child acknowledged it (not when the child died)


class ProcessLedgerWriter(EventQueue):
    """Events to the ledger through a child process (see the module docstring)."""

    def __init__(self, ledger: Ledger, *, name: str = "paperlab-ledger-feeder") -> None:
        super().__init__()
        self.ledger = ledger
        self._flushes: dict[int, _Flush] = {}
        self._flush_ids = iter(range(1, 1 << 62))
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a flush or close cuts the feeder's gathering short
        self._done = threading.Event()  # the child committed everything and said so
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kernelext.ledger_process", str(ledger.path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # its own process group: a kernel interrupt (jupyter_client signals the kernel's
            # group) or Ctrl-C in a terminal must not kill the ledger's writer
            start_new_session=True,
        )
        self._feeder = threading.Thread(target=self._feed, name=name, daemon=True)
        self._acks = threading.Thread(target=self._read_acks, name=f"{name}-acks", daemon=True)
        self._feeder.start()
        self._acks.start()

    # -- API (same as LedgerWriter) ------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc.poll() is None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event put so far is committed; False on timeout or a dead child."""
        if not self.alive:
            return False
        marker = _Flush(next(self._flush_ids))
        with self._lock:
            self._flushes[marker.id] = marker
        self._q.put(marker)
        self._wake.set()
        return marker.done.wait(timeout) and marker.ok

    def close(self, timeout: float = 5.0) -> bool:
        """Send what is queued, wait until the child has committed it, and let the child exit.

        Returns True when the child said it was done in time. It exits on its own (its
        interpreter teardown is not waited for; a daemon thread reaps it).
        """
        if self._closed:
            return self._done.is_set() or not self.alive
        self._closed = True
        self._q.put(_STOP)
        self._wake.set()
        self._feeder.join(timeout)
        if not self._done.wait(timeout):
            self._proc.kill()
            self._proc.wait(5)
            return False
        threading.Thread(target=self._proc.wait, name="paperlab-ledger-reaper", daemon=True).start()
        return True

    # -- threads -------------------------------------------------------------------------------

    def _feed(self) -> None:
        """Send what is queued as one frame at a time; stop on ``_STOP`` (closing stdin)."""
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            while True:
                items = [self._q.get()]
                if isinstance(items[0], Event):  # gather up to 50 ms: fewer wake-ups and GIL hand-offs
                    self._wake.wait(FRAME_GATHER_S)
                self._wake.clear()
                while len(items) < MAX_FRAME_EVENTS:
                    try:
                        items.append(self._q.get_nowait())
                    except queue.Empty:
                        break
                stop = any(i is _STOP for i in items)
                frame = [("flush", i.id) if isinstance(i, _Flush) else i for i in items if i is not _STOP]
                if frame:
                    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
                    stdin.write(_HEADER.pack(len(data)) + data)
                    stdin.flush()
                if stop:
                    break
        except (BrokenPipeError, OSError, ValueError):
            log.warning("ledger writer process is gone; events after this are lost")
            self.dropped += self._drain_count()
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _drain_count(self) -> int:
        n = 0
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return n
            if isinstance(item, Event):
                n += 1

    def _read_acks(self) -> None:
        """``ack ID WRITTEN ERRORS DROPPED`` lines from the child: counters, then wake flushers."""
        stdout = self._proc.stdout
        assert stdout is not None
        for line in stdout:
            parts = line.split()
            if parts == [b"done"]:
                self._done.set()
                continue
            if len(parts) != 5 or parts[0] != b"ack":
                continue
            flush_id, self.written, self.errors, child_dropped = (int(p) for p in parts[1:])
            self.dropped = max(self.dropped, child_dropped)
            with self._lock:
                done = [f for i, f in self._flushes.items() if i <= flush_id]
                for f in done:
                    self._flushes.pop(f.id, None)
            for f in done:
                f.ok = True
                f.done.set()
        self._done.set()  # the child ended (EOF): nobody waits forever
        with self._lock:
            for f in self._flushes.values():
                f.done.set()
            self._flushes.clear()


# -- the child ---------------------------------------------------------------------------------


def _read_frame(stream: BinaryIO) -> list[Any] | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
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
                    stdout.write(
                        f"ack {item[1]} {counters['written']} {counters['errors']} {counters['dropped']}\n".encode()
                    )
                    stdout.flush()
                else:
                    events.append(item)
            _write(ledger, events, counters)
        stdout.write(b"done\n")  # everything is committed: the parent need not wait for our exit
        stdout.flush()
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1]))
