"""The :class:`Ledger`: one SQLite file in WAL mode under ``$PAPERLAB_HOME``, or a PostgreSQL
database (``PAPERLAB_LEDGER_URL``).

Every event envelope lands in ``events``; the order/fill/position/equity stages
are also routed to their own tables. Sessions, sleeves, a cross-process command
queue, cached venue state and a hash-chained audit log live in the same file.
The table groups are written by mixins, one module each (sessions, commands,
venue_state, audit); reads live in :mod:`kernelext.ledger.queries`.

Only a ledger writer (or the session runner) should write events; the rest of
the house reads through :mod:`kernelext.research.frames`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from kernelext.events import Event, now_ns
from kernelext.errors import SpecError
from kernelext.ledger import dialect, schema
from kernelext.ledger.approvals import Approvals
from kernelext.ledger.audit import Audit
from kernelext.ledger.commands import Commands
from kernelext.ledger.connection import ledger_url
from kernelext.ledger.routing import insert_rows, route_events
from kernelext.ledger.sessions import Sessions
from kernelext.ledger.spool import unspool_orphans
from kernelext.ledger.tokens import Tokens
from kernelext.ledger.venue_state import VenueState

log = logging.getLogger(__name__)

BatchTag = tuple[str, int]  # (writer id, the writer's batch number): see Ledger.write_batches


class Ledger(Sessions, Commands, VenueState, Audit, Approvals, Tokens):
    """The ledger (SQLite or PostgreSQL). Cheap to construct; one connection per thread, opened lazily."""

    def __init__(self, path: Path | str | None = None) -> None:
        """Open (create, migrate) the ledger at ``path`` (a file, a directory, a ``postgresql://``
        URL, or the default: ``$PAPERLAB_LEDGER_URL`` when set, else ``$PAPERLAB_HOME``'s file).

        A place that cannot hold a ledger (a file, an unwritable folder, a file that is not
        a PaperLab ledger) is one-line ``SpecError`` naming ``PAPERLAB_HOME``; a bad URL or a server
        that cannot be reached one naming ``PAPERLAB_LEDGER_URL`` (its password masked); nothing is changed.
        """
        url = path if dialect.is_url(path) else (ledger_url() if path is None else None)
        if url:
            self._open_pg(url, "ledger URL" if path is not None else dialect.URL_ENV)
        else:
            self._open_sqlite(path)
        unspool_orphans(self)  # events a dead writer spooled while the ledger was busy

    def _open_sqlite(self, path: Path | str | None) -> None:
        where = "ledger path" if path is not None else "PAPERLAB_HOME"
        try:
            super().__init__(path)
        except FileExistsError as e:
            raise SpecError(f"{where}: {e.filename} is a file; point it at a folder") from None
        except OSError as e:
            raise SpecError(f"{where}: cannot create {e.filename or path} ({e.strerror or e}); "
                            "point it at a folder you can write") from None
        try:
            self._migrate()
        except sqlite3.DatabaseError as e:
            self.close()
            if isinstance(e, sqlite3.OperationalError):
                raise SpecError(f"{where}: cannot open {self.path} ({e}); point it at a folder you can write") from None
            raise SpecError(f"{where}: {self.path} is not a PaperLab ledger ({e}); move it aside "
                            "(nothing was changed) or point PAPERLAB_HOME at another folder") from None

    def _open_pg(self, url: str, where: str) -> None:
        masked = dialect.mask_url(url)
        problem = dialect.check_url(url)
        if problem:
            raise SpecError(f"{dialect.url_help()}; {problem}: {masked}".replace(
                dialect.URL_ENV + ":", where + ":", 1)) from None
        super().__init__(url)
        import psycopg

        try:
            self._migrate()
        except psycopg.Error as e:
            self.close()
            reason = (str(e).strip().splitlines() or [type(e).__name__])[-1].strip()
            reason = reason.replace(url, masked)
            if isinstance(e, psycopg.OperationalError):
                raise SpecError(f"{where}: cannot open the ledger at {masked} ({reason}); start the server or "
                                "fix the URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)") from None
            raise SpecError(f"{where}: {masked} cannot hold a PaperLab ledger ({reason})") from None

    def _migrate(self) -> None:
        """Apply the pending migrations in one transaction."""
        target = len(schema.MIGRATIONS)
        if self.schema_version == target:
            return
        with self.transaction() as con:
            version = schema.migrate(con, self.where)
        log.info("ledger %s migrated from v%d to v%d", self.where, version, target)

    def write_events(self, events: Iterable[Event], *, audit: bool = True) -> int:
        """Store events and route them to orders/fills/positions/equity (and order intents to
        the audit chain, unless ``audit`` is False) in ONE transaction.

        Returns the number of events written. Fills are idempotent on
        (session_id, trade_id, client_order_id).
        """
        return self.write_batches([(None, list(events))], audit=audit)

    def write_batches(self, batches: Sequence[tuple[BatchTag | None, Sequence[Event]]], *, audit: bool = True) -> int:
        """Store batches of events in ONE transaction, each at most once.

        A batch tagged ``(writer_id, seq)`` (a writer numbers its batches 1, 2, ...) whose ``seq``
        the ledger already holds for that writer is skipped: a retry after a commit whose answer
        was lost (a dropped PostgreSQL connection), or a spool replayed again after a crash
        between its commit and its emptying, stores nothing twice. Untagged batches are always
        stored. Returns the number of events written now.
        """
        if all(tag is None for tag, _ in batches):  # nothing to check: route first, no transaction for nothing
            rows = route_events(e for _, events in batches for e in events)
            if rows is None:
                return 0
            with self.transaction() as con:
                insert_rows(con, rows, audit=audit)
            return len(rows.events)
        with self.transaction() as con:
            fresh: list[Event] = []
            last: dict[str, tuple[int, str | None]] = {}  # writer -> (highest seq committed, its session)
            for tag, events in batches:
                if tag is not None:
                    writer, seq = tag
                    if writer not in last:
                        row = con.execute("SELECT seq FROM writer_batches WHERE writer_id = ?", (writer,)).fetchone()
                        last[writer] = (int(row[0]) if row else 0, None)
                    if seq <= last[writer][0]:
                        continue  # committed before
                    last[writer] = (seq, events[0].session_id if events else last[writer][1])
                fresh.extend(events)
            rows = route_events(fresh)
            if rows is not None:
                insert_rows(con, rows, audit=audit)
            for writer, (seq, session) in last.items():
                con.execute(
                    "INSERT INTO writer_batches(writer_id, session_id, seq, ts) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(writer_id) DO UPDATE SET seq = excluded.seq, ts = excluded.ts",
                    (writer, session, seq, now_ns()),
                )
        return len(rows.events) if rows is not None else 0
