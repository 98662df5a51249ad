"""Restore a session's trading state into a fresh node, from its ledger, before it trades.

A relaunched (or resumed) session starts a new ``TradingNode`` with the same session id.
Before its strategies start, the ledger's history is played into the node through
Nautilus's own execution engine: every order that filled or can still fill is rebuilt from
its ``OrderInitialized`` (same client order id, side, quantity, price, time in force) and
accepted with its venue order id, then every recorded fill is applied in the order it was
recorded. Nautilus itself thereby recomputes the account's balances, the positions (quantity,
average price, realized P&L, fees) and each order's filled and remaining quantity, exactly as
the first run had them. Orders that can still fill are handed to the venue (the sandbox's
matching engine rests them again); strategies get their saved state (``on_load``).

Nothing of this reaches the ledger again: the telemetry actor subscribes when the trader
starts, after the restore (each fill stays recorded once).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nautilus_trader.common.actor import Actor
from nautilus_trader.common.config import ActorConfig

from nautilus_trader.core.uuid import UUID4
from nautilus_trader.execution.engine import ExecutionEngine
from nautilus_trader.model.enums import LiquiditySide, OrderSide
from nautilus_trader.model.events import OrderAccepted, OrderCanceled, OrderFilled, OrderInitialized, OrderSubmitted
from nautilus_trader.model.identifiers import ClientOrderId, PositionId, TradeId, VenueOrderId
from nautilus_trader.model.objects import Currency, Money
from nautilus_trader.model.orders.unpacker import OrderUnpacker

from kernelext.ledger import Ledger, queries
from kernelext.ledger.routing import FINAL_ORDER_STATUSES
from kernelext.session.state import StoredState, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LedgerOrder:
    """An order as the ledger recorded it."""

    client_order_id: str
    strategy_id: str | None
    status: str | None
    init: dict[str, Any] | None
    venue_order_id: str | None


@dataclass(frozen=True, slots=True)
class LedgerFill:
    """A fill as the ledger recorded it."""

    client_order_id: str
    venue_order_id: str | None
    trade_id: str
    position_id: str | None
    side: str
    qty: float
    price: float
    fee: float | None
    fee_currency: str | None
    liquidity: str | None
    ts: int


@dataclass(frozen=True)
class Snapshot:
    """What the ledger holds of a session's trading state."""

    orders: list[LedgerOrder]
    fills: list[LedgerFill]
    states: dict[str, StoredState]

    @property
    def empty(self) -> bool:
        return not (self.orders or self.fills or self.states)


@dataclass
class Restored:
    """What a restore put back."""

    fills: int = 0
    orders: int = 0
    resting: list[str] = field(default_factory=list)  # client order ids resting again at the venue
    positions: list[str] = field(default_factory=list)  # "BTC/USD.KRAKEN LONG 0.02 @ 65000.0"
    strategies: list[str] = field(default_factory=list)  # strategy ids given their saved state
    balances: dict[str, float] = field(default_factory=dict)  # currency -> the account's total after the restore
    skipped: list[str] = field(default_factory=list)  # what could not be restored, and why

    def summary(self) -> str:
        """One line for the session's notes."""
        parts = [f"{self.fills} fills", f"{len(self.resting)} resting orders",
                 f"{len(self.positions)} open positions", f"{len(self.strategies)} strategy states"]
        text = "restored " + ", ".join(parts)
        if self.skipped:
            text += f"; not restored: {'; '.join(self.skipped[:3])}" + (" ..." if len(self.skipped) > 3 else "")
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"fills": self.fills, "orders": self.orders, "resting": self.resting, "positions": self.positions,
                "strategies": self.strategies, "balances": self.balances, "skipped": self.skipped}


def read(ledger: Ledger, session_id: str) -> Snapshot:
    """The session's restorable orders, its fills and strategy states."""
    orders = [LedgerOrder(coid, sid, status, json.loads(init) if init else None, vid)
              for coid, sid, status, init, vid in queries.restorable_orders(ledger, session_id)]
    fills = [LedgerFill(*row) for row in queries.restorable_fills(ledger, session_id)]
    states = {k: json.loads(v) for k, v in queries.strategy_states(ledger, session_id).items()}
    return Snapshot(orders, fills, states)


class Restorer:
    """Plays a ``Snapshot`` into a built node's cache and execution engine (on the node's thread)."""

    def __init__(self, snapshot: Snapshot, *, kernel: Any, venue_session: Any, strategies: list[Any]) -> None:
        self.snapshot = snapshot
        self.cache = kernel.cache
        self.engine = kernel.exec_engine
        self.venue_session = venue_session
        self.strategies = strategies
        self.result = Restored()
        self._venue_ids: dict[str, str] = {}  # client order id -> its first fill's venue order id
        for f in snapshot.fills:
            if f.venue_order_id:
                self._venue_ids.setdefault(f.client_order_id, f.venue_order_id)

    def _process(self, event: Any) -> None:
        """The base engine's synchronous path (the live engine queues events for later: the
        strategies would start before the history was in)."""
        ExecutionEngine.process(self.engine, event)

    def run(self) -> Restored:
        """Orders, fills, then what still rests, positions and strategy states (a real venue,
        which keeps its own orders and reconciles them, gets the strategy states only)."""
        if not self.venue_session.restores_from_ledger:
            self._strategies()
            return self.result
        rebuilt = [o for o in (self._rebuild(lo) for lo in self.snapshot.orders) if o is not None]
        for fill in self.snapshot.fills:
            self._fill(fill)
        open_orders = self._settle(rebuilt)
        self.result.resting = self.venue_session.restore_resting(open_orders, self.cache)
        for position in self.cache.positions_open():
            self.result.positions.append(f"{position.instrument_id} {position.side.name} {position.quantity}"
                                         f" @ {position.avg_px_open:.8g}")
        for account in self.cache.accounts():
            for currency, balance in account.balances().items():
                self.result.balances[currency.code] = float(balance.total.as_decimal())
        self._strategies()
        return self.result

    def _rebuild(self, lo: LedgerOrder) -> tuple[Any, LedgerOrder] | None:
        """The order as Nautilus initialized it, submitted and accepted again (same ids)."""
        if lo.init is None:
            self.result.skipped.append(f"{lo.client_order_id} (recorded before orders kept their init)")
            return None
        order = OrderUnpacker.from_init(OrderInitialized.from_dict(lo.init))
        account = self.cache.account_for_venue(order.instrument_id.venue)
        if account is None or self.cache.instrument(order.instrument_id) is None:
            self.result.skipped.append(f"{lo.client_order_id} (no account or instrument for {order.instrument_id})")
            return None
        self.cache.add_order(order)
        ts = order.ts_init
        ids = (order.trader_id, order.strategy_id, order.instrument_id, order.client_order_id)
        venue_id = VenueOrderId(lo.venue_order_id or self._venue_ids.get(lo.client_order_id)
                                or f"R-{lo.client_order_id}")
        self._process(OrderSubmitted(*ids, account.id, UUID4(), ts, ts))
        self._process(OrderAccepted(*ids, venue_id, account.id, UUID4(), ts, ts))
        self.result.orders += 1
        return order, lo

    def _fill(self, f: LedgerFill) -> None:
        order = self.cache.order(ClientOrderId(f.client_order_id))
        if order is None or order.account_id is None:
            self.result.skipped.append(f"fill {f.trade_id} (its order {f.client_order_id} was not restored)")
            return
        instrument = self.cache.instrument(order.instrument_id)
        quote = instrument.quote_currency
        fee_currency = Currency.from_str(f.fee_currency) if f.fee_currency else quote
        self._process(OrderFilled(
            trader_id=order.trader_id, strategy_id=order.strategy_id, instrument_id=order.instrument_id,
            client_order_id=order.client_order_id, venue_order_id=VenueOrderId(f.venue_order_id or order.venue_order_id.value),
            account_id=order.account_id, trade_id=TradeId(f.trade_id),
            position_id=PositionId(f.position_id) if f.position_id else None,
            order_side=OrderSide[f.side], order_type=order.order_type,
            last_qty=instrument.make_qty(f.qty), last_px=instrument.make_price(f.price), currency=quote,
            commission=Money(f.fee or 0.0, fee_currency),
            liquidity_side=LiquiditySide[f.liquidity] if f.liquidity else LiquiditySide.NO_LIQUIDITY_SIDE,
            event_id=UUID4(), ts_event=f.ts, ts_init=f.ts,
        ))
        self.result.fills += 1

    def _settle(self, rebuilt: list[tuple[Any, LedgerOrder]]) -> list[Any]:
        """Orders the ledger saw end (canceled after a partial fill, ...) end here too; the
        rest are still open: returned, to rest at the venue again."""
        open_orders = []
        for order, lo in rebuilt:
            if not order.is_open:
                continue
            if lo.status in FINAL_ORDER_STATUSES:
                ts = order.ts_last
                self._process(OrderCanceled(order.trader_id, order.strategy_id, order.instrument_id,
                                            order.client_order_id, order.venue_order_id, order.account_id,
                                            UUID4(), ts, ts))
            else:
                open_orders.append(order)
        return open_orders

    def _strategies(self) -> None:
        """Saved state to ``on_load``. (New client order ids cannot repeat old ones: Nautilus
        stamps them with the wall-clock second, and a relaunch takes longer than that.)"""
        for strategy in self.strategies:
            sid = strategy.id.value
            stored = self.snapshot.states.get(sid)
            if stored:
                strategy.load(decode(stored))
                self.result.strategies.append(sid)


class RestoreActor(Actor):
    """Runs the restore when the trader starts, before any strategy or the telemetry actor
    (actors start in the order they were added, strategies after them)."""

    def __init__(self, snapshot: Snapshot, run: Callable[[], Restored], *, halt: Callable[[], None]) -> None:
        super().__init__(ActorConfig(component_id="PaperLabRestore"))
        self.snapshot = snapshot
        self._run = run
        self._halt = halt
        self.result: Restored | None = None
        self.error: str | None = None

    def on_start(self) -> None:
        try:
            self.result = self._run()
        except Exception as e:  # noqa: BLE001  (the runner ends the session with it: no trading on a half state)
            log.debug("restore failed", exc_info=True)
            self.error = f"restore failed: {type(e).__name__}: {e}"
            self._halt()  # nothing trades on a half-restored state; the runner ends the session

    def on_stop(self) -> None:
        """Nothing to undo (the restore ran once, at start)."""
