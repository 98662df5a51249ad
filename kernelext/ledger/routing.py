"""Events -> rows: every event lands in ``events``; order, fill, position, equity, bar and
session-status stages are also routed to their own tables, and order intents (submit with the
risk decision, modify, cancel) to the audit chain, all in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from kernelext.events import ORDER_INTENT_STAGES, ORDER_STAGES, POSITION_STAGES, Event
from kernelext.ledger.audit import append_rows
from kernelext.ledger.codec import dumps, integer, num, txt

log = logging.getLogger(__name__)

_SQL_EVENT = (
    "INSERT INTO events(session_id, sleeve, stage, message, ts, extras_json)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
# An order's status follows its newest event, except that a final status (FILLED, CANCELED,
# ...) is never replaced by an earlier stage: venues stamp fills with their own clock (IB's
# execution times are whole seconds), so OrderSubmitted can carry a later ts than the fill.
# Likewise an order never goes back to SUBMITTED once the venue answered (the sandbox stamps
# OrderAccepted with market time, which on a replay can precede the wall-clock submit).
FINAL_ORDER_STATUSES: tuple[str, ...] = ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED")
"""Order statuses after which an order can no longer fill."""
_SQL_ORDER = """
INSERT INTO orders(session_id, sleeve, client_order_id, instrument, side, order_type,
                   quantity, price, status, reason, strategy_id, ts_submitted, ts_updated,
                   init_json, venue_order_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(session_id, client_order_id) DO UPDATE SET
    sleeve = COALESCE(excluded.sleeve, orders.sleeve),
    instrument = COALESCE(excluded.instrument, orders.instrument),
    side = COALESCE(excluded.side, orders.side),
    order_type = COALESCE(excluded.order_type, orders.order_type),
    quantity = COALESCE(excluded.quantity, orders.quantity),
    price = COALESCE(excluded.price, orders.price),
    strategy_id = COALESCE(excluded.strategy_id, orders.strategy_id),
    reason = COALESCE(excluded.reason, orders.reason),
    init_json = COALESCE(excluded.init_json, orders.init_json),
    venue_order_id = COALESCE(excluded.venue_order_id, orders.venue_order_id),
    status = CASE
        WHEN excluded.status IS NULL THEN orders.status
        WHEN orders.status IN {final}
             AND excluded.status NOT IN {final}
             THEN orders.status
        WHEN excluded.status IN {final}
             AND orders.status NOT IN {final}
             THEN excluded.status
        WHEN excluded.status = 'SUBMITTED' THEN orders.status
        WHEN orders.status = 'SUBMITTED' THEN excluded.status
        WHEN excluded.ts_updated >= orders.ts_updated THEN excluded.status
        ELSE orders.status END,
    ts_submitted = MIN(orders.ts_submitted, excluded.ts_submitted),
    ts_updated = MAX(orders.ts_updated, excluded.ts_updated)
""".replace("{final}", "(" + ", ".join(f"'{status}'" for status in FINAL_ORDER_STATUSES) + ")")
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
_SQL_BAR = (
    "INSERT OR IGNORE INTO bars(session_id, bar_type, ts, open, high, low, close, volume, historical)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQL_STRATEGY_STATE = """
INSERT INTO strategy_state(session_id, strategy_id, ts, state_json) VALUES (?, ?, ?, ?)
ON CONFLICT(session_id, strategy_id) DO UPDATE SET ts = excluded.ts, state_json = excluded.state_json
WHERE excluded.ts >= strategy_state.ts
"""
_SQL_STATUS = "UPDATE sessions SET status = ? WHERE id = ? AND status IN ('starting', 'running', 'paused')"

_STAGE_STATUS = {
    "order.submitted": "SUBMITTED",
    "order.accepted": "ACCEPTED",
    "order.expired": "EXPIRED",
    "order.denied": "DENIED",
    "order.rejected": "REJECTED",
    "order.filled": "FILLED",
    "order.canceled": "CANCELED",
}

# Live status changes travel as events, so the node thread never writes the ledger itself.
_STAGE_SESSION_STATUS = {
    "session.running": "running",
    "control.pause": "paused",
    "control.resume": "running",
    "control.flatten": "paused",
}


class _Rows:
    """Per-table parameter lists for one ``write_events`` batch."""

    __slots__ = ("events", "orders", "fills", "positions", "equity", "status", "bars", "states", "audit")

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.orders: list[tuple] = []
        self.fills: list[tuple] = []
        self.positions: list[tuple] = []
        self.equity: list[tuple] = []
        self.status: list[tuple] = []
        self.bars: list[tuple] = []
        self.states: list[tuple] = []
        self.audit: list[tuple] = []


def _audit_intent(ev: Event, rows: _Rows) -> None:
    """The audit row of an order intent: what was asked, by which strategy, and the risk decision."""
    x = ev.extras
    detail = {
        "session_id": ev.session_id, "sleeve": ev.sleeve, "client_order_id": x.get("client_order_id"),
        "instrument": x.get("instrument"), "side": x.get("side"), "order_type": x.get("order_type"),
        "quantity": x.get("quantity"), "price": x.get("price"),
    }
    if ev.stage in ("order.submitted", "order.denied"):
        detail["risk"] = "denied" if ev.stage == "order.denied" else "approved"
        if x.get("reason"):
            detail["reason"] = x["reason"]
    rows.audit.append((ev.ts, f"strategy {x.get('strategy_id')}", ORDER_INTENT_STAGES[ev.stage], detail))


def _route(ev: Event, rows: _Rows) -> None:
    """Append the rows one event produces."""
    sid, sleeve, stage, ts, x = ev.session_id, ev.sleeve, ev.stage, ev.ts, ev.extras
    if stage == "equity.batch":  # the equity curve: rows of the equity table, not events
        cur = txt(x.get("currency"))
        rows.equity.extend((sid, *point, cur) for point in x.get("points", ()))
        return
    if stage == "bar.batch":  # the bars strategies saw: rows of the bars table, not events
        rows.bars.extend((sid, *bar) for bar in x.get("bars", ()))
        return
    if stage == "strategy.saved":  # the latest state per strategy, not an event
        rows.states.append((sid, txt(x.get("strategy_id")), ts, dumps(x.get("state") or {})))
        return
    rows.events.append((sid, sleeve, stage, ev.message, ts, dumps(x) if x else None))
    if stage in ORDER_INTENT_STAGES:
        _audit_intent(ev, rows)
    if stage in ORDER_STAGES:
        _route_order(ev, rows)
    elif stage in POSITION_STAGES:
        rows.positions.append(
            (
                sid, sleeve, txt(x.get("position_id")), txt(x.get("instrument")),
                txt(x.get("side")), num(x.get("quantity")), num(x.get("avg_px_open")),
                num(x.get("avg_px_close")), num(x.get("realized_pnl")),
                num(x.get("unrealized_pnl")), txt(x.get("currency")),
                integer(x.get("ts_opened")) or (ts if stage == "position.opened" else None),
                (integer(x.get("ts_closed")) or ts) if stage == "position.closed" else None,
                ts,
            )
        )
    elif stage in _STAGE_SESSION_STATUS:
        rows.status.append((_STAGE_SESSION_STATUS[stage], sid))
    elif stage == "equity.update":
        rows.equity.append(
            (
                sid, ts, num(x.get("equity")), num(x.get("balance")),
                num(x.get("available")), num(x.get("unrealized_pnl")),
                num(x.get("realized_pnl")), num(x.get("exposure")),
                txt(x.get("currency")),
            )
        )


def _route_order(ev: Event, rows: _Rows) -> None:
    """orders upsert row, plus a fills row for ``order.filled``."""
    sid, sleeve, stage, ts, x = ev.session_id, ev.sleeve, ev.stage, ev.ts, ev.extras
    coid, instrument, side = txt(x.get("client_order_id")), txt(x.get("instrument")), txt(x.get("side"))
    if coid is None:
        log.warning("%s event without client_order_id in session %s: not routed", stage, sid)
        return
    rows.orders.append(
        (
            sid, sleeve, coid, instrument, side, txt(x.get("order_type")),
            num(x.get("quantity")), num(x.get("price")),
            txt(x.get("status")) or _STAGE_STATUS[stage], txt(x.get("reason")),
            txt(x.get("strategy_id")), ts, ts,
            dumps(x["init"]) if x.get("init") else None, txt(x.get("venue_order_id")),
        )
    )
    if stage == "order.filled":
        rows.fills.append(
            (
                sid, sleeve, coid, txt(x.get("venue_order_id")), txt(x.get("trade_id")),
                txt(x.get("position_id")), instrument, side, num(x.get("last_qty")),
                num(x.get("last_px")), num(x.get("commission")),
                txt(x.get("commission_currency")), txt(x.get("liquidity")), ts,
            )
        )


def route_events(events: Iterable[Event]) -> _Rows | None:
    """The rows a batch of events produces, or None when it produces nothing to write."""
    rows = _Rows()
    for ev in events:
        _route(ev, rows)
    if not rows.events and not rows.equity and not rows.bars and not rows.states:
        return None
    return rows


def insert_rows(con: Any, rows: _Rows, *, audit: bool = True) -> None:
    """Insert/upsert routed rows on ``con`` (inside the caller's transaction); order intents
    join the audit chain unless ``audit`` is False (a backtest's simulated orders)."""
    con.executemany(_SQL_EVENT, rows.events)
    if audit and rows.audit:
        append_rows(con, rows.audit)
    if rows.orders:
        con.executemany(_SQL_ORDER, rows.orders)
    if rows.fills:
        con.executemany(_SQL_FILL, rows.fills)
    if rows.positions:
        con.executemany(_SQL_POSITION, rows.positions)
    if rows.equity:
        con.executemany(_SQL_EQUITY, rows.equity)
    if rows.bars:
        con.executemany(_SQL_BAR, rows.bars)
    if rows.states:
        con.executemany(_SQL_STRATEGY_STATE, rows.states)
    if rows.status:
        con.executemany(_SQL_STATUS, rows.status)
