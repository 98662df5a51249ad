"""Shared config and base class for PaperLab's built-in strategies.

Every built-in is a plain NautilusTrader ``Strategy`` driven by a frozen
``StrategyConfig``; nothing here depends on the backtest or live runtime, so the
same class runs in a ``BacktestEngine``, in a ``TradingNode`` with a sandbox
execution client, and live.

Bar flow (NautilusTrader 1.231):

- Indicators are registered with ``register_indicator_for_bars``. ``Actor.handle_bar``
  updates registered indicators for *both* live bars and historical bars (the
  response to ``request_bars`` is published bar by bar on the historical topic and
  reaches ``handle_bar(bar, historical=True)``, which updates the indicators and
  then calls ``on_historical_data``). So ``on_historical_data`` must NOT update
  the indicators again; it only advances the strategy's own derived state.
- ``PaperStrategy.handle_bar`` drops any bar of ``config.bar_type`` whose
  ``ts_event`` is not newer than the last one seen, so a bar present both in the
  warm-up history and in the live feed updates the indicators exactly once.
- ``on_bar`` (live only) is where decisions happen; historical bars never trade.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd

from nautilus_trader.config import NonNegativeInt
from nautilus_trader.config import StrategyConfig
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AggregationSource, OrderSide, OrderStatus, OrderType
from nautilus_trader.model.enums import TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Instrument
from nautilus_trader.model.objects import Quantity
from nautilus_trader.trading.strategy import Strategy

# Denials after which the same signal is not sent again on the next bar: the account cannot carry
# it, or trading is halted / reducing, or a kill's flatten lets only closes through.
_HELD_DENIALS: tuple[str, ...] = ("insufficient ", "TradingState.HALTED", "TradingState.REDUCING", "flattening:")

class PaperStrategyConfig(StrategyConfig, frozen=True):
    """
    Fields every PaperLab strategy has.

    Parameters
    ----------
    instrument_id : InstrumentId
        Filled by the runner.
    bar_type : BarType
        Filled by the runner.
    trade_size : Decimal, optional
        Order size in base units. When ``None`` the size comes from ``trade_notional``.
    trade_notional : Decimal, default 5000
        Order notional in the quote currency, used when ``trade_size`` is None:
        ``qty = trade_notional / last close`` rounded down to the size increment.
    warmup_bars : int, optional
        How many bars of history to request on start to warm the indicators up.
        ``None`` means the strategy's own default (enough for its slowest indicator);
        0 disables the request.
    close_positions_on_stop : bool, default False
        Flatten on stop. Paper "stop" leaves positions open; the runner flattens.
    long_only : bool, default False
        Never go short: a short signal closes a long position instead (long-flat). Set by the
        runner when the venue's account cannot short (a spot cash account).
    """

    instrument_id: InstrumentId
    bar_type: BarType
    trade_notional: Decimal = Decimal("5000")
    trade_size: Decimal | None = None
    warmup_bars: NonNegativeInt | None = None
    close_positions_on_stop: bool = False
    long_only: bool = False

    def __post_init__(self) -> None:
        if not Decimal(self.trade_notional) > 0:
            raise ValueError(f"trade_notional must be > 0, got {self.trade_notional}")
        if self.trade_size is not None and not Decimal(self.trade_size) > 0:
            raise ValueError(f"trade_size must be > 0 when set, got {self.trade_size}")


class PaperStrategy(Strategy):
    """
    Base class: warm-up from history, one-decision-per-live-bar, order sizing,
    decision logging and signal publishing.

    Subclasses implement:

    - ``_paper_indicators()`` -> the Nautilus indicators to register for the bars;
    - ``_default_warmup_bars()`` -> bars of history needed when ``warmup_bars`` is None;
    - ``_observe(bar)`` -> advance derived state (called for historical AND live bars,
      after the registered indicators were updated);
    - ``_decide(bar)`` -> entry/exit logic (live bars only, after ``_observe``).
    """

    order_time_in_force: TimeInForce = TimeInForce.GTC

    def __init__(self, config: PaperStrategyConfig) -> None:
        super().__init__(config)
        self.instrument: Instrument | None = None
        self._last_bar_ts: int = 0  # ts_event of the last bar of config.bar_type fed in
        self._bar_type_str = str(config.bar_type)  # BarType == compares two to_str()s: one per bar is enough
        self._own_bar = False  # the bar being handled is of config.bar_type (handle_bar tells on_bar)
        self._bar_ts: int = 0  # ts_event of the bar being handled (for signals)
        self._last_close: float | None = None
        self.history_bars: int = 0  # historical bars received during warm-up
        self.live_bars: int = 0
        self.last_signal: dict[str, Any] | None = None
        self._pending: set[Any] = set()  # our orders not yet known to be closed
        self._part_filled_seen: set[Any] = set()  # market orders seen part-filled at a bar
        # Set by the session's venue (``VenueSession.configure_strategy``): decide only inside
        # regular trading hours (``market_hours_of(instrument).is_open``), tags for every order.
        self.market_hours_of: Callable[[Any], Any] | None = None
        self.market_hours: Any = None  # market_hours_of(the instrument), once started
        self.order_tags: list[str] | None = None
        self.history_available = True  # False: the venue has no history for the bar type (start cold)
        self.rth_skipped_bars: int = 0
        # A signal the account refused (insufficient balance or margin) is not sent again on
        # every bar: it waits for the next signal or a changed position (see ``_signal``).
        self._refused: tuple[str, Decimal] | None = None  # (signal name, net position) when refused
        self._signal_name: str | None = None  # the signal of the bar being decided
        self._hold = False  # this bar's signal repeats a refused one: no order

    # -- hooks ----------------------------------------------------------------------------

    def _paper_indicators(self) -> list[Indicator]:
        return []

    def _default_warmup_bars(self) -> int:
        return 0

    def _observe(self, bar: Bar) -> None:
        pass

    def _decide(self, bar: Bar) -> None:
        pass

    # -- lifecycle ------------------------------------------------------------------------

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        if self.instrument is None:
            self.log.error(f"Could not find instrument for {self.config.instrument_id}")
            self.stop()
            return

        for indicator in self._paper_indicators():
            self.register_indicator_for_bars(self.config.bar_type, indicator)

        if self.market_hours_of is not None:
            self.market_hours = self.market_hours_of(self.instrument)
            self.log.info(f"Decisions inside regular trading hours only ({self.market_hours.source})")
        self._request_warmup()
        self.subscribe_bars(self.config.bar_type)

    def _warmup_bar_count(self) -> int:
        n = self.config.warmup_bars
        return self._default_warmup_bars() if n is None else int(n)

    def _request_warmup(self) -> None:
        n = self._warmup_bar_count()
        if n <= 0:
            return
        if not self.history_available:
            self.log.info(f"No warm-up: the venue has no history of {self.config.bar_type.spec}; starting cold")
            return
        bar_type: BarType = self.config.bar_type
        now = self.clock.utc_now()
        try:
            interval = bar_type.spec.timedelta
            start = now - interval * n
            limit = 0
        except ValueError:
            # Not a time bar (tick/volume/value bars): ask for the last n bars of a day.
            start = now - pd.Timedelta(days=1)
            limit = n
        history_type = self._history_bar_type()
        self.log.info(f"Warm-up: requesting {n} bars of {history_type} from {start}")
        try:
            self.request_bars(history_type, start=start, limit=limit)
        except Exception as e:  # never let a failed history request stop live trading
            self.log.warning(f"Warm-up request failed, starting cold: {e!r}")

    def on_stop(self) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        if self.config.close_positions_on_stop:
            self.close_all_positions(self.config.instrument_id)
        self.unsubscribe_bars(self.config.bar_type)

    def on_reset(self) -> None:
        for indicator in self._paper_indicators():
            indicator.reset()
        self._last_bar_ts = 0
        self._bar_ts = 0
        self._last_close = None
        self.history_bars = 0
        self.live_bars = 0
        self.last_signal = None

    # -- bar flow -------------------------------------------------------------------------

    def handle_bar(self, bar: Bar, historical: bool = False) -> None:
        # System-level guard: a bar of our bar type that is not newer than the last one
        # seen (overlap between warm-up history and the live feed, or a replay) is
        # dropped before Nautilus updates the registered indicators with it.
        self._own_bar = str(bar.bar_type) == self._bar_type_str
        if self._own_bar:
            if bar.ts_event <= self._last_bar_ts:
                self.log.debug(f"Dropping already-seen bar {bar}")
                return
            self._last_bar_ts = bar.ts_event
        super().handle_bar(bar, historical)

    def _history_bar_type(self) -> BarType:
        """Where warm-up history comes from: bars built in the node from trades (INTERNAL)
        have no history of their own, so ask the venue for the same spec (EXTERNAL)."""
        bar_type: BarType = self.config.bar_type
        if bar_type.is_internally_aggregated():
            return BarType(bar_type.instrument_id, bar_type.spec, AggregationSource.EXTERNAL)
        return bar_type

    def on_historical_data(self, data: Any) -> None:
        if isinstance(data, Bar) and data.bar_type != self.config.bar_type and data.bar_type == self._history_bar_type():
            # The venue's history for our internal bars: indicators are registered for the
            # internal bar type, so feed them here (once per bar, oldest first).
            if data.ts_event <= self._last_bar_ts:
                return
            self._last_bar_ts = data.ts_event
            for indicator in self._paper_indicators():
                indicator.handle_bar(data)
            self.history_bars += 1
            self._bar_ts = data.ts_event
            self._observe(data)
            self._last_close = data.close.as_double()
            return
        # Registered indicators were already updated by Actor.handle_bar.
        if isinstance(data, Bar) and data.bar_type == self.config.bar_type:
            self.history_bars += 1
            self._bar_ts = data.ts_event
            self._observe(data)
            self._last_close = data.close.as_double()

    def on_bar(self, bar: Bar) -> None:
        if not self._own_bar:  # handle_bar compared this bar's type
            return
        self.live_bars += 1
        self._bar_ts = bar.ts_event
        self._observe(bar)
        self._last_close = bar.close.as_double()
        if self.instrument is None:
            return
        if self._has_pending_orders() and not self._release_part_filled():
            self.log.info("Orders in flight; no decision on this bar")
            return
        if self.market_hours is not None and not self.market_hours.is_open(self.clock.timestamp_ns()):
            self.rth_skipped_bars += 1
            self.log.info("Outside regular trading hours; no decision on this bar (--outside-rth allows it)")
            return
        self._signal_name, self._hold = None, False
        self._decide(bar)
        if self._refused is not None and self._signal_name != self._refused[0]:
            self._refused = None  # the refused signal ended: the next one is tried afresh

    def on_order_denied(self, event: Any) -> None:
        """An order the account cannot carry, or one sent while trading is halted or closing only (a
        kill's flatten): its signal is not repeated on every bar."""
        reason = event.reason or ""
        if self._signal_name and (reason.startswith(_HELD_DENIALS) or "EXCEEDS_FREE_BALANCE" in reason):
            self._refused = (self._signal_name, self._net_decimal())

    # -- helpers for subclasses -----------------------------------------------------------

    def _has_pending_orders(self) -> bool:
        """Any order of ours not yet closed, including ones still queued before the RiskEngine
        (INITIALIZED, which ``orders_inflight`` does not count: in real time a second bar can
        arrive before the first order reaches the venue)."""
        if not self._pending:
            return False
        self._pending = {coid for coid in self._pending if not self._is_closed(coid)}
        return bool(self._pending)

    def _release_part_filled(self) -> bool:
        """A market order the venue left part-filled for a whole bar: what filled counts (the
        position has it), the rest is canceled and the next decision is made afresh. True when
        nothing else is in flight. (A strategy never waits forever on an order that will not
        complete.)"""
        for coid in list(self._pending):
            order = self.cache.order(coid)
            if order is None or order.order_type != OrderType.MARKET or order.status != OrderStatus.PARTIALLY_FILLED:
                continue
            if coid not in self._part_filled_seen:
                self._part_filled_seen.add(coid)  # give the venue one bar to complete it
                continue
            self.log.warning(f"{coid} filled {order.filled_qty} of {order.quantity}; the rest is canceled, "
                             "deciding afresh")
            self.cancel_order(order)
            self._pending.discard(coid)
            self._part_filled_seen.discard(coid)
        return not self._pending

    def _is_closed(self, client_order_id: Any) -> bool:
        order = self.cache.order(client_order_id)
        return order is None or order.is_closed

    def _net_qty(self) -> float:
        """Signed net quantity of this strategy's open positions on the instrument."""
        positions = self.cache.positions_open(
            instrument_id=self.config.instrument_id,
            strategy_id=self.id,
        )
        return sum(p.signed_qty for p in positions)

    def _entry_price(self) -> float | None:
        positions = self.cache.positions_open(
            instrument_id=self.config.instrument_id,
            strategy_id=self.id,
        )
        return float(positions[0].avg_px_open) if positions else None

    def _order_qty(self) -> Quantity | None:
        if self.config.trade_size is not None:
            value = Decimal(str(self.config.trade_size))
        else:
            if not self._last_close or self._last_close <= 0:
                self.log.warning("No last close to size the order; skipping")
                return None
            value = Decimal(str(self.config.trade_notional)) / Decimal(repr(self._last_close))
        try:
            qty = self.instrument.make_qty(value, round_down=True)
        except ValueError:
            qty = None
        if qty is None or qty.as_double() <= 0:
            self.log.warning(f"Order quantity {value} rounds to zero; skipping")
            return None
        return qty

    def _submit_qty(self, side: OrderSide, qty: Decimal, reduce_only: bool = False) -> bool:
        if qty <= 0 or self._hold:  # held: the account refused this very signal; it waits for the next
            return False
        order = self.order_factory.market(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(qty),
            time_in_force=self.order_time_in_force,
            reduce_only=reduce_only,
            tags=self.order_tags,
        )
        self._pending.add(order.client_order_id)
        self.submit_order(order)
        return True

    def _submit(self, side: OrderSide) -> bool:
        qty = self._order_qty()
        return qty is not None and self._submit_qty(side, qty.as_decimal())

    def _net_decimal(self) -> Decimal:
        positions = self.cache.positions_open(instrument_id=self.config.instrument_id, strategy_id=self.id)
        return sum((p.signed_decimal_qty() for p in positions), Decimal(0))

    def _go_to(self, direction: int) -> None:
        """Reach a long (+1), short (-1) or flat (0) position with ONE market order.

        Under NETTING a single order of ``target - net`` flips or closes the position;
        separate close + open orders race each other through the live queues.
        """
        if direction < 0 and self.config.long_only:
            direction = 0  # a spot cash account cannot short: long-flat
        net = self._net_decimal()
        if (direction > 0 and net > 0) or (direction < 0 and net < 0) or (direction == 0 and net == 0):
            return  # already there: never re-size a held position
        size = Decimal(0)
        if direction:
            qty = self._order_qty()
            if qty is None:
                return
            size = qty.as_decimal()
        delta = direction * size - net
        closing = direction == 0  # a pure exit never opens anything
        if delta > 0:
            self._submit_qty(OrderSide.BUY, delta, reduce_only=closing)
        elif delta < 0:
            self._submit_qty(OrderSide.SELL, -delta, reduce_only=closing)

    def _go_long(self) -> None:
        self._go_to(+1)

    def _go_short(self) -> None:
        self._go_to(-1)

    def _go_flat(self) -> None:
        self._go_to(0)

    def _signal(self, name: str, value: float, reason: str) -> None:
        """Log a decision and publish it as a Nautilus signal (for telemetry).

        The same signal as one the account refused, with the position unchanged, is held:
        not logged, not published, and the move that follows sends no order.
        """
        self._signal_name = name
        if self._refused is not None and self._refused == (name, self._net_decimal()):
            self._hold = True
            return
        self.log.info(f"{name}: {reason}")
        self.last_signal = {"name": name, "value": float(value), "reason": reason, "ts": self._bar_ts}
        self.publish_signal(name=name, value=float(value), ts_event=self._bar_ts)
