"""Ledger writers: the non-blocking front (``EventQueue``) and its two back ends.

- :class:`LedgerWriter`: a daemon thread in this process (backtests: no live node).
- :class:`ProcessLedgerWriter`: a child process, so SQLite work never competes with a
  live node for the GIL.

A session's node thread publishes events; ``LedgerWriter`` (a thread in the same process)
made the node ~35 % slower, and no single kind of event or commit rate was the cause:
whatever Python and SQLite work the writer thread did, it took turns with the node thread
for the GIL. ``ProcessLedgerWriter`` keeps the same API (``put`` never blocks, ``flush``,
``close``, ``written``/``errors``/``dropped``, ``alive``) and moves the writes to
``python -m kernelext.ledger.writer_process PATH``:

- ``put`` appends to a queue; a feeder thread pickles what is queued (C code, short) and
  writes it to the child's stdin as length-prefixed frames, blocking only itself.
- The child reads frames on a thread of its own and commits each in one transaction through a
  :class:`~kernelext.ledger.backlog.Backlog` (a busy ledger: wait and retry with backoff, say
  ``ledger.stalled``, spool past a bound; nothing is dropped). It answers flush markers on
  stdout (``ack ID WRITTEN ERRORS DROPPED``) once everything sent before them is committed,
  reports what waits (``state WAITING SPOOLED``) and ends with ``done SPOOLED`` once everything
  is committed (or, after ``CLOSE_WAIT_S`` of a busy ledger, spooled to disk).
- The parent dying (even ``kill -9``) closes the pipe: the child commits what it has and
  exits quietly. The child has its own process group and ignores SIGINT: a Jupyter kernel
  interrupt (sent to the kernel's group) or Ctrl-C in a terminal never ends it. The child
  dying makes ``alive`` false; later events are counted as dropped.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from kernelext.events import Event
from kernelext.ledger.dialect import URL_ENV
from kernelext.ledger.backlog import BUSY_TIMEOUT_S, CLOSE_WAIT_S, MEMORY_LIMIT, Backlog
from kernelext.ledger.store import Ledger

log = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct(">I")  # a frame: its byte length, then a pickled list of items
MAX_FRAME_EVENTS = 5000
FRAME_GATHER_S = 0.05  # after the first queued event, wait this long to send a fuller frame
_STOP = object()


class EventQueue:
    """The non-blocking front of a ledger writer: ``put`` queues, after ``close`` it drops and counts."""

    def __init__(self) -> None:
        self.written = 0
        self.errors = 0
        self.dropped = 0
        self.spooled = 0  # events the writer left in its spool file (the ledger was busy)
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False

    @property
    def pending(self) -> int:
        """Approximate number of queued items not yet taken by the writer."""
        return self._q.qsize()

    def put(self, event: Event) -> None:
        """Queue one event (never blocks; after ``close`` the event is dropped and counted)."""
        if self._closed:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("%s is closed: events are being dropped", type(self).__name__)
            return
        self._q.put(event)


# -- the thread writer ---------------------------------------------------------------------------


class _Flush:
    """A queue marker: set once every event put before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class LedgerWriter(EventQueue):
    """A daemon thread that owns event writes: ``put`` never blocks, batches commit together,
    a busy ledger is waited for (see :class:`~kernelext.ledger.backlog.Backlog`)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 2000,
        max_latency: float = 0.05,
        name: str = "paperlab-ledger-writer",
        memory_limit: int = MEMORY_LIMIT,
        audit: bool = True,
    ) -> None:
        """Start the writer thread on ``ledger``; ``audit=False`` keeps order intents out of the audit
        chain (a backtest's simulated orders)."""
        super().__init__()
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_latency = max_latency
        self._backlog = Backlog(ledger, memory_limit=memory_limit, audit=audit)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    @property
    def ledger_pending(self) -> int:
        """Events put but not yet committed (queued, waiting for a busy ledger, or spooled)."""
        return self.pending + self._backlog.waiting

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event put so far is committed; False on timeout or a dead thread."""
        if not self._thread.is_alive():
            return self._q.empty()
        marker = _Flush()
        self._q.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Stop the thread once everything is committed (or, after a long-busy ledger, spooled);
        True when it ended within ``timeout`` (None: wait)."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        self._q.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        """Drain the queue in batches until the stop marker; retry a busy ledger in between."""
        waiting: list[_Flush] = []
        try:
            self.ledger.set_busy_timeout(BUSY_TIMEOUT_S)
            while True:
                try:
                    item = self._q.get(timeout=self._backlog.retry_in())
                except queue.Empty:
                    item = None
                batch, markers, stop = self._collect(item) if item is not None else ([], [], False)
                waiting += markers
                self._backlog.add(batch)
                self._backlog.commit()
                self._count()
                if not self._backlog.waiting:
                    for m in waiting:
                        m.done.set()
                    waiting = []
                if stop:
                    break
            self._drain_after_stop()
        except BaseException:  # pragma: no cover - keep the process alive, say why
            log.exception("LedgerWriter thread died")
        finally:
            self._backlog.close()
            self.ledger.close_thread()

    def _count(self) -> None:
        self.written, self.errors, self.spooled = self._backlog.written, self._backlog.errors, self._backlog.spooled

    def _collect(self, first: Any) -> tuple[list[Event], list[_Flush], bool]:
        """One batch: what is queued now, up to ``batch_size`` events or ``max_latency`` s of
        collecting, cut short by a marker. An empty queue ends the batch at once (no waiting:
        under load events pile up while the previous batch commits, which is the batching)."""
        batch: list[Event] = []
        markers: list[_Flush] = []
        deadline = time.monotonic() + self.max_latency
        item = first
        while True:
            if item is _STOP:
                return batch, markers, True
            if isinstance(item, _Flush):
                markers.append(item)
                return batch, markers, False
            batch.append(item)
            if len(batch) >= self.batch_size:
                return batch, markers, False
            if time.monotonic() >= deadline:
                return batch, markers, False
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return batch, markers, False

    def _drain_after_stop(self) -> None:
        """Write events that raced in behind the stop marker; wait for a busy ledger, then spool."""
        late: list[Event] = []
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Flush):
                item.done.set()
            elif item is not _STOP:
                late.append(item)
        self._backlog.add(late)
        self._backlog.drain(CLOSE_WAIT_S)
        self._count()


# -- the process writer (parent side; the child is kernelext.ledger.writer_process) -------------


class _AckedFlush:
    """A flush sent to the child: done when acknowledged (``ok``) or when the child is gone."""

    __slots__ = ("id", "done", "ok")

    def __init__(self, flush_id: int) -> None:
        self.id = flush_id
        self.done = threading.Event()
        self.ok = False  # set when the child acknowledged it (not when the child died)


class ProcessLedgerWriter(EventQueue):
    """Events to the ledger through a child process (see the module docstring)."""

    def __init__(self, ledger: Ledger, *, name: str = "paperlab-ledger-feeder", stderr: int | None = None,
                 memory_limit: int = MEMORY_LIMIT, audit: bool = True) -> None:
        """``stderr``: the child's standard error (a file descriptor; default: inherited);
        ``memory_limit``: events the child keeps waiting in memory before it spools them;
        ``audit=False``: order intents are not audited (a backtest's simulated orders)."""
        super().__init__()
        self.ledger = ledger
        self.backlog = 0  # events the child holds uncommitted (waiting for a busy ledger, or spooled)
        self._flushes: dict[int, _AckedFlush] = {}
        self._flush_ids = iter(range(1, 1 << 62))
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a flush or close cuts the feeder's gathering short
        self._done = threading.Event()  # the child committed everything and said so
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if ledger.url:  # the URL (and its password) by environment, never on a command line
            env[URL_ENV] = ledger.url
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "kernelext.ledger.writer_process", "-" if ledger.url else str(ledger.path),
             str(memory_limit), "1" if audit else "0"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
            # its own process group: a kernel interrupt (jupyter_client signals the kernel's
            # group) or Ctrl-C in a terminal must not kill the ledger's writer
            start_new_session=True,
        )
        self._feeder = threading.Thread(target=self._feed, name=name, daemon=True)
        self._acks = threading.Thread(target=self._read_acks, name=f"{name}-acks", daemon=True)
        self._feeder.start()
        self._acks.start()

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc.poll() is None

    @property
    def ledger_pending(self) -> int:
        """Events put but not yet committed (queued here, or waiting in the child, or spooled)."""
        return self.pending + self.backlog

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event put so far is committed; False on timeout or a dead child."""
        if not self.alive:
            return False
        marker = _AckedFlush(next(self._flush_ids))
        with self._lock:
            self._flushes[marker.id] = marker
        self._q.put(marker)
        self._wake.set()
        return marker.done.wait(timeout) and marker.ok

    def close(self, timeout: float | None = None) -> bool:
        """Send what is queued, wait until the child has committed it, and let the child exit.

        The child says ``done`` once everything is committed, or after ``CLOSE_WAIT_S`` of a
        busy ledger with the rest spooled (``spooled``). ``timeout`` None waits for that; a
        child that has not answered within ``timeout`` is killed. Returns True when it answered.
        It exits on its own (its interpreter teardown is not waited for; a daemon thread reaps it).
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
                # events as plain tuples: pickling a slotted dataclass costs ~9x a tuple's, on the GIL
                events = [(i.session_id, i.sleeve, i.stage, i.message, i.ts, i.extras)
                          for i in items if isinstance(i, Event)]
                flushes = [i.id for i in items if isinstance(i, _AckedFlush)]
                if events or flushes:
                    data = pickle.dumps((events, flushes), protocol=pickle.HIGHEST_PROTOCOL)
                    stdin.write(FRAME_HEADER.pack(len(data)) + data)
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
            if len(parts) == 3 and parts[0] == b"state":
                self.backlog, self.spooled = int(parts[1]), int(parts[2])
                continue
            if len(parts) == 2 and parts[0] == b"done":
                self.spooled = int(parts[1])
                self.backlog = self.spooled
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
