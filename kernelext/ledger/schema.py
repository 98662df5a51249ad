"""The ledger's schema: append-only migrations keyed by ``PRAGMA user_version``.

v1 sessions, sleeves, orders, fills, positions, events, equity, commands, audit;
v2 cached venue instrument lists; v3 the bars each session's strategies saw;
v4 ``gateway_health`` (IB Gateway transitions); v5 restore columns and ``strategy_state``;
v6 the audit log made append-only by triggers, and ``approvals`` (live trading's gate 3);
v7 ``api_tokens`` (the HTTP API's bearer tokens, salted hashes only); v8 ``writer_batches`` (each
ledger writer's last committed batch: a retried or replayed batch is stored once).

On PostgreSQL the same migrations run through :func:`kernelext.ledger.dialect.migration`, the
version kept in ``paperlab_schema``: write a new migration in SQLite's dialect and check that it
translates (the ledger tests build every PostgreSQL ledger from all of them).
"""

from __future__ import annotations

from typing import Any

from kernelext.ledger import dialect

# The tables whose rows belong to one session (``session_id``): deleted with it.
SESSION_TABLES: tuple[str, ...] = (
    "bars",
    "sleeves",
    "orders",
    "fills",
    "positions",
    "events",
    "equity",
    "commands",
    "strategy_state",
    "writer_batches",
)

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
    [  # v5: what a relaunched or resumed session restores: each order as Nautilus initialized it
        # (its OrderInitialized event) with its venue id, and the strategies' saved state
        "ALTER TABLE orders ADD COLUMN init_json TEXT",
        "ALTER TABLE orders ADD COLUMN venue_order_id TEXT",
        """CREATE TABLE strategy_state (
            session_id TEXT NOT NULL, strategy_id TEXT NOT NULL, ts INTEGER NOT NULL,
            state_json TEXT NOT NULL, PRIMARY KEY (session_id, strategy_id))""",
    ],
    [  # v6: the audit log refuses UPDATE and DELETE (its hash chain catches whoever drops these);
        # live approvals: who approved which strategy on which instrument, after which paper session
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
           BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
        """CREATE TABLE approvals (
            id INTEGER PRIMARY KEY AUTOINCREMENT, strategy_key TEXT NOT NULL, instrument TEXT NOT NULL,
            params_json TEXT, paper_session TEXT NOT NULL, note TEXT NOT NULL, approved_by TEXT NOT NULL,
            approved_ts INTEGER NOT NULL, revoked_by TEXT, revoked_ts INTEGER)""",
        "CREATE INDEX approvals_key ON approvals(strategy_key, instrument)",
    ],
    [  # v7: API bearer tokens: a salted scrypt hash of each secret, never the secret (ledger/tokens.py)
        """CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, scope TEXT NOT NULL, salt TEXT NOT NULL,
            hash TEXT NOT NULL, created_ts INTEGER NOT NULL, created_by TEXT,
            revoked_ts INTEGER, revoked_by TEXT)""",
        "CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_ts IS NULL",
    ],
    [  # v8: the last batch each ledger writer committed (ledger/store.py write_batches): exactly once
        """CREATE TABLE writer_batches (
            writer_id TEXT PRIMARY KEY, session_id TEXT, seq INTEGER NOT NULL, ts INTEGER NOT NULL)""",
    ],
]


def _is_pg(con: Any) -> bool:
    return getattr(con, "dialect", "sqlite") == "postgresql"


def user_version(con: Any) -> int:
    """``PRAGMA user_version``: how many MIGRATIONS the ledger has (PostgreSQL: ``paperlab_schema``,
    0 before the first migration)."""
    if _is_pg(con):
        if con.execute("SELECT to_regclass('paperlab_schema')").fetchone()[0] is None:
            return 0
        found = con.execute("SELECT version FROM paperlab_schema").fetchone()
        return int(found[0]) if found else 0
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def journal_mode(con: Any) -> str:
    """``PRAGMA journal_mode`` (``wal``)."""
    return str(con.execute("PRAGMA journal_mode").fetchone()[0])


def migrate(con: Any, where: object) -> int:
    """Apply the pending MIGRATIONS inside the caller's transaction; return the version found."""
    target = len(MIGRATIONS)
    pg = _is_pg(con)
    if pg:
        for sql in dialect.BOOTSTRAP:
            con.raw.execute(sql)
    version = user_version(con)
    if version > target:
        raise RuntimeError(f"ledger {where} has schema v{version}, newer than this code (v{target})")
    for statements in MIGRATIONS[version:]:
        for sql in dialect.migration(statements) if pg else statements:
            if pg:
                con.raw.execute(sql)  # DDL as is: no placeholders
            else:
                con.execute(sql)
    if pg:
        con.raw.execute("UPDATE paperlab_schema SET version = %s", (target,))
    else:
        con.execute(f"PRAGMA user_version={target}")
    return version
