"""Events on their way into the ledger, never dropped.

A :class:`Backlog` commits what it is given in one transaction. While the ledger is busy
(another process holds it) the events wait and the commit is retried with backoff; a wait
longer than ``STALL_AFTER_S`` (or one that fills memory) adds one ``ledger.stalled`` event
(with the count waiting);
past ``memory_limit`` waiting events go to the session's spool file, replayed first once
writes succeed. An error that is not a busy ledger (a batch that can never be written) moves
the batch to ``spool/<session>.rejected`` for a person to look at. Both writers use it: the
thread :class:`~kernelext.ledger.writers.LedgerWriter` and the writer process.

Exactly once: what one attempt tried to commit is sealed as a batch numbered for this backlog
(``(writer_id, seq)``, see ``Ledger.write_batches``) and keeps its number through retries and
the spool. A commit whose answer was lost (a dropped PostgreSQL connection: busy, retried) may
have landed; its retry is skipped by the ledger instead of storing every event twice.
"""

from __future__ import annotations

import logging
import time
import uuid

from kernelext.events import Event, now_ns
from kernelext.ledger.busy import backoff, is_busy
from kernelext.ledger.spool import SUFFIX, Spool, spool_dir

log = logging.getLogger(__name__)

STALL_AFTER_S = 1.0
BUSY_TIMEOUT_S = 0.2  # one attempt's wait for another writer (the retries do the waiting)
MEMORY_LIMIT = 20_000  # events waiting in memory before they are spooled
CLOSE_WAIT_S = 60.0  # closing: how long to wait for a busy ledger before spooling the rest


class Backlog:
    """Commit, or wait and retry, or spool (see the module docstring). One thread uses it."""

    def __init__(self, ledger, *, memory_limit: int = MEMORY_LIMIT, audit: bool = True) -> None:  # noqa: ANN001
        self.ledger = ledger
        self.audit = audit
        self.memory_limit = memory_limit
        self.pending: list[Event] = []  # not yet tried
        self._sealed: list[tuple[tuple[str, int], list[Event]]] = []  # tried at least once, numbered
        self._sealed_n = 0
        self._writer_id = uuid.uuid4().hex
        self._seq = 0
        self.written = 0
        self.errors = 0
        self.spool: Spool | None = None
        self._session = "unknown"
        self._stalled_since: float | None = None
        self._said_stalled = False
        self._delay = 0.0
        self._next_try = 0.0
        self._spool_full_said = False

    @property
    def spooled(self) -> int:
        """Events in the spool file now."""
        return self.spool.count if self.spool else 0

    @property
    def waiting(self) -> int:
        """Events not yet committed (in memory or spooled)."""
        return self.in_memory + self.spooled

    @property
    def in_memory(self) -> int:
        """Events waiting in memory (not yet tried, or tried and retried)."""
        return len(self.pending) + self._sealed_n

    def add(self, events: list[Event]) -> None:
        """Queue events for the next commit."""
        if events:
            self._session = events[0].session_id
            self.pending.extend(events)

    def retry_in(self) -> float | None:
        """Seconds until the next commit attempt is due; None when nothing waits."""
        if not self.waiting:
            return None
        return max(0.0, self._next_try - time.monotonic())

    def commit(self) -> bool:
        """Try to commit everything waiting (spool first) if an attempt is due; True when nothing waits."""
        if not self.waiting:
            return True
        if time.monotonic() < self._next_try:
            return False
        try:
            if self.spool and self.spool.count:
                self.written += self.spool.unspool(self.ledger)
            self._seal()
            if self._sealed:
                self.ledger.write_batches(self._sealed, audit=self.audit)
                self.written += self._sealed_n
                self._sealed, self._sealed_n = [], 0
        except Exception as e:  # noqa: BLE001  (never raise into the writer's loop)
            if not is_busy(e):
                self._reject(e)
                return not self.waiting
            self._wait(e)
            return False
        if self._said_stalled and self._stalled_since is not None:
            log.warning("ledger writes resumed after %.1f s", time.monotonic() - self._stalled_since)
        self._stalled_since, self._said_stalled, self._delay, self._next_try = None, False, 0.0, 0.0
        return True

    def drain(self, wait_s: float) -> int:
        """Commit everything, waiting up to ``wait_s`` for a busy ledger, then spool the rest; return
        the number of events left in the spool (0: all committed)."""
        deadline = time.monotonic() + wait_s
        while not self.commit() and time.monotonic() < deadline:
            time.sleep(min(self.retry_in() or 0.0, max(0.0, deadline - time.monotonic())))
        if self.in_memory:
            self._spill()
        return self.spooled

    def close(self) -> None:
        """Release the spool file (kept on disk when it still holds events)."""
        if self.spool:
            self.spool.close()

    def _wait(self, error: Exception) -> None:
        now = time.monotonic()
        if self._stalled_since is None:
            self._stalled_since = now
        self._delay = backoff(self._delay)
        self._next_try = now + self._delay
        waited = now - self._stalled_since
        if (waited >= STALL_AFTER_S or self.in_memory > self.memory_limit) and not self._said_stalled:
            self._said_stalled = True
            n = self.waiting
            log.warning("ledger busy for %.1f s (%s): %d events waiting", waited, error, n)
            self.pending.append(Event(self._session, None, "ledger.stalled",
                                      f"ledger busy for {waited:.1f} s: {n} events waiting, none lost",
                                      now_ns(), {"pending": n, "spooled": self.spooled, "error": str(error)}))
        if self.in_memory > self.memory_limit:
            self._spill()

    def _seal(self) -> None:
        """Number the events not yet tried as this backlog's next batch."""
        if self.pending:
            self._seq += 1
            self._sealed.append(((self._writer_id, self._seq), self.pending))
            self._sealed_n += len(self.pending)
            self.pending = []

    def _spill(self) -> None:
        """Move the batches waiting in memory to the spool file, oldest first, each with its number
        (kept in memory from the first that does not fit: the spool is full)."""
        if self.spool is None:
            self.spool = Spool(spool_dir(self.ledger.path) / f"{self._session}{SUFFIX}", audit=self.audit)
        self._seal()
        while self._sealed and self.spool.append(self._sealed[0][1], self._sealed[0][0]):
            self._sealed_n -= len(self._sealed.pop(0)[1])
        if self._sealed and not self._spool_full_said:
            self._spool_full_said = True
            log.warning("ledger spool %s is full: events wait in memory", self.spool.path)

    def _reject(self, error: Exception) -> None:
        """A batch the ledger refuses for good: keep it on disk beside the spool, never replayed."""
        self.errors += 1
        path = spool_dir(self.ledger.path) / f"{self._session}.rejected"
        self._seal()
        log.error("ledger write of %d events failed (%s); kept in %s", self._sealed_n, error, path)
        rejected = Spool(path, max_bytes=1 << 62, audit=self.audit)
        for tag, events in self._sealed:
            rejected.append(events, tag)
        rejected.count = 1  # keep the file
        rejected.close()
        self._sealed, self._sealed_n = [], 0
        self._delay = backoff(self._delay)
        self._next_try = time.monotonic() + self._delay
