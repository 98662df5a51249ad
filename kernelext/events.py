"""The event envelope: the one shape every live or stored event takes.

``{session_id, sleeve, stage, message, ts, **extras}`` with ``ts`` in UTC
nanoseconds. The telemetry actor makes them inside the node, the hub fans them
out, the ledger stores them and routes the order/fill/position/equity stages to
their own tables.

Extras by stage (all numbers are plain floats/ints, ids are strings):

- ``order.submitted`` / ``order.denied`` / ``order.rejected`` / ``order.canceled``:
  ``client_order_id, instrument, side ("BUY"|"SELL"), order_type, quantity,
  price (float|None), status, strategy_id`` and ``reason`` (denied/rejected).
  ``order.submitted`` also carries ``init``: the order's Nautilus ``OrderInitialized`` as a
  dict (what a relaunched session rebuilds it from); ``order.accepted`` carries ``venue_order_id``.
- ``order.filled``: the above plus ``trade_id, venue_order_id, position_id,
  last_qty, last_px, commission, commission_currency, liquidity``.
- ``position.opened`` / ``position.changed`` / ``position.closed``:
  ``position_id, instrument, side ("LONG"|"SHORT"|"FLAT"), quantity,
  avg_px_open, avg_px_close, realized_pnl, unrealized_pnl, currency``.
- ``equity.update``: ``equity, balance, available, unrealized_pnl,
  realized_pnl, exposure, currency`` (live views; sampled ~10x per wall second).
  ``realized_pnl`` is balance minus starting cash: realized P&L net of fees.
- ``equity.batch``: ``currency, points`` with one ``(ts, equity, balance, available,
  unrealized_pnl, realized_pnl, exposure)`` tuple per market timestamp: the full
  equity curve, stored in the ledger's ``equity`` table only (not as event rows).
- ``bar.batch``: ``bars``, one ``(bar_type, ts, open, high, low, close, volume,
  historical)`` tuple per bar the strategies saw (historical = warm-up), stored in the
  ledger's ``bars`` table only: a finished session can be re-run over exactly its data.
- ``strategy.saved``: ``strategy_id, state`` (the strategy's ``on_save`` dict, values base64):
  the latest per strategy, stored in the ledger's ``strategy_state`` table only.
- ``bar.received``: ``instrument, bar_type, open, high, low, close, volume``.
- ``session.relaunched``: ``attempt`` (1 for the first relaunch), ``previous_pid``, ``reason``.
- ``session.restored``: ``fills, orders, resting, positions, strategies, balances, skipped``: what a
  relaunched or resumed session put back from the ledger before trading.
- ``ledger.stalled``: ``pending, spooled, error``: the ledger writer has waited over ~1 s for
  a busy ledger (or spooled); written by the writer itself once the ledger takes writes again.
- ``report.written``: ``path, final, backtest_id, notified`` (masked URLs that took it), ``trades,
  realized_pnl, fees``: a session's report was written (``paperlab report``, or its schedule).
- ``risk.margin_call`` / ``risk.liquidated``: ``margin_level, used_margin, free_margin`` (a margin
  session's margin level below Kraken's 80 % call level / at its 40 % liquidation level).
- ``session.*``, ``control.*``, ``risk.halted``, ``feed.*``: free-form extras.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

STAGES: frozenset[str] = frozenset(
    {
        "session.starting",
        "session.running",
        "session.stopped",
        "session.error",
        "session.relaunched",
        "session.restored",
        "session.placed",
        "bar.received",
        "signal.emitted",
        "order.submitted",
        "order.accepted",
        "order.denied",
        "order.rejected",
        "order.filled",
        "order.canceled",
        "order.expired",
        "order.modify_requested",
        "order.cancel_requested",
        "position.opened",
        "position.changed",
        "position.closed",
        "equity.update",
        "equity.batch",
        "bar.batch",
        "strategy.saved",
        "risk.halted",
        "risk.margin_call",
        "risk.liquidated",
        "control.pause",
        "control.resume",
        "control.flatten",
        "control.kill",
        "control.stop",
        "feed.stale",
        "feed.ok",
        "feed.reconnected",
        "ledger.stalled",
        "report.written",
    }
)

CONTROL_VERBS: tuple[str, ...] = ("pause", "resume", "flatten", "kill", "stop")
"""The controls every surface offers, in this order (the one list)."""

ORDER_STAGES: frozenset[str] = frozenset(
    {"order.submitted", "order.accepted", "order.denied", "order.rejected", "order.filled", "order.canceled",
     "order.expired"}
)
ORDER_INTENT_STAGES: dict[str, str] = {
    "order.submitted": "order.submit",
    "order.denied": "order.submit",
    "order.modify_requested": "order.modify",
    "order.cancel_requested": "order.cancel",
}
"""Stages that record what a strategy asked for -> the audit log's action (with the risk decision)."""
POSITION_STAGES: frozenset[str] = frozenset(
    {"position.opened", "position.changed", "position.closed"}
)


def now_ns() -> int:
    """Wall-clock time in UTC nanoseconds."""
    return time.time_ns()


@dataclass(frozen=True, slots=True)
class Event:
    """One envelope. ``extras`` carries the stage-specific fields."""

    session_id: str
    sleeve: str | None
    stage: str
    message: str
    ts: int
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The flat envelope ``{session_id, sleeve, stage, message, ts, **extras}``."""
        return {
            **self.extras,
            "session_id": self.session_id,
            "sleeve": self.sleeve,
            "stage": self.stage,
            "message": self.message,
            "ts": self.ts,
        }


def eastern_text(ts_ns: int) -> str:
    """UTC nanoseconds as US/Eastern wall time, ``2026-11-30 09:31:02 ET`` (how times are shown)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    when = dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC).astimezone(ZoneInfo("America/New_York"))
    return when.strftime("%Y-%m-%d %H:%M:%S ET")
