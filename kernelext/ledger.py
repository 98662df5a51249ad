"""The durable store: one SQLite file in WAL mode under ``$PAPERLAB_HOME``.

Every event envelope lands in ``events``; the order/fill/position/equity stages
are also routed to their own tables. Sessions, sleeves, a cross-process command
queue and a hash-chained audit log live in the same file.

Durability model: WAL with ``synchronous=NORMAL`` keeps every committed
transaction across a kill -9 of the writing process (an OS crash or power loss
may lose the last transactions, never corrupt the file).

Concurrency: each thread gets its own connection; writers take ``BEGIN
IMMEDIATE`` and wait up to ``busy_timeout`` (5 s) for one another, readers never
block writers. Several processes may open the same file. ``:memory:`` is not
supported (each thread would see its own empty database).

Only :class:`LedgerWriter` (or the session runner) should write events; the
rest of the house reads through :mod:`kernelext.research.frames`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kernelext.events import ORDER_STAGES, POSITION_STAGES, Event, now_ns

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.sqlite"
SESSION_STATUSES: frozenset[str] = frozenset(
    {"starting", "running", "paused", "stopped", "error", "crashed"}
)
ACTIVE_STATUSES: tuple[str, ...] = ("starting", "running", "paused")
SESSION_TABLES: tuple[str, ...] = (
    "bars",
    "sleeves",
    "orders",
    "fills",
    "positions",
    "events",
    "equity",
    "commands",
)
AUDIT_GENESIS = "0" * 64

# Ordered migrations: MIGRATIONS[i] takes user_version i to i + 1. Append only.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY, label TEXT, kind TEXT, venue TEXT, feed TEXT,
            spec_json TEXT, status TEXT NOT NULL, started_at INTEGER, ended_at INTEGER,
            last_error TEXT, pid INTEGER, host TEXT)""",
        "CREATE INDEX sessions_started ON sessions(started_at)",
        """CREATE TABLE sleeves (
            session_id TEXT NOT NULL, sleeve TEXT NOT NULL, strategy_key TEXT,
            instrument TEXT, bar_spec TEXT, params_json TEXT, strategy_id TEXT,
            PRIMARY KEY (session_id, sleeve))""",
        """CREATE TABLE orders (
            session_id TEXT NOT NULL, sleeve TEXT, client_order_id TEXT NOT NULL,
            instrument TEXT, side TEXT, order_type TEXT, quantity REAL, price REAL,
            status TEXT, reason TEXT, strategy_id TEXT,
            ts_submitted INTEGER, ts_updated INTEGER,
            PRIMARY KEY (session_id, client_order_id))""",
        "CREATE INDEX orders_session_ts ON orders(session_id, ts_submitted)",
        """CREATE TABLE fills (
            session_id TEXT NOT NULL, sleeve TEXT, client_order_id TEXT,
            venue_order_id TEXT, trade_id TEXT, position_id TEXT, instrument TEXT,
            side TEXT, qty REAL, price REAL, fee REAL, fee_currency TEXT,
            liquidity TEXT, ts INTEGER,
            UNIQUE (session_id, trade_id, client_order_id))""",
        "CREATE INDEX fills_session_ts ON fills(session_id, ts)",
        """CREATE TABLE positions (
            session_id TEXT NOT NULL, sleeve TEXT, position_id TEXT NOT NULL,
            instrument TEXT, side TEXT, quantity REAL, avg_px_open REAL,
            avg_px_close REAL, realized_pnl REAL, unrealized_pnl REAL, currency TEXT,
            opened_ts INTEGER, closed_ts INTEGER, ts_updated INTEGER,
            PRIMARY KEY (session_id, position_id))""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,
            sleeve TEXT, stage TEXT NOT NULL, message TEXT, ts INTEGER NOT NULL,
            extras_json TEXT)""",
        "CREATE INDEX events_session_ts ON events(session_id, ts)",
        "CREATE INDEX events_session_stage ON events(session_id, stage)",
        """CREATE TABLE equity (
            session_id TEXT NOT NULL, ts INTEGER NOT NULL, equity REAL, balance REAL,
            available REAL, unrealized_pnl REAL, realized_pnl REAL, exposure REAL,
            currency TEXT)""",
        "CREATE INDEX equity_session_ts ON equity(session_id, ts)",
        """CREATE TABLE commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,
            command TEXT NOT NULL, args_json TEXT, created_ts INTEGER NOT NULL,
            taken_ts INTEGER, result TEXT)""",
        "CREATE INDEX commands_pending ON commands(session_id, taken_ts)",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, actor TEXT,
            action TEXT NOT NULL, detail_json TEXT, prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL)""",
    ],
    [  # v2: venues' instrument lists, cached for offline search and error messages
        """CREATE TABLE instruments (
            venue TEXT NOT NULL, symbol TEXT NOT NULL, updated_ts INTEGER NOT NULL,
            PRIMARY KEY (venue, symbol))""",
    ],
    [  # v3: the bars a session's strategies saw (history = warm-up), for re-runs and comparisons
        """CREATE TABLE bars (
            session_id TEXT NOT NULL, bar_type TEXT NOT NULL, ts INTEGER NOT NULL,
            open REAL, high REAL, low REAL, close REAL, volume REAL, historical INTEGER NOT NULL,
            PRIMARY KEY (session_id, bar_type, ts, historical))""",
    ],
    [  # v4: IB Gateway health: one row per observed transition (ok / re-login needed / off)
        """CREATE TABLE gateway_health (
            id INTEGER PRIMARY KEY AUTOINCREMENT, gateway TEXT NOT NULL, ts INTEGER NOT NULL,
            state TEXT NOT NULL, previous TEXT, message TEXT)""",
        "CREATE INDEX gateway_health_ts ON gateway_health(gateway, ts)",
    ],
]

_SQL_EVENT = (
    "INSERT INTO events(session_id, sleeve, stage, message, ts, extras_json)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# An order's status follows its newest event, except that a final status (FILLED, CANCELED,
# ...) is never replaced by an earlier stage: venues stamp fills with their own clock (IB's
# execution times are whole seconds), so OrderSubmitted can carry a later ts than the fill.
_SQL_ORDER = """
INSERT INTO orders(session_id, sleeve, client_order_id, instrument, side, order_type,
                   quantity, price, status, reason, strategy_id, ts_submitted, ts_updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(session_id, client_order_id) DO UPDATE SET
    sleeve = COALESCE(excluded.sleeve, orders.sleeve),
    instrument = COALESCE(excluded.instrument, orders.instrument),
    side = COALESCE(excluded.side, orders.side),
    order_type = COALESCE(excluded.order_type, orders.order_type),
    quantity = COALESCE(excluded.quantity, orders.quantity),
    price = COALESCE(excluded.price, orders.price),
    strategy_id = COALESCE(excluded.strategy_id, orders.strategy_id),
    reason = COALESCE(excluded.reason, orders.reason),
    status = CASE
        WHEN excluded.status IS NULL THEN orders.status
        WHEN orders.status IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED')
             AND excluded.status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED')
             THEN orders.status
        WHEN excluded.status IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED')
             AND orders.status NOT IN ('FILLED', 'CANCELED', 'REJECTED', 'DENIED', 'EXPIRED')
             THEN excluded.status
        WHEN excluded.ts_updated >= orders.ts_updated THEN excluded.status
        ELSE orders.status END,
    ts_submitted = MIN(orders.ts_submitted, excluded.ts_submitted),
    ts_updated = MAX(orders.ts_updated, excluded.ts_updated)
"""
_SQL_FILL = """
INSERT OR IGNORE INTO fills(session_id, sleeve, client_order_id, venue_order_id, trade_id,
                            position_id, instrument, side, qty, price, fee, fee_currency,
                            liquidity, ts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_SQL_POSITION = """
INSERT INTO positions(session_id, sleeve, position_id, instrument, side, quantity,
                      avg_px_open, avg_px_close, realized_pnl, unrealized_pnl, currency,
                      opened_ts, closed_ts, ts_updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(session_id, position_id) DO UPDATE SET
    sleeve = COALESCE(excluded.sleeve, positions.sleeve),
    instrument = COALESCE(excluded.instrument, positions.instrument),
    side = excluded.side, quantity = excluded.quantity,
    avg_px_open = excluded.avg_px_open, avg_px_close = excluded.avg_px_close,
    realized_pnl = excluded.realized_pnl, unrealized_pnl = excluded.unrealized_pnl,
    currency = COALESCE(excluded.currency, positions.currency),
    opened_ts = COALESCE(excluded.opened_ts, positions.opened_ts),
    closed_ts = excluded.closed_ts,
    ts_updated = excluded.ts_updated
WHERE excluded.ts_updated >= positions.ts_updated
"""
_SQL_EQUITY = """
INSERT INTO equity(session_id, ts, equity, balance, available, unrealized_pnl,
                   realized_pnl, exposure, currency)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_STAGE_STATUS = {
    "order.submitted": "SUBMITTED",
    "order.denied": "DENIED",
    "order.rejected": "REJECTED",
    "order.filled": "FILLED",
    "order.canceled": "CANCELED",
}


def paperlab_home() -> Path:
    """``$PAPERLAB_HOME`` (default ``~/.paperlab``), expanded; not created here."""
    return Path(os.environ.get("PAPERLAB_HOME") or "~/.paperlab").expanduser()


def default_path() -> Path:
    """``$PAPERLAB_HOME/ledger.sqlite``."""
    return paperlab_home() / LEDGER_FILENAME


def _num(value: Any) -> float | None:
    """A REAL for SQLite: floats pass, numbers (incl. Nautilus Price/Quantity) convert."""
    if value is None or type(value) is float:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _txt(value: Any) -> str | None:
    """A TEXT for SQLite (ids may arrive as Nautilus identifier objects)."""
    if value is None or type(value) is str:
        return value
    return str(value)


def _int(value: Any) -> int | None:
    """An INTEGER for SQLite (timestamps in ns)."""
    if value is None or type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _dumps(value: Any) -> str:
    """Compact JSON; unknown objects become their ``str``."""
    return json.dumps(value, separators=(",", ":"), default=str)


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, compact) used by the audit hash chain."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def audit_hash(prev_hash: str, ts: int, actor: str | None, action: str, detail_json: str) -> str:
    """sha256(prev_hash + canonical json of the row's content)."""
    row = {"ts": ts, "actor": actor, "action": action, "detail_json": detail_json}
    return hashlib.sha256((prev_hash + canonical_json(row)).encode("utf-8")).hexdigest()


def pid_alive(pid: int | None) -> bool:
    """True when ``pid`` names a live (non-zombie) process on this host."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Linux: a reaped-later child still answers kill(pid, 0); /proc says 'Z'."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].strip()[:1] in ("Z", "X")


class _Rows:
    """Per-table parameter lists for one ``write_events`` batch."""

    __slots__ = ("events", "orders", "fills", "positions", "equity", "status", "bars")

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.orders: list[tuple] = []
        self.fills: list[tuple] = []
        self.positions: list[tuple] = []
        self.equity: list[tuple] = []
        self.status: list[tuple] = []
        self.bars: list[tuple] = []


# Live status changes travel as events, so the node thread never writes the ledger itself.
_STAGE_SESSION_STATUS = {
    "session.running": "running",
    "control.pause": "paused",
    "control.resume": "running",
    "control.flatten": "paused",
}


def _route(ev: Event, rows: _Rows) -> None:
    """Append the rows one event produces."""
    sid, sleeve, stage, ts, x = ev.session_id, ev.sleeve, ev.stage, ev.ts, ev.extras
    if stage == "equity.batch":  # the equity curve: rows of the equity table, not events
        cur = _txt(x.get("currency"))
        rows.equity.extend((sid, *point, cur) for point in x.get("points", ()))
        return
    if stage == "bar.batch":  # the bars strategies saw: rows of the bars table, not events
        rows.bars.extend((sid, *bar) for bar in x.get("bars", ()))
        return
    rows.events.append((sid, sleeve, stage, ev.message, ts, _dumps(x) if x else None))
    if stage in ORDER_STAGES:
        _route_order(ev, rows)
    elif stage in POSITION_STAGES:
        rows.positions.append(
            (
                sid, sleeve, _txt(x.get("position_id")), _txt(x.get("instrument")),
                _txt(x.get("side")), _num(x.get("quantity")), _num(x.get("avg_px_open")),
                _num(x.get("avg_px_close")), _num(x.get("realized_pnl")),
                _num(x.get("unrealized_pnl")), _txt(x.get("currency")),
                _int(x.get("ts_opened")) or (ts if stage == "position.opened" else None),
                (_int(x.get("ts_closed")) or ts) if stage == "position.closed" else None,
                ts,
            )
        )
    elif stage in _STAGE_SESSION_STATUS:
        rows.status.append((_STAGE_SESSION_STATUS[stage], sid))
    elif stage == "equity.update":
        rows.equity.append(
            (
                sid, ts, _num(x.get("equity")), _num(x.get("balance")),
                _num(x.get("available")), _num(x.get("unrealized_pnl")),
                _num(x.get("realized_pnl")), _num(x.get("exposure")),
                _txt(x.get("currency")),
            )
        )


def _route_order(ev: Event, rows: _Rows) -> None:
    """orders upsert row, plus a fills row for ``order.filled``."""
    sid, sleeve, stage, ts, x = ev.session_id, ev.sleeve, ev.stage, ev.ts, ev.extras
    coid, instrument, side = _txt(x.get("client_order_id")), _txt(x.get("instrument")), _txt(x.get("side"))
    if coid is None:
        log.warning("%s event without client_order_id in session %s: not routed", stage, sid)
        return
    rows.orders.append(
        (
            sid, sleeve, coid, instrument, side, _txt(x.get("order_type")),
            _num(x.get("quantity")), _num(x.get("price")),
            _txt(x.get("status")) or _STAGE_STATUS[stage], _txt(x.get("reason")),
            _txt(x.get("strategy_id")), ts, ts,
        )
    )
    if stage == "order.filled":
        rows.fills.append(
            (
                sid, sleeve, coid, _txt(x.get("venue_order_id")), _txt(x.get("trade_id")),
                _txt(x.get("position_id")), instrument, side, _num(x.get("last_qty")),
                _num(x.get("last_px")), _num(x.get("commission")),
                _txt(x.get("commission_currency")), _txt(x.get("liquidity")), ts,
            )
        )


class Ledger:
    """The SQLite ledger. Cheap to construct; one connection per thread, opened lazily."""

    def __init__(self, path: Path | str | None = None) -> None:
        """Open (create, migrate) the ledger at ``path`` (a file, a directory, or the default)."""
        p = Path(path).expanduser() if path is not None else default_path()
        if p.is_dir():
            p = p / LEDGER_FILENAME
        p.parent.mkdir(parents=True, exist_ok=True)
        self.path: Path = p
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._host = socket.gethostname()
        self._migrate()

    # -- connections -------------------------------------------------------
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

    def __enter__(self) -> Ledger:
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

    # -- schema ------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version``."""
        return int(self._con().execute("PRAGMA user_version").fetchone()[0])

    @property
    def journal_mode(self) -> str:
        """``PRAGMA journal_mode`` (``wal``)."""
        return str(self._con().execute("PRAGMA journal_mode").fetchone()[0])

    def _migrate(self) -> None:
        """Apply the pending MIGRATIONS in one transaction."""
        target = len(MIGRATIONS)
        if self.schema_version == target:
            return
        with self.transaction() as con:
            version = int(con.execute("PRAGMA user_version").fetchone()[0])
            if version > target:
                raise RuntimeError(
                    f"ledger {self.path} has schema v{version}, newer than this code (v{target})"
                )
            for statements in MIGRATIONS[version:]:
                for sql in statements:
                    con.execute(sql)
            con.execute(f"PRAGMA user_version={target}")
        log.info("ledger %s migrated from v%d to v%d", self.path, version, target)

    # -- sessions ----------------------------------------------------------
    def create_session(
        self,
        session_id: str,
        *,
        label: str,
        kind: str,
        venue: str,
        feed: str,
        spec: dict[str, Any],
        sleeves: list[dict[str, Any]],
        started_at: int,
        status: str = "starting",
    ) -> None:
        """Insert the session row and its sleeves in one transaction (pid/host of this process)."""
        _check_status(status)
        sleeve_rows = [
            (
                session_id, s["sleeve"], s.get("strategy_key"), s.get("instrument"),
                s.get("bar_spec"), _dumps(s.get("params") or {}), s.get("strategy_id"),
            )
            for s in sleeves
        ]
        try:
            with self.transaction() as con:
                con.execute(
                    "INSERT INTO sessions(id, label, kind, venue, feed, spec_json, status,"
                    " started_at, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (session_id, label, kind, venue, feed, _dumps(spec), status,
                     started_at, os.getpid(), self._host),
                )
                con.executemany(
                    "INSERT INTO sleeves(session_id, sleeve, strategy_key, instrument,"
                    " bar_spec, params_json, strategy_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    sleeve_rows,
                )
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"session {session_id!r} cannot be created: {exc}") from exc

    def set_status(
        self,
        session_id: str,
        status: str,
        *,
        ended_at: int | None = None,
        last_error: str | None = None,
    ) -> None:
        """Set a session's status (and ``ended_at`` / ``last_error`` when given)."""
        _check_status(status)
        with self.transaction() as con:
            cur = con.execute(
                "UPDATE sessions SET status = ?, ended_at = COALESCE(?, ended_at),"
                " last_error = COALESCE(?, last_error) WHERE id = ?",
                (status, ended_at, last_error, session_id),
            )
            if cur.rowcount == 0:
                raise ValueError(f"no session {session_id!r} in the ledger")

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The session row as a dict (with ``spec`` decoded and its ``sleeves``), or None."""
        con = self._con()
        cur = con.execute("SELECT * FROM sessions WHERE id = ?", (session_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["spec"] = json.loads(out["spec_json"]) if out["spec_json"] else {}
        cur = con.execute(
            "SELECT sleeve, strategy_key, instrument, bar_spec, params_json, strategy_id"
            " FROM sleeves WHERE session_id = ? ORDER BY rowid",
            (session_id,),
        )
        out["sleeves"] = [
            {"sleeve": s, "strategy_key": k, "instrument": i, "bar_spec": b,
             "params": json.loads(p) if p else {}, "strategy_id": sid}
            for s, k, i, b, p, sid in cur.fetchall()
        ]
        return out

    def resolve_session(self, prefix_or_id: str) -> str:
        """An exact id, a unique id prefix, or "latest"/"last" (newest) -> the session id."""
        key = (prefix_or_id or "").strip()
        if key.lower() in ("latest", "last"):
            row = self._con().execute(
                "SELECT id FROM sessions ORDER BY started_at DESC, rowid DESC LIMIT 1"
            ).fetchone()
            if row is None:
                raise ValueError("no sessions in the ledger yet")
            return row[0]
        if not key:
            raise ValueError("empty session id: give an id, a unique prefix, or 'latest'")
        if self._con().execute("SELECT 1 FROM sessions WHERE id = ?", (key,)).fetchone():
            return key
        rows = self.query(
            "SELECT id FROM sessions WHERE substr(id, 1, ?) = ? ORDER BY started_at DESC",
            (len(key), key),
        )
        if not rows:
            raise ValueError(f"no session matches {key!r}")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (" ..." if len(rows) > 5 else "")
            raise ValueError(
                f"session prefix {key!r} is ambiguous ({len(rows)} matches: {shown}); type more characters"
            )
        return rows[0][0]

    def mark_crashed(self, live_ids: Iterable[str] = frozenset()) -> list[str]:
        """Mark active sessions whose process is gone as ``crashed``; return their ids.

        A session on this host counts as gone when its pid is dead (or a zombie), or
        when its pid is this very process but its id is not in ``live_ids``.
        Sessions recorded on another host are left alone. ``ended_at`` becomes the
        session's last event ts (or now). Pid reuse by an unrelated process would
        keep a dead session "running" until that process exits.
        """
        live, me = set(live_ids), os.getpid()
        marks = ", ".join("?" * len(ACTIVE_STATUSES))
        rows = self.query(
            f"SELECT id, pid, host FROM sessions WHERE status IN ({marks})", ACTIVE_STATUSES
        )
        dead = [
            (sid, pid)
            for sid, pid, host in rows
            if host == self._host and pid is not None
            and ((sid not in live) if pid == me else not pid_alive(pid))
        ]
        if not dead:
            return []
        now = now_ns()
        with self.transaction() as con:
            for sid, pid in dead:
                con.execute(
                    "UPDATE sessions SET status = 'crashed',"
                    " ended_at = COALESCE((SELECT MAX(ts) FROM events WHERE session_id = ?), ?),"
                    " last_error = COALESCE(last_error, ?)"
                    f" WHERE id = ? AND status IN ({marks})",
                    (sid, now, f"process {pid} on {self._host} ended without stopping the session",
                     sid, *ACTIVE_STATUSES),
                )
        ids = [sid for sid, _ in dead]
        log.warning("ledger: marked crashed: %s", ", ".join(ids))
        return ids

    # -- instruments ---------------------------------------------------------
    def cache_instruments(self, venue: str, symbols: Iterable[str]) -> None:
        """Replace the cached instrument list of ``venue`` (e.g. Kraken's spot pairs)."""
        ts = now_ns()
        with self.transaction() as con:
            con.execute("DELETE FROM instruments WHERE venue = ?", (venue,))
            con.executemany(
                "INSERT INTO instruments(venue, symbol, updated_ts) VALUES (?, ?, ?)",
                [(venue, sym, ts) for sym in sorted(set(symbols))],
            )

    def cached_instruments(self, venue: str) -> list[str]:
        """The last instrument list seen for ``venue`` (empty if never fetched)."""
        return [r[0] for r in self.query("SELECT symbol FROM instruments WHERE venue = ? ORDER BY symbol", (venue,))]

    # -- gateway health ------------------------------------------------------
    def record_gateway_health(self, gateway: str, previous: str | None, state: str, message: str) -> None:
        """Store one gateway health transition (``gateway`` is ``host:port``)."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO gateway_health(gateway, ts, state, previous, message) VALUES (?, ?, ?, ?, ?)",
                (gateway, now_ns(), state, previous, message),
            )

    def gateway_health(self, gateway: str | None = None, limit: int = 1) -> list[dict[str, Any]]:
        """The latest health rows, newest first (of one gateway, or of any)."""
        where, params = ("WHERE gateway = ?", (gateway,)) if gateway else ("", ())
        cur = self._con().execute(
            f"SELECT gateway, ts, state, previous, message FROM gateway_health {where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def delete_session(self, session_id: str) -> None:
        """Remove the session and all its rows in every table (the audit log is kept)."""
        with self.transaction() as con:
            for table in SESSION_TABLES:
                con.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
            con.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def clear_sessions(self) -> int:
        """Remove every session and its rows (the audit log is kept); return how many."""
        with self.transaction() as con:
            n = int(con.execute("SELECT COUNT(*) FROM sessions").fetchone()[0])
            for table in (*SESSION_TABLES, "sessions"):
                con.execute(f"DELETE FROM {table}")
        return n

    # -- events --------------------------------------------------------------
    def write_events(self, events: Iterable[Event]) -> int:
        """Store events and route them to orders/fills/positions/equity in ONE transaction.

        Returns the number of events written. Fills are idempotent on
        (session_id, trade_id, client_order_id).
        """
        rows = _Rows()
        for ev in events:
            _route(ev, rows)
        if not rows.events and not rows.equity and not rows.bars:
            return 0
        with self.transaction() as con:
            con.executemany(_SQL_EVENT, rows.events)
            if rows.orders:
                con.executemany(_SQL_ORDER, rows.orders)
            if rows.fills:
                con.executemany(_SQL_FILL, rows.fills)
            if rows.positions:
                con.executemany(_SQL_POSITION, rows.positions)
            if rows.equity:
                con.executemany(_SQL_EQUITY, rows.equity)
            if rows.bars:
                con.executemany(
                    "INSERT OR IGNORE INTO bars(session_id, bar_type, ts, open, high, low, close, volume, historical)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows.bars,
                )
            if rows.status:
                con.executemany(
                    "UPDATE sessions SET status = ? WHERE id = ? AND status IN ('starting', 'running', 'paused')",
                    rows.status,
                )
        return len(rows.events)

    # -- commands ------------------------------------------------------------
    def enqueue_command(self, session_id: str, command: str, args: dict[str, Any] | None = None) -> int:
        """Queue a control command for a session (any process); return its id."""
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO commands(session_id, command, args_json, created_ts) VALUES (?, ?, ?, ?)",
                (session_id, command, _dumps(args or {}), now_ns()),
            )
            return int(cur.lastrowid)

    def take_commands(self, session_id: str) -> list[tuple[int, str, dict[str, Any]]]:
        """Atomically take the session's pending commands (each is taken once), oldest first."""
        with self.transaction() as con:
            rows = con.execute(
                "UPDATE commands SET taken_ts = ? WHERE session_id = ? AND taken_ts IS NULL"
                " RETURNING id, command, args_json",
                (now_ns(), session_id),
            ).fetchall()
        return [(int(i), c, json.loads(a) if a else {}) for i, c, a in sorted(rows)]

    def finish_command(self, command_id: int, result: str) -> None:
        """Record a taken command's result (e.g. "ok" or an error message)."""
        with self.transaction() as con:
            con.execute("UPDATE commands SET result = ? WHERE id = ?", (result, command_id))

    def command(self, command_id: int) -> dict[str, Any] | None:
        """One command row as a dict (to poll for its result), or None."""
        cur = self._con().execute("SELECT * FROM commands WHERE id = ?", (command_id,))
        row = cur.fetchone()
        if row is None:
            return None
        out = dict(zip([d[0] for d in cur.description], row, strict=True))
        out["args"] = json.loads(out.pop("args_json") or "{}")
        return out

    # -- audit ---------------------------------------------------------------
    def append_audit(self, actor: str, action: str, detail: dict[str, Any]) -> str:
        """Append a hash-chained audit row; return its hash."""
        detail_json = canonical_json(detail)
        with self.transaction() as con:
            row = con.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
            prev = row[0] if row else AUDIT_GENESIS
            ts = now_ns()
            digest = audit_hash(prev, ts, actor, action, detail_json)
            con.execute(
                "INSERT INTO audit(ts, actor, action, detail_json, prev_hash, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (ts, actor, action, detail_json, prev, digest),
            )
        return digest

    def verify_audit(self) -> bool:
        """True when every audit row links to the previous one and its hash matches."""
        prev = AUDIT_GENESIS
        cur = self._con().execute(
            "SELECT id, ts, actor, action, detail_json, prev_hash, hash FROM audit ORDER BY id"
        )
        for row_id, ts, actor, action, detail_json, prev_hash, digest in cur:
            if prev_hash != prev or audit_hash(prev, ts, actor, action, detail_json) != digest:
                log.warning("audit chain broken at row %s", row_id)
                return False
            prev = digest
        return True


def _check_status(status: str) -> None:
    """Reject unknown session statuses."""
    if status not in SESSION_STATUSES:
        raise ValueError(f"unknown session status {status!r}; one of {sorted(SESSION_STATUSES)}")


class _Flush:
    """A queue marker: set once every event put before it is committed."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


def commit_with_retry(ledger: Ledger, batch: list[Event]) -> bool:
    """Write ``batch`` in one transaction; retry once; log and return False if both fail."""
    for attempt in (1, 2):
        try:
            ledger.write_events(batch)
            return True
        except Exception:
            if attempt == 1:
                log.warning("ledger write of %d events failed; retrying", len(batch), exc_info=True)
                time.sleep(0.05)
    log.exception("ledger write of %d events failed twice; dropped", len(batch))
    return False


class EventQueue:
    """The non-blocking front of a ledger writer: ``put`` queues, after ``close`` it drops and counts."""

    def __init__(self) -> None:
        self.written = 0
        self.errors = 0
        self.dropped = 0
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


class LedgerWriter(EventQueue):
    """A daemon thread that owns event writes: ``put`` never blocks, batches commit together."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        batch_size: int = 2000,
        max_latency: float = 0.05,
        name: str = "paperlab-ledger-writer",
    ) -> None:
        """Start the writer thread on ``ledger``."""
        super().__init__()
        self.ledger = ledger
        self.batch_size = batch_size
        self.max_latency = max_latency
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread.is_alive()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event put so far is committed; False on timeout or a dead thread."""
        if not self._thread.is_alive():
            return self._q.empty()
        marker = _Flush()
        self._q.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop the thread and return True when it ended in time."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        self._q.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- thread --------------------------------------------------------------
    def _run(self) -> None:
        """Drain the queue in batches until the stop marker."""
        try:
            while True:
                batch, markers, stop = self._collect(self._q.get())
                self._write(batch)
                for m in markers:
                    m.done.set()
                if stop:
                    break
            self._drain_after_stop()
        except BaseException:  # pragma: no cover - keep the process alive, say why
            log.exception("LedgerWriter thread died")
        finally:
            self.ledger.close_thread()

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
        """Write events that raced in behind the stop marker."""
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
        self._write(late)

    def _write(self, batch: list[Event]) -> None:
        """Commit a batch; retry once, then log and count it as lost (never raise)."""
        if not batch:
            return
        if commit_with_retry(self.ledger, batch):
            self.written += len(batch)
        else:
            self.errors += 1
            self.dropped += len(batch)
