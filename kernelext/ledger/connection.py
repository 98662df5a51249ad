"""Where the ledger lives and how it is opened: one WAL connection per thread.

Durability model: WAL with ``synchronous=NORMAL`` keeps every committed
transaction across a kill -9 of the writing process (an OS crash or power loss
may lose the last transactions, never corrupt the file).

Concurrency: each thread gets its own connection; writers take ``BEGIN
IMMEDIATE`` and wait up to ``busy_timeout`` (5 s) for one another, readers never
block writers. Several processes may open the same file. ``:memory:`` is not
supported (each thread would see its own empty database).

Files: ``$PAPERLAB_HOME`` and its folders are created 0700, the ledger file 0600.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from kernelext.ledger import schema
from kernelext.paths import private_dir

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite"


def paperlab_home() -> Path:
    """``$PAPERLAB_HOME`` (default ``~/.paperlab``), expanded; not created here."""
    return Path(os.environ.get("PAPERLAB_HOME") or "~/.paperlab").expanduser()


def default_path() -> Path:
    """``$PAPERLAB_HOME/ledger.sqlite``."""
    return paperlab_home() / LEDGER_FILENAME


class Connections:
    """The ledger file and its per-thread connections. Cheap to construct; connections open lazily."""

    def __init__(self, path: Path | str | None = None) -> None:
        """Point at ``path`` (a file, a directory, or the default); create its directory."""
        p = Path(path).expanduser() if path is not None else default_path()
        if p.is_dir():
            p = p / LEDGER_FILENAME
        private_dir(p.parent)
        if not p.exists():  # owner-only; SQLite gives the -wal and -shm files the same mode
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path: Path = p
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._host = socket.gethostname()

    def _con(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def _connect(self) -> sqlite3.Connection:
        """A new autocommit connection with WAL, synchronous=NORMAL, busy_timeout=5000."""
        con = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        con.execute("PRAGMA busy_timeout=5000")
        mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("ledger %s: journal_mode is %s, not wal", self.path, mode)
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    def set_busy_timeout(self, seconds: float) -> None:
        """This thread's connection waits at most ``seconds`` for another writer (default 5 s)."""
        self._con().execute(f"PRAGMA busy_timeout={int(seconds * 1000)}")

    def close_thread(self) -> None:
        """Close the calling thread's connection (a new one opens on next use)."""
        con = getattr(self._local, "con", None)
        if con is None:
            return
        self._local.con = None
        with self._lock:
            if con in self._connections:
                self._connections.remove(con)
        con.close()

    def close(self) -> None:
        """Close every connection this Ledger opened (all threads)."""
        with self._lock:
            cons, self._connections = self._connections, []
        for con in cons:
            try:
                con.close()
            except sqlite3.Error:  # pragma: no cover - best effort
                log.debug("closing a ledger connection failed", exc_info=True)
        self._local = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on this thread's connection."""
        con = self._con()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run a read query and return all rows."""
        return self._con().execute(sql, params).fetchall()

    def query_dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run a read query and return its rows as dicts keyed by column name."""
        cur = self._con().execute(sql, params)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def data_version(self) -> tuple[int, int, int]:
        """A token of what this thread's connection can see: it differs from the previous call's when
        anything was committed in between, by another connection or process (SQLite's
        ``PRAGMA data_version``) or by this one (its ``total_changes``), and between connections
        (their ids: another thread's token never equals this one's). Cheap: no table is read."""
        con = self._con()
        return id(con), con.execute("PRAGMA data_version").fetchone()[0], con.total_changes

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version``."""
        return schema.user_version(self._con())

    @property
    def journal_mode(self) -> str:
        """``PRAGMA journal_mode`` (``wal``)."""
        return schema.journal_mode(self._con())
