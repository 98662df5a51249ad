"""Every read the rest of the house makes of the ledger: one named function per question.

Functions return rows (tuples, in the column order their docstring names), dicts or plain
values; :mod:`kernelext.research.frames` turns rows into Polars frames. No module outside
``kernelext/ledger/`` holds SQL (``tests/architecture`` checks it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from kernelext.ledger.routing import FINAL_ORDER_STATUSES  # noqa: F401  (re-exported for the facade)
from kernelext.ledger.sessions import ACTIVE_STATUSES
from kernelext.ledger.store import Ledger

EQUITY_FIELDS = ("equity", "balance", "available", "unrealized_pnl", "realized_pnl", "exposure")
_FEED_EVENT = "id, sleeve, stage, message, ts, extras_json"
_FEED_EQUITY = "rowid, ts, " + ", ".join(EQUITY_FIELDS) + ", currency"
_PROCESS = "id, status, pid, host"
_ACTIVE_MARKS = ", ".join("?" * len(ACTIVE_STATUSES))


# -- sessions ----------------------------------------------------------------------------------


def sessions_table(ledger: Ledger) -> list[tuple]:
    """Every session, newest first: id, label, kind, venue, feed, status, started_at, ended_at,
    last_error, pid, host, and counts of sleeves, fills, orders, then the sum of fees."""
    return ledger.query(
        """
SELECT s.id, s.label, s.kind, s.venue, s.feed, s.status, s.started_at, s.ended_at,
       s.last_error, s.pid, s.host,
       (SELECT COUNT(*) FROM sleeves x WHERE x.session_id = s.id),
       (SELECT COUNT(*) FROM fills f WHERE f.session_id = s.id),
       (SELECT COUNT(*) FROM orders o WHERE o.session_id = s.id),
       (SELECT COALESCE(SUM(f.fee), 0.0) FROM fills f WHERE f.session_id = s.id)
FROM sessions s ORDER BY s.started_at DESC, s.rowid DESC
"""
    )


def session_statuses(ledger: Ledger) -> list[tuple[str, str]]:
    """(id, status) of every session, by id."""
    return ledger.query("SELECT id, status FROM sessions ORDER BY id")


def session_header(ledger: Ledger, session_id: str) -> dict[str, Any] | None:
    """label, kind, venue, feed, status and last_error of one session (None when gone)."""
    found = ledger.query_dicts(
        "SELECT label, kind, venue, feed, status, last_error FROM sessions WHERE id = ?", (session_id,)
    )
    return found[0] if found else None


def session_processes(ledger: Ledger, session_id: str | None = None) -> list[dict[str, Any]]:
    """id, status, pid and host of one session (empty when gone) or of every session."""
    if session_id is None:
        return ledger.query_dicts(f"SELECT {_PROCESS} FROM sessions")
    return ledger.query_dicts(f"SELECT {_PROCESS} FROM sessions WHERE id = ?", (session_id,))


def active_session_processes(ledger: Ledger) -> list[dict[str, Any]]:
    """id, status, pid and host of the sessions in an active status, newest first."""
    return ledger.query_dicts(
        f"SELECT {_PROCESS} FROM sessions WHERE status IN ({_ACTIVE_MARKS})"
        " ORDER BY started_at DESC, rowid DESC", ACTIVE_STATUSES,
    )


def active_session_specs(ledger: Ledger, venue: str) -> list[tuple[str, str | None]]:
    """(id, spec_json) of the sessions on ``venue`` in an active status."""
    return ledger.query(
        f"SELECT id, spec_json FROM sessions WHERE venue = ? AND status IN ({_ACTIVE_MARKS})",
        (venue, *ACTIVE_STATUSES),
    )


def stopped_backtest_sleeves(ledger: Ledger, strategy_key: str, instrument: str) -> list[tuple]:
    """(session_id, sleeve, params_json) of finished backtests' sleeves trading ``strategy_key``
    on ``instrument``."""
    return ledger.query(
        "SELECT s.id, l.sleeve, l.params_json FROM sessions s JOIN sleeves l ON l.session_id = s.id"
        " WHERE s.kind = 'backtest' AND s.status = 'stopped' AND l.strategy_key = ? AND l.instrument = ?",
        (strategy_key, instrument),
    )


def sleeves(ledger: Ledger, session_id: str | None = None) -> list[dict[str, Any]]:
    """Sleeve rows (session_id, sleeve, strategy_key, instrument, bar_spec, params_json,
    strategy_id) of one session or of all, in insertion order."""
    sql = "SELECT session_id, sleeve, strategy_key, instrument, bar_spec, params_json, strategy_id FROM sleeves"
    if session_id is None:
        return ledger.query_dicts(f"{sql} ORDER BY rowid")
    return ledger.query_dicts(f"{sql} WHERE session_id = ? ORDER BY rowid", (session_id,))


# -- fills, orders, positions, equity, events (frames) -----------------------------------------


def fills(ledger: Ledger, session_id: str) -> list[tuple]:
    """session_id, sleeve, client_order_id, venue_order_id, trade_id, position_id, instrument,
    side, qty, price, fee, fee_currency, liquidity, ts of the session's fills, in ts order."""
    return ledger.query(
        "SELECT session_id, sleeve, client_order_id, venue_order_id, trade_id, position_id,"
        " instrument, side, qty, price, fee, fee_currency, liquidity, ts"
        " FROM fills WHERE session_id = ? ORDER BY ts, rowid",
        (session_id,),
    )


def trip_fills(ledger: Ledger, session_id: str | None = None) -> list[tuple]:
    """session_id, sleeve, instrument, side, qty, price, fee, ts of one session's fills (ts
    order) or of every session's (by session, then ts): the input of round trips."""
    sql = "SELECT session_id, sleeve, instrument, side, qty, price, fee, ts FROM fills"
    if session_id is None:
        return ledger.query(f"{sql} ORDER BY session_id, ts, rowid")
    return ledger.query(f"{sql} WHERE session_id = ? ORDER BY ts, rowid", (session_id,))


def fill_prices(ledger: Ledger, session_id: str) -> list[tuple]:
    """sleeve, instrument, side, price, ts of the session's fills, in ts order."""
    return ledger.query(
        "SELECT sleeve, instrument, side, price, ts FROM fills WHERE session_id = ? ORDER BY ts, rowid",
        (session_id,),
    )


def fill_keys(ledger: Ledger, session_id: str) -> list[tuple]:
    """instrument, side, qty, price, fee of the session's fills, in ts order."""
    return ledger.query(
        "SELECT instrument, side, qty, price, fee FROM fills WHERE session_id = ? ORDER BY ts, rowid",
        (session_id,),
    )


def fill_count(ledger: Ledger, session_id: str | None = None) -> int:
    """How many fills one session (or the whole ledger) has."""
    if session_id is None:
        return ledger.query("SELECT COUNT(*) FROM fills")[0][0]
    return ledger.query("SELECT COUNT(*) FROM fills WHERE session_id = ?", (session_id,))[0][0]


def counts_by_sleeve(ledger: Ledger, session_id: str, table: Literal["fills", "orders"]) -> dict[str | None, int]:
    """sleeve -> number of the session's fills (or orders)."""
    if table not in ("fills", "orders"):
        raise ValueError(f"counts_by_sleeve: table is 'fills' or 'orders', not {table!r}")
    return dict(ledger.query(f"SELECT sleeve, COUNT(*) FROM {table} WHERE session_id = ? GROUP BY sleeve", (session_id,)))


def orders(ledger: Ledger, session_id: str) -> list[tuple]:
    """session_id, sleeve, client_order_id, instrument, side, order_type, quantity, price, status,
    reason, strategy_id, ts_submitted, ts_updated, filled_qty (the sum of its fills) of the
    session's orders, in submission order."""
    return ledger.query(
        "SELECT o.session_id, o.sleeve, o.client_order_id, o.instrument, o.side, o.order_type, o.quantity, o.price,"
        " o.status, o.reason, o.strategy_id, o.ts_submitted, o.ts_updated, COALESCE(f.filled, 0.0)"
        " FROM orders o LEFT JOIN (SELECT client_order_id, SUM(qty) AS filled FROM fills WHERE session_id = ?"
        " GROUP BY client_order_id) f ON f.client_order_id = o.client_order_id"
        " WHERE o.session_id = ? ORDER BY o.ts_submitted, o.rowid",
        (session_id, session_id),
    )


def positions(ledger: Ledger, session_id: str) -> list[tuple]:
    """session_id, sleeve, position_id, instrument, side, quantity, avg_px_open, avg_px_close,
    realized_pnl, unrealized_pnl, currency, opened_ts, closed_ts, ts_updated, by opening."""
    return ledger.query(
        "SELECT session_id, sleeve, position_id, instrument, side, quantity, avg_px_open,"
        " avg_px_close, realized_pnl, unrealized_pnl, currency, opened_ts, closed_ts, ts_updated"
        " FROM positions WHERE session_id = ? ORDER BY opened_ts, rowid",
        (session_id,),
    )


def equity(ledger: Ledger, session_id: str) -> list[tuple]:
    """session_id, ts, equity, balance, available, unrealized_pnl, realized_pnl, exposure,
    currency of the session's equity points, in ts order."""
    return ledger.query(
        "SELECT session_id, ts, equity, balance, available, unrealized_pnl, realized_pnl,"
        " exposure, currency FROM equity WHERE session_id = ? ORDER BY ts, rowid",
        (session_id,),
    )


def equity_curve(ledger: Ledger, session_id: str) -> list[tuple]:
    """ts, equity, currency of the session's equity points in ts order: what its statistics read
    (a third of ``equity``'s columns: a long curve comes back in a third of the time)."""
    return ledger.query(
        "SELECT ts, equity, currency FROM equity WHERE session_id = ? ORDER BY ts, rowid", (session_id,))


def first_balance(ledger: Ledger, session_id: str) -> float | None:
    """The balance of the session's earliest equity point (None without one)."""
    rows = ledger.query("SELECT balance FROM equity WHERE session_id = ? ORDER BY ts LIMIT 1", (session_id,))
    return rows[0][0] if rows else None


def events(ledger: Ledger, session_id: str, stage: str | None = None) -> list[tuple]:
    """id, session_id, sleeve, stage, message, ts, extras_json of the session's events in ts
    order; ``stage`` is exact or a glob ("order.*")."""
    sql = "SELECT id, session_id, sleeve, stage, message, ts, extras_json FROM events WHERE session_id = ?"
    if stage is None:
        return ledger.query(f"{sql} ORDER BY ts, id", (session_id,))
    return ledger.query(f"{sql} AND stage GLOB ? ORDER BY ts, id", (session_id, stage))


def signal_times(ledger: Ledger, session_id: str) -> list[tuple]:
    """(sleeve, ts) of the session's ``signal.emitted`` events, in ts order."""
    return ledger.query(
        "SELECT sleeve, ts FROM events WHERE session_id = ? AND stage = 'signal.emitted' ORDER BY ts, id",
        (session_id,),
    )


# -- bars --------------------------------------------------------------------------------------


def bars(ledger: Ledger, session_id: str) -> list[tuple]:
    """bar_type, ts, open, high, low, close, volume, historical of the session's bars: the
    warm-up first, then by bar type and ts."""
    return ledger.query(
        "SELECT bar_type, ts, open, high, low, close, volume, historical FROM bars"
        " WHERE session_id = ? ORDER BY historical DESC, bar_type, ts",
        (session_id,),
    )


def live_closes(ledger: Ledger, session_id: str) -> list[tuple]:
    """(bar_type, ts, close) of the session's non-historical bars, by bar type and ts."""
    return ledger.query(
        "SELECT bar_type, ts, close FROM bars WHERE session_id = ? AND historical = 0 ORDER BY bar_type, ts",
        (session_id,),
    )


def live_bar_facts(ledger: Ledger, session_id: str) -> tuple[int, int | None, int | None, list[str]]:
    """(count, first ts, last ts, sorted bar types) of the session's non-historical bars."""
    n, first, last = ledger.query(
        "SELECT COUNT(*), MIN(ts), MAX(ts) FROM bars WHERE session_id = ? AND historical = 0", (session_id,)
    )[0]
    types = [r[0] for r in ledger.query(
        "SELECT DISTINCT bar_type FROM bars WHERE session_id = ? AND historical = 0 ORDER BY 1", (session_id,))]
    return int(n), first, last, types


def live_bar_types(ledger: Ledger, session_id: str) -> list[str]:
    """The sorted bar types the session has non-historical bars of: one index seek per bar type
    (never a scan of a long session's bars)."""
    out: list[str] = []
    last = ""
    while found := ledger.query(
        "SELECT bar_type FROM bars WHERE session_id = ? AND bar_type > ? ORDER BY bar_type LIMIT 1", (session_id, last)
    ):
        last = found[0][0]
        if ledger.query("SELECT 1 FROM bars WHERE session_id = ? AND bar_type = ? AND historical = 0 LIMIT 1",
                        (session_id, last)):
            out.append(last)
    return out


def live_bars_tail(ledger: Ledger, session_id: str, bar_type: str, after_ts: int, limit: int) -> list[tuple]:
    """ts, open, high, low, close, volume of the last ``limit`` non-historical bars of ``bar_type``
    with ``ts > after_ts``, oldest first (a backward range scan of the primary key)."""
    rows = ledger.query(
        "SELECT ts, open, high, low, close, volume FROM bars WHERE session_id = ? AND bar_type = ? AND ts > ?"
        " AND historical = 0 ORDER BY ts DESC LIMIT ?",
        (session_id, bar_type, after_ts, limit),
    )
    rows.reverse()
    return rows


def resume_after_ts(ledger: Ledger, session_id: str) -> int | None:
    """The ts of the last live bar recorded for every bar type of the session (the earliest of
    each type's last), or None when none was recorded: where a relaunched feed continues."""
    row = ledger.query(
        "SELECT MIN(last_ts) FROM (SELECT MAX(ts) AS last_ts FROM bars WHERE session_id = ? AND historical = 0"
        " GROUP BY bar_type) AS per_type", (session_id,),
    )
    return row[0][0] if row else None


def common_bars(ledger: Ledger, a: str, b: str) -> tuple[int, int]:
    """(bars of ``a`` and ``b`` at the same bar type and ts, of those with identical OHLCV)."""
    n, same = ledger.query(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN x.open IS NOT DISTINCT FROM y.open"
        " AND x.high IS NOT DISTINCT FROM y.high AND x.low IS NOT DISTINCT FROM y.low"
        " AND x.close IS NOT DISTINCT FROM y.close AND x.volume IS NOT DISTINCT FROM y.volume THEN 1 ELSE 0 END), 0)"
        " FROM bars x JOIN bars y ON y.session_id = ? AND y.bar_type = x.bar_type AND y.ts = x.ts"
        " AND y.historical = 0 WHERE x.session_id = ? AND x.historical = 0",
        (b, a),
    )[0]
    return int(n), int(same)


def session_instruments(ledger: Ledger, session_id: str) -> set[str]:
    """The instruments of the session's sleeves and fills."""
    rows = ledger.query(
        "SELECT instrument FROM sleeves WHERE session_id = ? UNION SELECT instrument FROM fills"
        " WHERE session_id = ?", (session_id, session_id),
    )
    return {r[0] for r in rows if r[0]}


# -- the live feed (events by id, equity by rowid) ---------------------------------------------


def max_event_id(ledger: Ledger) -> int:
    """The newest events.id of the whole ledger (0 when empty)."""
    return ledger.query("SELECT MAX(id) FROM events")[0][0] or 0


def max_equity_rowid(ledger: Ledger) -> int:
    """The highest equity rowid of the whole ledger (0 when empty)."""
    return ledger.query("SELECT MAX(rowid) FROM equity")[0][0] or 0


def feed_events_between(ledger: Ledger, session_id: str, after_id: int, upto_id: int, limit: int) -> list[tuple]:
    """id, sleeve, stage, message, ts, extras_json of the session's non-``equity.*`` events with
    ``after_id < id <= upto_id``, by id (an id range scan: cheap per poll)."""
    return ledger.query(
        f"SELECT {_FEED_EVENT} FROM events WHERE id > ? AND id <= ? AND +session_id = ?"
        " AND stage NOT GLOB 'equity.*' ORDER BY id LIMIT ?",
        (after_id, upto_id, session_id, limit),
    )


def feed_latest_events(
    ledger: Ledger, session_id: str, upto_id: int, limit: int, *,
    glob: str | None = None, exclude: Sequence[str] = (),
) -> list[tuple]:
    """The session's last ``limit`` events with ``id <= upto_id`` (newest first), of stages
    matching ``glob`` or else matching none of ``exclude``; columns as ``feed_events_between``."""
    base = f"SELECT {_FEED_EVENT} FROM events WHERE session_id = ? AND id <= ?"
    if glob is not None:
        return ledger.query(f"{base} AND stage GLOB ? ORDER BY id DESC LIMIT ?", (session_id, upto_id, glob, limit))
    not_glob = " AND ".join("stage NOT GLOB ?" for _ in exclude)
    return ledger.query(
        f"{base} AND {not_glob} ORDER BY id DESC LIMIT ?", (session_id, upto_id, *exclude, limit)
    )


def feed_equity_first(ledger: Ledger, session_id: str, limit: int) -> list[tuple]:
    """rowid, ts, equity, balance, available, unrealized_pnl, realized_pnl, exposure, currency
    of the session's first ``limit`` equity points (through the session index)."""
    return ledger.query(
        f"SELECT {_FEED_EQUITY} FROM equity WHERE session_id = ? ORDER BY rowid LIMIT ?",
        (session_id, limit),
    )


def feed_equity_between(
    ledger: Ledger, session_id: str, after_rowid: int, upto_rowid: int, limit: int
) -> list[tuple]:
    """The session's equity points with ``after_rowid < rowid <= upto_rowid`` (a rowid range
    scan), columns as ``feed_equity_first``."""
    return ledger.query(
        f"SELECT {_FEED_EQUITY} FROM equity WHERE rowid > ? AND rowid <= ? AND +session_id = ?"
        " ORDER BY rowid LIMIT ?",
        (after_rowid, upto_rowid, session_id, limit),
    )


def feed_equity_last(ledger: Ledger, session_id: str, limit: int) -> list[tuple]:
    """The session's last ``limit`` equity points, oldest first; columns as ``feed_equity_first``."""
    rows = ledger.query(
        f"SELECT {_FEED_EQUITY} FROM equity WHERE session_id = ? ORDER BY rowid DESC LIMIT ?", (session_id, limit)
    )
    rows.reverse()
    return rows


def feed_totals(ledger: Ledger, session_id: str) -> tuple[int, int]:
    """(non-``equity.*`` events, equity points) of the session."""
    n_events, n_equity = ledger.query(
        "SELECT (SELECT COUNT(*) FROM events WHERE session_id = ? AND stage NOT GLOB 'equity.*'),"
        " (SELECT COUNT(*) FROM equity WHERE session_id = ?)", (session_id, session_id),
    )[0]
    return int(n_events), int(n_equity)


# -- supervised (detached) sessions -------------------------------------------------------------


def detached_sessions(ledger: Ledger, command: str, statuses: Sequence[str]) -> list[dict[str, Any]]:
    """id, status, pid and host of the sessions ever asked for by ``command`` (the supervisor's
    launch request) whose status is one of ``statuses``, oldest first."""
    marks = ", ".join("?" * len(statuses))
    return ledger.query_dicts(
        f"SELECT {_PROCESS} FROM sessions WHERE status IN ({marks}) AND id IN"
        " (SELECT session_id FROM commands WHERE command = ?) ORDER BY started_at, rowid",
        (*statuses, command),
    )


# -- the shell's status of any session ---------------------------------------------------------



def session_process_row(ledger: Ledger, session_id: str) -> dict[str, Any] | None:
    """id, label, kind, venue, feed, status, started_at, ended_at, last_error, pid, host of one session."""
    found = ledger.query_dicts(
        "SELECT id, label, kind, venue, feed, status, started_at, ended_at, last_error, pid, host"
        " FROM sessions WHERE id = ?", (session_id,),
    )
    return found[0] if found else None


def last_equity(ledger: Ledger, session_id: str) -> dict[str, Any] | None:
    """The session's newest equity point: ts, the ``EQUITY_FIELDS`` and currency (None without one)."""
    found = ledger.query_dicts(
        f"SELECT ts, {', '.join(EQUITY_FIELDS)}, currency FROM equity WHERE session_id = ?"
        " ORDER BY ts DESC, rowid DESC LIMIT 1", (session_id,),
    )
    return found[0] if found else None


def stage_count(ledger: Ledger, session_id: str, stage: str, since_ns: int = 0) -> int:
    """How many of the session's events have exactly this stage (recorded at or after ``since_ns``)."""
    return int(ledger.query(
        "SELECT COUNT(*) FROM events WHERE session_id = ? AND stage = ? AND ts >= ?", (session_id, stage, since_ns),
    )[0][0])


# -- restore -----------------------------------------------------------------------------------


def restorable_orders(ledger: Ledger, session_id: str) -> list[tuple]:
    """client_order_id, strategy_id, status, init_json, venue_order_id of the session's orders
    that filled (in part or whole) or can still fill, in submit order: what a relaunch rebuilds."""
    marks = ", ".join("?" * len(FINAL_ORDER_STATUSES))
    return ledger.query(
        "SELECT o.client_order_id, o.strategy_id, o.status, o.init_json, o.venue_order_id FROM orders o"
        " LEFT JOIN (SELECT DISTINCT client_order_id FROM fills WHERE session_id = ?) f"
        " ON f.client_order_id = o.client_order_id"
        f" WHERE o.session_id = ? AND (o.status NOT IN ({marks}) OR f.client_order_id IS NOT NULL)"
        " ORDER BY o.ts_submitted, o.rowid",
        (session_id, session_id, *FINAL_ORDER_STATUSES),
    )


def restorable_fills(ledger: Ledger, session_id: str) -> list[tuple]:
    """client_order_id, venue_order_id, trade_id, position_id, side, qty, price, fee,
    fee_currency, liquidity, ts of the session's fills in the order they were recorded."""
    return ledger.query(
        "SELECT client_order_id, venue_order_id, trade_id, position_id, side, qty, price, fee, fee_currency,"
        " liquidity, ts FROM fills WHERE session_id = ? ORDER BY rowid",
        (session_id,),
    )


def strategy_states(ledger: Ledger, session_id: str) -> dict[str, str]:
    """strategy id -> its last saved state (JSON text) for the session."""
    return dict(ledger.query("SELECT strategy_id, state_json FROM strategy_state WHERE session_id = ?", (session_id,)))



# -- the supervisor's notifications: new events of some stages, any session ----------------------


def stage_events_after(ledger: Ledger, after_id: int, upto_id: int, stages: Sequence[str],
                       limit: int = 1000) -> list[tuple]:
    """id, session_id, stage, message, ts, extras_json of the events with ``after_id < id <= upto_id``
    (``max_event_id``) whose stage is one of ``stages``, oldest first (a range scan of the new rows)."""
    marks = ", ".join("?" * len(stages))
    return ledger.query(
        f"SELECT id, session_id, stage, message, ts, extras_json FROM events WHERE id > ? AND id <= ?"
        f" AND stage IN ({marks}) ORDER BY id LIMIT ?", (after_id, upto_id, *stages, limit),
    )


# -- the audit log -----------------------------------------------------------------------------


def audit_rows(ledger: Ledger, session_id: str | None = None, since_ns: int = 0,
               limit: int | None = None) -> list[tuple]:
    """id, ts, actor, action, session_id, detail_json, hash of the audit rows at or after ``since_ns``
    (of one session: those whose detail names it), oldest first; ``limit``: the newest that many."""
    where, params = "ts >= ?", [since_ns]
    if session_id:
        where += " AND json_extract(detail_json, '$.session_id') = ?"
        params.append(session_id)
    sql = (f"SELECT id, ts, actor, action, json_extract(detail_json, '$.session_id'), detail_json, hash"
           f" FROM audit WHERE {where} ORDER BY id DESC")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return ledger.query(sql, params)[::-1]


# -- live approvals ----------------------------------------------------------------------------

APPROVAL_COLUMNS = ("id", "strategy_key", "instrument", "params_json", "paper_session", "note", "approved_by",
                    "approved_ts", "revoked_by", "revoked_ts")


def approvals(ledger: Ledger, *, active_only: bool = True) -> list[dict[str, Any]]:
    """Approvals (``APPROVAL_COLUMNS``), newest first; ``active_only``: those not revoked."""
    where = " WHERE revoked_ts IS NULL" if active_only else ""
    return ledger.query_dicts(f"SELECT {', '.join(APPROVAL_COLUMNS)} FROM approvals{where} ORDER BY id DESC")


def paper_sessions_that_traded(ledger: Ledger, strategy_key: str, instrument: str) -> list[tuple[str, int]]:
    """(session id, fills of that sleeve) of the paper sessions where ``strategy_key`` traded
    ``instrument`` (at least one fill), newest first."""
    return ledger.query(
        """
SELECT id, n FROM (
    SELECT s.id, s.started_at,
           (SELECT COUNT(*) FROM fills f WHERE f.session_id = s.id AND f.sleeve = x.sleeve) AS n
    FROM sessions s JOIN sleeves x ON x.session_id = s.id
    WHERE s.kind = 'paper' AND x.strategy_key = ? AND x.instrument = ?) AS traded
WHERE n > 0 ORDER BY started_at DESC
""",
        (strategy_key, instrument),
    )


# -- API tokens (salted hashes; ledger/tokens.py writes them) ------------------------------------

_TOKEN_COLS = "id, name, scope, salt, hash, created_ts, created_by, revoked_ts, revoked_by"


def api_token(ledger: Ledger, token_id: str) -> dict[str, Any] | None:
    """One token row by its public id (salt and hash included, for the check), or None."""
    rows = ledger.query(f"SELECT {_TOKEN_COLS} FROM api_tokens WHERE id = ?", (token_id,))
    return dict(zip(_TOKEN_COLS.split(", "), rows[0], strict=True)) if rows else None


def api_tokens(ledger: Ledger, *, live_only: bool = False) -> list[dict[str, Any]]:
    """Every token (or only the unrevoked), oldest first, without salt and hash."""
    cols = "id, name, scope, created_ts, created_by, revoked_ts, revoked_by"
    where = " WHERE revoked_ts IS NULL" if live_only else ""
    rows = ledger.query(f"SELECT {cols} FROM api_tokens{where} ORDER BY created_ts", ())
    return [dict(zip(cols.split(", "), r, strict=True)) for r in rows]


def feed_all_events_between(ledger: Ledger, after_id: int, upto_id: int, limit: int) -> list[tuple]:
    """id, session_id, sleeve, stage, message, ts, extras_json of every session's non-``equity.*``
    events with ``after_id < id <= upto_id``, by id (the HTTP API's all-sessions stream)."""
    return ledger.query(
        "SELECT id, session_id, sleeve, stage, message, ts, extras_json FROM events WHERE id > ? AND id <= ?"
        " AND stage NOT GLOB 'equity.*' ORDER BY id LIMIT ?",
        (after_id, upto_id, limit),
    )
