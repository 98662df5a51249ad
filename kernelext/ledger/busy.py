"""A ledger that another process holds is busy, not broken: tell the two apart, and wait."""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_BACKOFF_S = 1.0


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's 'database is locked/busy' (another writer holds the ledger), a full disk
    or an I/O error: errors that go away, unlike a statement that can never succeed. PostgreSQL:
    its OperationalError family (a lock wait past ``lock_timeout``, a serialization failure or
    deadlock, a server that is down, restarting or out of disk, a dropped connection) and a
    connection closed under us (InterfaceError)."""
    if isinstance(exc, sqlite3.OperationalError):
        return any(word in str(exc).lower() for word in ("locked", "busy", "disk", "i/o"))
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def integrity_errors() -> tuple[type[BaseException], ...]:
    """The exception classes of a constraint a row breaks (SQLite's and, once loaded, psycopg's)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.IntegrityError,) + ((psycopg.IntegrityError,) if psycopg is not None else ())


def backoff(delay: float) -> float:
    """The next wait after ``delay``: doubled, at most ``MAX_BACKOFF_S``."""
    return min(max(delay * 2, 0.05), MAX_BACKOFF_S)


def when_free(fn: Callable[[], T], *, wait_s: float = 60.0, what: str = "ledger write") -> T:
    """Call ``fn``; while the ledger is busy retry with backoff for up to ``wait_s`` seconds."""
    deadline, delay = time.monotonic() + wait_s, 0.0
    while True:
        try:
            return fn()
        except Exception as e:
            if not is_busy(e) or time.monotonic() >= deadline:
                raise
            delay = backoff(delay)
            log.info("%s: ledger busy (%s); retrying in %.2f s", what, e, delay)
            time.sleep(delay)
