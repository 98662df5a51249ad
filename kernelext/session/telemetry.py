"""The telemetry actor: Nautilus events inside the node -> ``Event`` envelopes -> hub.

It runs on the node's thread and does no I/O: it reads the cache and portfolio,
builds envelopes and hands them to the hub (whose sinks are non-blocking). It also
keeps the live counters the runner reports, equity's running peak for the optional
drawdown halt, and the reason of a system shutdown (a strategy that raised).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import pandas as pd

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig
from nautilus_trader.common.messages import ShutdownSystem
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import BookType
from nautilus_trader.model.events import (
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderPendingCancel,
    OrderPendingUpdate,
    OrderRejected,
    OrderSubmitted,
    PositionChanged,
    PositionClosed,
    PositionEvent,
    PositionOpened,
)
from nautilus_trader.model.identifiers import InstrumentId, Venue
from nautilus_trader.model.objects import Currency

from kernelext.events import Event
from kernelext.session import marks
from kernelext.session.margin import LIQUIDATION_LEVEL, MARGIN_CALL_LEVEL, MarginState, MarginWatch
from kernelext.session.reasons import plain
from kernelext.session.state import StateSaver

_ORDER_STAGES: dict[type, str] = {
    OrderSubmitted: "order.submitted",
    OrderAccepted: "order.accepted",
    OrderDenied: "order.denied",
    OrderRejected: "order.rejected",
    OrderFilled: "order.filled",
    OrderCanceled: "order.canceled",
    OrderExpired: "order.expired",
    OrderPendingUpdate: "order.modify_requested",  # intents, for the audit log (not order statuses)
    OrderPendingCancel: "order.cancel_requested",
}
_POSITION_STAGES: dict[type, str] = {
    PositionOpened: "position.opened",
    PositionChanged: "position.changed",
    PositionClosed: "position.closed",
}
# Cadences are wall time (time.monotonic_ns), not the node's clock: in a backtest that
# clock is market time, and would flush on every bar.
BAR_SAMPLE_NS = 250_000_000  # bar.received goes to live views at most 4x per wall second
EQUITY_FLUSH_NS = 100_000_000  # equity points and bars reach the ledger (and views) 10x per wall second
# A backtest marked as it goes sends its bars' rows and points every this many bars: the writer stores
# them while the run goes on, and what is left to store when the run ends (which it waits for) is small.
AFTER_RUN_CHUNK = 4_000
STALE_AFTER_S = 5.0  # no quote or trade for this long on a live feed -> feed.stale


def _num(value: Any) -> float:
    """A Price/Quantity/Money as the float nearest its exact decimal (65821.4, not 65821.40000000001)."""
    return float(value.as_decimal())


def _bar_row(bar: Bar, bar_type: Any, ts: int, close: float, historical: int) -> tuple:
    """A ``bars`` ledger row: (bar_type, ts, open, high, low, close, volume, historical)."""
    return (str(bar_type), ts, bar.open.as_double(), bar.high.as_double(), bar.low.as_double(), close,
            bar.volume.as_double(), historical)


class TelemetryConfig(ActorConfig, frozen=True):
    """Config of the telemetry actor (identity only; wiring is passed in code)."""

    component_id: str = "PaperLabTelemetry"


class Telemetry(Actor):
    """Turns order, position, account, bar and shutdown messages into envelopes."""

    def __init__(
        self,
        *,
        session_id: str,
        venue: Venue,
        currency: str,
        starting_cash: float | None,
        sleeves_by_strategy: dict[str, str],
        publish: Callable[..., None],
        max_drawdown_pct: float | None = None,
        halt: Callable[[], None] | None = None,
        live_feed: bool = False,
        instrument_ids: tuple[str, ...] = (),
        stale_after_s: float = STALE_AFTER_S,
        equity_from_venue: bool = False,
        cash_account: bool = False,
        book_depth: int = 0,
        margin_leverage: float | None = None,
        marks_after_run: bool = False,
        order_init: bool = True,
    ) -> None:
        """``order_init``: a submitted order's event carries its ``OrderInitialized`` (what a relaunched
        session rebuilds the order from); a backtest, never relaunched, leaves it out.
        ``marks_after_run``: a recorded backtest without a drawdown cap or margin watch (nothing
        to act on per bar): no equity point per bar here, a snapshot of the account at each fill and
        at the first bar after it changed instead (``snapshots``), marked to the bars' closes as
        the run goes (``marks``)."""
        super().__init__(TelemetryConfig())
        self.session_id = session_id
        self._venue = venue
        self._currency = Currency.from_str(currency)
        self._sleeves = sleeves_by_strategy
        self._publish = publish
        self._max_dd = max_drawdown_pct
        self._halt = halt
        self._live_feed = live_feed
        self._instrument_ids = [InstrumentId.from_str(i) for i in instrument_ids]
        self._stale_after_ns = int(stale_after_s * 1e9)
        self._last_data_ns = 0
        self.feed_stale = False
        self.market_updates = 0
        self.reconnects = 0
        self._last_equity_ts = -1
        self._last_equity_flush = 0
        self._equity_points: list[tuple[int, float, float, float, float, float, float]] = []
        self._bar_rows: list[tuple] = []  # (bar_type, ts, o, h, l, c, v, historical), flushed with equity
        # None: the account's own balance when first seen (an IB account brings its own cash)
        self._starting_cash: float | None = None if starting_cash is None else float(starting_cash)
        self._last_bar_sample = 0
        self.peak_equity: float | None = None
        self.halted = False
        self.bars = 0
        self.orders = 0
        self.fills = 0
        self.denied = 0
        self.last_bar_ts: int | None = None
        self.equity: dict[str, float] = {}
        self.shutdown_reason: str | None = None
        self.signal_sources: dict[str, Any] = {}  # strategy id -> strategy, to attribute signals
        self.states = StateSaver()  # the strategies' on_save state, stored when it changes
        self._last_close: dict[Any, float] = {}
        # IB reports the account's NetLiquidation as its balance: that is the equity (it
        # already marks every holding), and the session's realized P&L is its positions'
        # (the account's other holdings move NetLiquidation too).
        self._equity_from_venue = equity_from_venue
        # A spot cash account holds the bought asset itself (its cost already left the quote
        # balance): equity is every balance valued at the last close, not balance + open P&L.
        self._cash_account = cash_account
        self._book_depth = book_depth
        # Margin trading: Kraken's margin call and liquidation levels, watched on every equity point.
        self.margin_watch = (MarginWatch(margin_leverage, call=self._margin_call, liquidate=self._liquidate)
                             if margin_leverage else None)
        self._equity_ts = 0
        self._pair_of: dict[str, Any] | None = None  # asset code -> instrument quoting it in the settlement currency
        self.balances: dict[str, float] = {}  # asset code -> total balance (a cash account's cards)
        self._realized_total = 0.0
        self._realized_seen: dict[str, float] = {}
        self._marks_after_run = marks_after_run
        self._order_init = order_init
        self.snapshots: list[marks.AccountSnapshot] = []
        self._planned: Iterator[tuple[str, Bar]] = iter(())
        self._instrument_of: dict[str, InstrumentId] = {}
        self._run_marks: marks.RunMarks | None = None
        self._changed = False  # the account changed since the last snapshot
        self._rows_recorded = 0
        self._next_rows_at = -1

    # -- lifecycle ------------------------------------------------------------------------------

    def on_start(self) -> None:
        self.msgbus.subscribe("events.order.*", self._on_order_event)
        self.msgbus.subscribe("events.position.*", self._on_position_event)
        if self._equity_from_venue:  # NetLiquidation moves with every account update
            self.msgbus.subscribe("events.account.*", self._on_account_state)
        if self._marks_after_run:
            self.msgbus.subscribe("events.account.*", self._account_changed)
            self.msgbus.subscribe("data.bars.*", self._count_bar)
            self._snapshot(0, fill=False)  # the account before any bar
        else:
            self.msgbus.subscribe("data.bars.*", self._on_bar)
        self.msgbus.subscribe("historical.data.bars.*", self._on_history_bar)
        self.msgbus.subscribe("commands.system.shutdown", self._on_shutdown)
        self.subscribe_signal()
        if self._live_feed:
            # Quotes and the book give the sandbox a market to fill against; trades build the bars.
            for iid in self._instrument_ids:
                self.subscribe_quote_ticks(iid)
                self.subscribe_trade_ticks(iid)
                if self._book_depth:  # the sandbox fills against the book's levels
                    self.subscribe_order_book_deltas(iid, book_type=BookType.L2_MBP, depth=self._book_depth)
            self._last_data_ns = self.clock.timestamp_ns()
            self.msgbus.subscribe("paperlab.feed.reconnected", self._on_reconnected)
            self.clock.set_timer("paperlab-feed-health", pd.Timedelta(seconds=1), callback=self._check_feed)

    def on_quote_tick(self, tick: Any) -> None:
        self._market_data()

    def on_trade_tick(self, tick: Any) -> None:
        self._market_data()

    def on_order_book_deltas(self, deltas: Any) -> None:
        self._market_data()  # the book is market data too: feed health covers it

    def _market_data(self) -> None:
        self.market_updates += 1
        self._last_data_ns = self.clock.timestamp_ns()
        if self.feed_stale:
            self.feed_stale = False
            self._emit("feed.ok", None, "market data flowing again", self._last_data_ns)

    def _on_reconnected(self, info: dict[str, Any]) -> None:
        """The feed's data client reconnected (its re-sent snapshot was seen and dropped)."""
        self.reconnects += 1
        self._emit("feed.reconnected", None, f"feed reconnected and resubscribed ({info['instrument']})",
                   info["ts"], instrument=info["instrument"], reconnects=self.reconnects)

    def _check_feed(self, event: Any = None) -> None:
        """``feed.stale`` once when no quote or trade came for ``stale_after_s``."""
        now = self.clock.timestamp_ns()
        if not self.feed_stale and now - self._last_data_ns > self._stale_after_ns:
            self.feed_stale = True
            silent = (now - self._last_data_ns) / 1e9
            self._emit("feed.stale", None, f"no market data for {silent:.0f}s", now, silent_s=silent)

    def on_stop(self) -> None:
        """Hand the last buffered equity points to the ledger."""
        self._flush_equity()

    def on_signal(self, signal: Any) -> None:
        """A strategy's decision (``PaperStrategy._signal``) -> ``signal.emitted``."""
        name = type(signal).__name__.removeprefix("Signal").lower()
        sleeve, reason = None, ""
        for strategy_id, strategy in self.signal_sources.items():
            last = getattr(strategy, "last_signal", None)
            if last and last["name"].lower() == name and last["ts"] == signal.ts_event:
                sleeve, reason = self._sleeves.get(strategy_id), last["reason"]
                break
        self._emit("signal.emitted", sleeve, f"{name}: {reason}" if reason else name, signal.ts_event,
                   signal=name, value=signal.value, reason=reason)

    # -- handlers -------------------------------------------------------------------------------

    def _emit(self, stage: str, sleeve: str | None, message: str, ts: int, store: bool = True, **extras: Any) -> None:
        self._publish(Event(self.session_id, sleeve, stage, message, ts, extras), store=store)

    def _sleeve(self, strategy_id: Any) -> str | None:
        return self._sleeves.get(str(strategy_id))

    def _on_order_event(self, event: OrderEvent) -> None:
        stage = _ORDER_STAGES.get(type(event))
        if stage is None:
            return
        order = self.cache.order(event.client_order_id)
        extras: dict[str, Any] = {
            "client_order_id": event.client_order_id.value,
            "instrument": event.instrument_id.value,
            "strategy_id": event.strategy_id.value,
            "side": order.side_string() if order else None,
            "order_type": order.type_string() if order else None,
            "quantity": _num(order.quantity) if order else None,
            "price": _num(order.price) if order is not None and order.has_price else None,
            "status": order.status_string() if order else None,
            "filled_qty": _num(order.filled_qty) if order else None,
        }
        if isinstance(event, (OrderDenied, OrderRejected)):
            extras["reason"] = plain(event.reason)
            if extras["reason"] != event.reason:
                extras["nautilus_reason"] = event.reason
            self.denied += isinstance(event, OrderDenied)
        if stage == "order.submitted":
            self.orders += 1
            if order is not None and self._order_init:  # what a relaunched session rebuilds the order from
                extras["init"] = type(order.init_event).to_dict(order.init_event)
        elif isinstance(event, OrderAccepted):
            extras["venue_order_id"] = event.venue_order_id.value
        if isinstance(event, OrderFilled):
            self.fills += 1
            extras.update(
                trade_id=event.trade_id.value,
                venue_order_id=event.venue_order_id.value,
                position_id=event.position_id.value if event.position_id else None,
                last_qty=_num(event.last_qty),
                last_px=_num(event.last_px),
                commission=_num(event.commission),
                commission_currency=event.commission.currency.code,
                liquidity=event.liquidity_side.name,
                side=event.order_side.name,
            )
            message = f"{extras['side']} {event.last_qty} {event.instrument_id.symbol} @ {event.last_px}"
        elif stage in ("order.denied", "order.rejected"):
            message = f"{extras['side']} {extras['quantity']} {event.instrument_id.symbol} {stage.split('.')[1]}: {event.reason}"
        else:
            message = f"{extras['side']} {extras['quantity']} {event.instrument_id.symbol} {stage.split('.')[1].replace('_', ' ')}"
        self._emit(stage, self._sleeve(event.strategy_id), message, event.ts_event, **extras)
        if isinstance(event, OrderFilled):
            if self._marks_after_run:
                self._snapshot(event.ts_event, fill=True)
                self._save_states(event.ts_event)
            else:
                self._equity(event.ts_event, force=True)

    def _on_position_event(self, event: PositionEvent) -> None:
        stage = _POSITION_STAGES.get(type(event))
        if stage is None:
            return
        extras = {
            "position_id": event.position_id.value,
            "instrument": event.instrument_id.value,
            "side": event.side.name,
            "quantity": _num(event.quantity),
            "avg_px_open": float(event.avg_px_open),
            "avg_px_close": float(event.avg_px_close) if event.avg_px_close else None,
            "realized_pnl": _num(event.realized_pnl) if event.realized_pnl else 0.0,
            "unrealized_pnl": _num(event.unrealized_pnl) if event.unrealized_pnl else 0.0,
            "currency": event.currency.code,
        }
        pid = event.position_id.value
        if isinstance(event, PositionOpened):
            self._realized_seen[pid] = 0.0  # a NETTING position id is reused when it re-opens
        self._realized_total += extras["realized_pnl"] - self._realized_seen.get(pid, 0.0)
        self._realized_seen[pid] = extras["realized_pnl"]
        message = f"{event.instrument_id.symbol} {event.side.name} {event.quantity}"
        self._emit(stage, self._sleeve(event.strategy_id), message, event.ts_event, **extras)
        if self._equity_from_venue:  # the fill's point, now with its realized P&L (same ts: replaced)
            self._equity(event.ts_event, force=True)
        elif self._marks_after_run:
            self._changed = True

    def _on_history_bar(self, bar: Bar) -> None:
        """Warm-up history a strategy asked for: recorded, so a re-run sees the same."""
        self._bar_rows.append(_bar_row(bar, bar.bar_type, bar.ts_event, bar.close.as_double(), 1))

    def _on_bar(self, bar: Bar) -> None:
        # each of a Bar's properties builds a new object: read each once (this runs on every bar)
        bar_type, ts, close = bar.bar_type, bar.ts_event, bar.close.as_double()
        self._bar_rows.append(_bar_row(bar, bar_type, ts, close, 0))
        self.bars += 1
        self.last_bar_ts = ts
        self._last_close[bar_type.instrument_id] = close
        now = time.monotonic_ns()
        if now - self._last_bar_sample >= BAR_SAMPLE_NS:
            self._last_bar_sample = now
            self._emit(
                "bar.received",
                None,
                f"{bar.bar_type.instrument_id.symbol} close {bar.close}",
                bar.ts_event,
                store=False,
                instrument=bar.bar_type.instrument_id.value,
                bar_type=str(bar.bar_type),
                open=bar.open.as_double(),
                high=bar.high.as_double(),
                low=bar.low.as_double(),
                close=bar.close.as_double(),
                volume=bar.volume.as_double(),
            )
        self._equity(ts)

    def _on_shutdown(self, command: ShutdownSystem) -> None:
        self.shutdown_reason = command.reason or "system shutdown"

    # -- equity ---------------------------------------------------------------------------------

    def _equity(self, ts: int, force: bool = False) -> None:
        """One equity point per market timestamp: the state after everything at that ts.

        Several bars can share a timestamp (a book), and a fill follows its bar; the point is
        overwritten until the clock moves on (the ledger keeps the last point marked at a ts,
        so a flush in between changes nothing): it does not depend on arrival order. Points are
        cheap tuples buffered here; ``_flush_equity`` hands them to the ledger in one
        ``equity.batch`` at most every ``EQUITY_FLUSH_NS`` of wall time (and after a
        fill), and shows live views the latest one as a (not stored) ``equity.update``.
        """
        read = self._read_account()
        if read is None:
            return
        balances, bal, free = read
        positions = self._positions()
        if self._equity_from_venue:
            upnl, exposure = marks.open_pnl_and_exposure(positions, self._last_close)
            point = (ts, bal, bal, free, upnl, self._realized_total, exposure)
        else:
            holdings = self._holdings(balances) if self._cash_account else ()
            point = marks.point(ts, bal, free, positions, holdings, self._last_close, self._starting_cash,
                                cash_account=self._cash_account)
        equity = point[1]
        if self.margin_watch is not None:
            self._equity_ts = ts
            self.margin_watch.update(equity, self.cache.positions_open())
        if ts == self._last_equity_ts and self._equity_points:
            self._equity_points[-1] = point
        else:
            self._equity_points.append(point)
        self._last_equity_ts = ts
        self._check_drawdown(equity, ts)
        now = time.monotonic_ns()
        if force or now - self._last_equity_flush >= EQUITY_FLUSH_NS:
            self._flush_equity(now)

    def _flush_equity(self, now: int | None = None) -> None:
        if self._bar_rows:
            rows, self._bar_rows = self._bar_rows, []
            self._emit("bar.batch", None, f"{len(rows)} bars", rows[-1][1], bars=rows)
        if not self._equity_points:
            return
        points, self._equity_points = self._equity_points, []
        self._last_equity_flush = now if now is not None else time.monotonic_ns()
        ts, equity, bal, free, upnl, rpnl, exposure = points[-1]
        cur = self._currency.code
        self.equity = {
            "equity": equity,
            "balance": bal,
            "available": free,
            "unrealized_pnl": upnl,
            "realized_pnl": rpnl,
            "exposure": exposure,
            "currency": cur,
        }
        self._emit("equity.batch", None, f"{len(points)} equity points", ts, currency=cur, points=points)
        if self.margin_watch is not None:
            m = self.margin_watch.state
            self.equity.update(margin_used=m.used, margin_free=m.free, margin_level=m.level)
        shown = {**self.equity, "balances": dict(self.balances)} if self.balances else self.equity
        self._emit("equity.update", None, f"equity {equity:,.2f} {cur}", ts, store=False, **shown)
        self._save_states(ts)

    def _save_states(self, ts: int) -> None:
        """Each strategy's ``on_save`` state, stored (``strategy.saved``) when it changed."""
        for strategy_id, state in self.states.changed(self.signal_sources):
            self._emit("strategy.saved", self._sleeve(strategy_id), f"{strategy_id} state saved", ts,
                       strategy_id=strategy_id, state=state)

    def _on_account_state(self, event: Any) -> None:
        """The venue's account changed: refresh the latest equity point (never back in time)."""
        self._equity(max(self._last_equity_ts, self.clock.timestamp_ns()))

    def _margin_call(self, state: MarginState) -> None:
        self._emit("risk.margin_call", None,
                   f"margin level {state.level:.1f}% below the {MARGIN_CALL_LEVEL:g}% margin call level",
                   self._equity_ts, margin_level=state.level, used_margin=state.used, free_margin=state.free)

    def _liquidate(self, state: MarginState) -> None:
        """Kraken's automatic liquidation: every open position closed at market."""
        self._emit("risk.liquidated", None,
                   f"margin level {state.level:.1f}% at the {LIQUIDATION_LEVEL:g}% liquidation level: positions closed",
                   self._equity_ts, margin_level=state.level, used_margin=state.used, free_margin=state.free)
        for strategy in self.signal_sources.values():
            strategy.close_all_positions(strategy.config.instrument_id)

    def _read_account(self) -> tuple[dict[Any, Any], float, float] | None:
        """(balances, balance, available) in the settlement currency; None before the account exists.
        One copy of the account's balances serves a whole point."""
        account = self.cache.account_for_venue(self._venue)
        if account is None:
            return None
        balances = account.balances()
        own = balances.get(self._currency)
        bal = own.total.as_double() if own is not None else 0.0
        if self._starting_cash is None:
            self._starting_cash = bal
        return balances, bal, own.free.as_double() if own is not None else 0.0

    def _holdings(self, balances: dict[Any, Any]) -> list[marks.Holding]:
        """The cash account's other assets (BTC, ...) with the pair pricing each in the settlement
        currency; remembers every balance for the cards."""
        if self._pair_of is None:
            self._pair_of = {i.base_currency.code: i.id for i in self.cache.instruments()
                             if getattr(i, "base_currency", None) is not None and i.quote_currency == self._currency}
        held = []
        for currency, balance in balances.items():
            total = balance.total.as_double()
            self.balances[currency.code] = total
            if currency != self._currency and total:
                held.append((self._pair_of.get(currency.code), total))
        return held

    def _positions(self) -> list[marks.Position]:
        """The open positions, as marks needs them (``Portfolio.net_exposures`` also asks for a
        base->quote rate it then ignores, which logs an error on every call when the feed has bars
        but no quotes, and the portfolio's P&L queries cost more than the rest of a bar's handling)."""
        return [(p.instrument_id, p.signed_qty, p.avg_px_open) for p in self.cache.positions_open()]

    # -- a backtest's marks after its run -------------------------------------------------------

    @property
    def marks_after_run(self) -> bool:
        """True: equity points are marked after the run (``record_after_run``), not per bar."""
        return self._marks_after_run

    def plan_bars(self, bars: Iterator[tuple[str, Bar]]) -> None:
        """A ``marks_after_run`` backtest's live bars as ``(bar type, bar)``, in the order its run will
        handle them. Every ``AFTER_RUN_CHUNK`` bars the run reaches, their rows and equity points
        (marked from the account's snapshots and their closes) go to the ledger, whose writer works
        while the engine runs; ``record_after_run`` sends the rest."""
        self._planned = bars
        self._rows_recorded = 0
        self._next_rows_at = AFTER_RUN_CHUNK

    def _record_planned(self, *, final: bool = False) -> None:
        """The planned bars the run handled since the last call: their rows and equity points."""
        if self._run_marks is None:  # after on_start: the starting cash is known
            self._run_marks = marks.RunMarks(self.snapshots, self._starting_cash or 0.0,
                                             cash_account=self._cash_account)
        rows, closes = [], []
        for bar_type_str, bar in islice(self._planned, self.bars - self._rows_recorded):
            ts, close = bar.ts_event, bar.close.as_double()
            iid = self._instrument_of.get(bar_type_str)
            if iid is None:
                iid = self._instrument_of[bar_type_str] = BarType.from_str(bar_type_str).instrument_id
            rows.append(_bar_row(bar, bar_type_str, ts, close, 0))
            closes.append((ts, iid, close))
        self._rows_recorded, self._next_rows_at = self.bars, self.bars + AFTER_RUN_CHUNK
        if rows:
            self.last_bar_ts = rows[-1][1]
            self._emit("bar.batch", None, f"{len(rows)} bars", rows[-1][1], bars=rows)
        points = self._run_marks.mark(closes, final=final)
        if final and points:  # the last point goes with the final flush (and to live views)
            self._equity_points = points[-1:]
            points = points[:-1]
        if points:
            self._emit("equity.batch", None, f"{len(points)} equity points", points[-1][0],
                       currency=self._currency.code, points=points)

    def record_after_run(self) -> None:
        """A ``marks_after_run`` backtest's last bar rows and equity points, once its run is over."""
        if self._next_rows_at < 0:  # nothing planned
            return
        self._record_planned(final=True)
        self._flush_equity()

    def _count_bar(self, bar: Bar) -> None:
        if self._changed:  # the account as this bar's point reads it
            self._snapshot(0, fill=False)
        self.bars += 1
        if self.bars == self._next_rows_at:
            self._record_planned()

    def _account_changed(self, event: Any) -> None:
        self._changed = True

    def _snapshot(self, ts: int, *, fill: bool) -> None:
        """The account as an equity point would read it now (``fill``: a point is marked here).
        Position and account events only flag a change: the next bar or fill takes the snapshot."""
        self._changed = False
        read = self._read_account()
        if read is None:
            return
        balances, bal, free = read
        self.snapshots.append(marks.AccountSnapshot(
            bars_seen=self.bars, ts=ts, fill=fill, balance=bal, available=free,
            positions=tuple(self._positions()),
            holdings=tuple(self._holdings(balances)) if self._cash_account else (),
        ))

    def _check_drawdown(self, equity: float, ts: int) -> None:
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
        if self._max_dd is None or self.halted or not self.peak_equity:
            return
        dd = 100.0 * (self.peak_equity - equity) / self.peak_equity
        if dd >= self._max_dd:
            self.halted = True
            if self._halt is not None:
                self._halt()
            self._emit(
                "risk.halted",
                None,
                f"drawdown {dd:.2f}% reached the {self._max_dd:g}% cap: trading halted",
                ts,
                drawdown_pct=dd,
                peak_equity=self.peak_equity,
                equity=equity,
            )
