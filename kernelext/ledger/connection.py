"""Where the ledger lives and how it is opened: one connection per thread, SQLite or PostgreSQL.

Durability model: WAL with ``synchronous=NORMAL`` keeps every committed
transaction across a kill -9 of the writing process (an OS crash or power loss
may lose the last transactions, never corrupt the file).

Concurrency: each thread gets its own connection; writers take ``BEGIN
IMMEDIATE`` and wait up to ``busy_timeout`` (5 s) for one another, readers never
block writers. Several processes may open the same file. ``:memory:`` is not
supported (each thread would see its own empty database).

Files: ``$PAPERLAB_HOME`` and its folders are created 0700, the ledger file 0600.

PostgreSQL (``PAPERLAB_LEDGER_URL=postgresql://...``, or a URL given as the path): one autocommit
psycopg connection per thread; ``transaction()`` is ``BEGIN`` plus one transaction-scoped advisory
lock (writers take turns, as with ``BEGIN IMMEDIATE``: ids grow in commit order, so readers that
follow ids miss nothing, and the audit chain appends one row after another), and bumps the
``paperlab_version`` counter that ``data_version`` reads. ``set_busy_timeout`` is ``lock_timeout``.
SQL is written once in SQLite's dialect; :mod:`.dialect` translates it. Spool, logs and reports
stay in ``$PAPERLAB_HOME`` (``path`` is ``$PAPERLAB_HOME/ledger.postgresql``, never created).
The password of the URL is never shown: ``where`` is the URL masked.
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

from kernelext.ledger import dialect, schema
from kernelext.paths import private_dir

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite"
PG_PLACEHOLDER = "ledger.postgresql"  # ``path`` of a PostgreSQL ledger: its folder holds spool, logs, reports
_LOCK_CLASS = 0x5041504C  # "PAPL": the advisory lock's first key (the second: the schema's crc32)


def ledger_url() -> str | None:
    """``$PAPERLAB_LEDGER_URL`` when set (not empty), else None (the SQLite ledger)."""
    return os.environ.get(dialect.URL_ENV, "").strip() or None


def paperlab_home() -> Path:
    """``$PAPERLAB_HOME`` (default ``~/.paperlab``), expanded; not created here."""
    return Path(os.environ.get("PAPERLAB_HOME") or "~/.paperlab").expanduser()


def default_path() -> Path:
    """``$PAPERLAB_HOME/ledger.sqlite``."""
    return paperlab_home() / LEDGER_FILENAME


class Connections:
    """The ledger file and its per-thread connections. Cheap to construct; connections open lazily."""

    def __init__(self, path: Path | str | None = None) -> None:
        """Point at ``path`` (a file, a directory, a ``postgresql://`` URL, or the default:
        ``$PAPERLAB_LEDGER_URL`` if set, else ``$PAPERLAB_HOME/ledger.sqlite``); create its directory."""
        url = path if dialect.is_url(path) else (ledger_url() if path is None else None)
        self.url: str | None = url
        self.dialect = "postgresql" if url else "sqlite"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._host = socket.gethostname()
        if url:
            self.path: Path = paperlab_home() / PG_PLACEHOLDER
            self.where = dialect.mask_url(url)
            return
        p = Path(path).expanduser() if path is not None else default_path()
        if p.is_dir():
            p = p / LEDGER_FILENAME
        private_dir(p.parent)
        if not p.exists():  # owner-only; SQLite gives the -wal and -shm files the same mode
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = p
        self.where = str(p)

    @property
    def location(self) -> str:
        """What reopens this ledger: the file's path, or the URL (with its password: never show it)."""
        return self.url or str(self.path)

    @property
    def is_default(self) -> bool:
        """True when this is the ledger ``Ledger()`` opens (the one the supervisor watches)."""
        if self.url:
            return self.url == ledger_url()
        return ledger_url() is None and self.path.resolve() == default_path().expanduser().resolve()

    def _con(self) -> Any:
        """This thread's connection (opened on first use; a PostgreSQL connection that broke is
        replaced): a ``sqlite3.Connection``, or a :class:`PgConnection` that takes the same SQL."""
        con = getattr(self._local, "con", None)
        if con is not None and self.url and con.broken:
            self.close_thread()
            con = None
        if con is None:
            if self.url:
                self._close_orphans()
            con = PgConnection.open(self.url, self._local) if self.url else self._connect()
            self._local.con = con
            with self._lock:
                self._connections.append(con)
        return con

    def _close_orphans(self) -> None:
        """Close the PostgreSQL connections of threads that ended without ``close_thread`` (a server
        allows ~100 connections: a process whose short-lived threads read the ledger must not hoard them)."""
        with self._lock:
            gone = [c for c in self._connections if isinstance(c, PgConnection) and not c.owner.is_alive()]
            for c in gone:
                self._connections.remove(c)
        for c in gone:
            try:
                c.close()
            except Exception:  # noqa: BLE001  (already broken: nothing to close)
                log.debug("closing an orphaned ledger connection failed", exc_info=True)

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
        if self.url:
            self._local.busy_ms = int(seconds * 1000)
            self._con().set_lock_timeout(self._local.busy_ms)
            return
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
            except Exception:  # noqa: BLE001  # pragma: no cover - best effort
                log.debug("closing a ledger connection failed", exc_info=True)
        self._local = threading.local()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on this thread's connection
        (PostgreSQL: ``BEGIN`` and the ledger's advisory lock, the commit counter bumped)."""
        con = self._con()
        if self.url:
            with con.transaction():
                yield con
            return
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
        (their ids: another thread's token never equals this one's). Cheap: no table is read
        (PostgreSQL: one row, the commit counter every write transaction bumps)."""
        con = self._con()
        if self.url:
            return id(con), con.execute("SELECT n FROM paperlab_version").fetchone()[0], 0
        return id(con), con.execute("PRAGMA data_version").fetchone()[0], con.total_changes

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version`` (PostgreSQL: ``paperlab_schema``)."""
        return schema.user_version(self._con())

    @property
    def journal_mode(self) -> str:
        """``PRAGMA journal_mode`` (``wal``; PostgreSQL: ``postgresql``)."""
        return "postgresql" if self.url else schema.journal_mode(self._con())


class PgConnection:
    """One thread's psycopg connection (autocommit), taking the ledger's SQLite-dialect SQL."""

    dialect = "postgresql"

    def __init__(self, raw: Any, lock_key: int) -> None:
        self.raw = raw
        self._lock_key = lock_key
        self.total_changes = 0
        self.owner = threading.current_thread()  # the thread it belongs to (see Connections._close_orphans)

    @classmethod
    def open(cls, url: str | None, local: threading.local) -> PgConnection:
        """Connect (a server that is down raises psycopg's OperationalError: busy, retried)."""
        import zlib

        import psycopg

        # keepalives and a TCP user timeout: a server gone silent (a network partition) fails a statement
        # within ~30 s, which the writers treat as busy (retry, spool), instead of hanging for ~15 min
        raw = psycopg.connect(url or "", autocommit=True, connect_timeout=10, application_name="paperlab",
                              keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                              tcp_user_timeout=30_000)
        raw.adapters.register_dumper(bool, _bool_as_int())  # SQLite's booleans are 0/1 (BIGINT columns)
        current = raw.execute("SELECT current_schema()").fetchone()
        key = zlib.crc32(str(current[0] if current else "").encode()) - (1 << 31)
        con = cls(raw, key)
        con.set_lock_timeout(getattr(local, "busy_ms", 5000))
        return con

    @property
    def broken(self) -> bool:
        """True when the server closed the connection (it is replaced on next use)."""
        return bool(self.raw.closed or self.raw.broken)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def set_lock_timeout(self, ms: int) -> None:
        """How long a write waits for another writer (SQLite's busy_timeout)."""
        self.raw.execute(f"SET lock_timeout = {int(ms)}")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; its cursor (``fetchone``, ``fetchall``, ``rowcount``, iteration)."""
        cur = self.raw.cursor()
        cur.execute(dialect.translate(sql), params)
        return cur

    def executemany(self, sql: str, params: Any) -> Any:
        cur = self.raw.cursor()
        cur.executemany(dialect.translate(sql), list(params))
        return cur

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        """BEGIN, the ledger's advisory lock (one writer at a time), ..., the counter bumped, COMMIT."""
        raw = self.raw
        raw.execute("BEGIN")
        try:
            raw.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, self._lock_key))
            yield self
            raw.execute("UPDATE paperlab_version SET n = n + 1")
        except BaseException:
            if not self.broken and self.in_transaction:
                try:
                    raw.execute("ROLLBACK")
                except Exception:  # noqa: BLE001  (the connection went away meanwhile)
                    log.debug("rollback failed", exc_info=True)
            raise
        raw.execute("COMMIT")
        self.total_changes += 1

    def close(self) -> None:
        self.raw.close()


def _bool_as_int() -> type:
    """A psycopg dumper sending Python booleans as int8 1/0, as SQLite stores them."""
    from psycopg.types.numeric import Int8Dumper

    class BoolAsInt(Int8Dumper):
        def dump(self, obj: bool) -> bytes:
            return b"1" if obj else b"0"

    return BoolAsInt
