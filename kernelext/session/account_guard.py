"""Pre-trade checks of the sandbox's account rules that Nautilus's RiskEngine leaves out.

The guard sits in front of the RiskEngine's ``execute`` endpoint, in paper sessions and
backtests alike; a submit it refuses is denied with one line (``order.denied``), everything
else goes on to the RiskEngine unchanged.

- **Spot cash** (``CashGuard``): Nautilus denies a buy whose notional at the last price exceeds
  the free quote balance, but the fill's taker fee (and a market order's fill at the next
  price) can still take the balance below zero, which ends the session
  (``AccountBalanceNegative``); Kraken refuses such an order ("insufficient funds"). The
  guard denies a buy whose cost -- quantity x (its limit price, or the market price plus
  ``MARKET_BUFFER``) x (1 + taker fee) -- exceeds the free quote balance.
- **Notional cap on bars** (``BarNotionalGate``): Nautilus's RiskEngine skips the max-notional check
  of a MARKET order when its cache holds no quote or trade for the instrument ("Cannot check MARKET
  order risk"), which is every session fed by bars only (IB's, the replay). Such an order is priced
  at its instrument's last bar close and denied as the RiskEngine would deny it; orders with a
  quote or trade in the cache, and all other types, are the RiskEngine's to check. Live trading's
  5,000 cap depends on it.
- **Margin** (``MarginGuard``): Kraken opens no new position on margin once the margin level
  (equity / used margin) would fall below 100 %: an order that adds exposure needs its own
  margin (cost / leverage) within the free margin (equity - used margin). Orders that only
  reduce a position always pass.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.enums import AccountType, OrderSide, OrderType

ENDPOINT = "RiskEngine.execute"
MARKET_BUFFER = Decimal("0.005")  # a market order may fill this much beyond the price it was sized at


class SubmitGuard:
    """A pre-trade check in front of the RiskEngine's ``execute`` endpoint (on a kernel's message bus):
    a submit it refuses (``refusal``) is denied in one line; every other command goes on unchanged."""

    def __init__(self, kernel: Any) -> None:
        self.cache = kernel.cache
        self.risk = kernel.risk_engine
        self.forward = kernel.risk_engine.execute  # what passes goes on to the RiskEngine
        self.msgbus = kernel.msgbus
        self.denied = 0

    def install(self) -> Any:
        """Take the endpoint from ``forward``; commands that pass go on to it."""
        self.msgbus.deregister(ENDPOINT, self.forward)
        self.msgbus.register(ENDPOINT, self.check)
        return self

    def check(self, command: Any) -> None:
        """A refused submit is denied; every other command goes on."""
        if isinstance(command, SubmitOrder):
            reason = self.refusal(command.order)
            if reason is not None:
                self.denied += 1
                self.risk._deny_order(command.order, reason)
                return
        self.forward(command)

    def refusal(self, order: Any) -> str | None:
        """Why ``order`` is refused, or None."""
        return None


class CashGuard(SubmitGuard):
    """Denies spot cash buys the account cannot pay for."""

    def refusal(self, order: Any) -> str | None:
        """Why the buy cannot be paid for, or None (sells and margin accounts: the RiskEngine's)."""
        if order.side != OrderSide.BUY:
            return None
        instrument = self.cache.instrument(order.instrument_id)
        account = self.cache.account_for_venue(order.instrument_id.venue)
        if instrument is None or account is None or account.type != AccountType.CASH:
            return None
        price = self._order_price(order)
        if price is None:
            return None  # no price yet: the RiskEngine decides
        cost = order.quantity.as_decimal() * price * (1 + instrument.taker_fee)
        currency = instrument.quote_currency
        free = account.balance_free(currency)
        free_amount = free.as_decimal() if free is not None else Decimal(0)
        if cost <= free_amount:
            return None
        return f"insufficient {currency.code} balance: needs {cost:,.2f}, free {free_amount:,.2f} (fees included)"

    def _order_price(self, order: Any) -> Decimal | None:
        """A limit order's price, or the market price with ``MARKET_BUFFER`` against the order."""
        if order.has_price:
            return order.price.as_decimal()
        px = self.market_price(order.instrument_id)
        if px is None:
            return None
        return px * (1 + MARKET_BUFFER) if order.side == OrderSide.BUY else px * (1 - MARKET_BUFFER)

    def market_price(self, instrument_id: Any) -> Decimal | None:
        """The best ask, else the last trade, else the newest bar's close."""
        quote = self.cache.quote_tick(instrument_id)
        if quote is not None:
            return quote.ask_price.as_decimal()
        trade = self.cache.trade_tick(instrument_id)
        if trade is not None:
            return trade.price.as_decimal()
        bars = [self.cache.bar(bt) for bt in self.cache.bar_types(instrument_id=instrument_id)]
        bars = [b for b in bars if b is not None]
        return max(bars, key=lambda b: b.ts_event).close.as_decimal() if bars else None


class MarginGuard(CashGuard):
    """Denies orders that add exposure beyond the free margin at ``leverage``."""

    def __init__(self, kernel: Any, leverage: float) -> None:
        super().__init__(kernel)
        self.leverage = Decimal(repr(leverage))

    def refusal(self, order: Any) -> str | None:
        instrument = self.cache.instrument(order.instrument_id)
        account = self.cache.account_for_venue(order.instrument_id.venue)
        if instrument is None or account is None or account.type != AccountType.MARGIN:
            return None
        net = sum((p.signed_decimal_qty() for p in self.cache.positions_open(instrument_id=order.instrument_id)),
                  Decimal(0))
        qty = order.quantity.as_decimal()
        signed = qty if order.side == OrderSide.BUY else -qty
        adds = max(Decimal(0), abs(net + signed) - abs(net))  # the exposure this order adds
        if adds == 0:
            return None  # it only reduces a position
        price = self._order_price(order)
        if price is None:
            return None
        equity, used = self.equity_and_used(account, instrument.quote_currency)
        needs = adds * price / self.leverage + adds * price * instrument.taker_fee
        free = equity - used
        if needs <= free:
            return None
        return (f"insufficient margin: needs {needs:,.2f} {instrument.quote_currency.code} at {self.leverage:g}x,"
                f" free margin {max(free, Decimal(0)):,.2f} (equity {equity:,.2f}, used {used:,.2f})")

    def equity_and_used(self, account: Any, currency: Any) -> tuple[Decimal, Decimal]:
        """Equity (balance + open P&L at the market) and used margin (open positions' cost / leverage)."""
        balance = account.balance_total(currency)
        equity = balance.as_decimal() if balance is not None else Decimal(0)
        used = Decimal(0)
        for p in self.cache.positions_open():
            cost = abs(p.signed_decimal_qty()) * Decimal(repr(p.avg_px_open))
            used += cost / self.leverage
            px = self.market_price(p.instrument_id)
            if px is not None:
                equity += p.signed_decimal_qty() * (px - Decimal(repr(p.avg_px_open)))
        return equity, used


class BarNotionalGate(SubmitGuard):
    """Denies a MARKET order over the max notional per order, priced at the last bar close, when the
    cache has no quote or trade to price it (the RiskEngine would pass it unchecked)."""

    def __init__(self, kernel: Any) -> None:
        super().__init__(kernel)
        self._bar_types: dict[Any, list[Any]] = {}

    def refusal(self, order: Any) -> str | None:
        """``NOTIONAL_EXCEEDS_MAX_PER_ORDER: ...`` (the RiskEngine's words), or None."""
        if order.order_type not in (OrderType.MARKET, OrderType.MARKET_TO_LIMIT) or order.is_reduce_only:
            return None
        iid = order.instrument_id
        cap = self.risk.max_notional_per_order(iid)
        if not cap or self.cache.quote_tick(iid) is not None or self.cache.trade_tick(iid) is not None:
            return None
        types = self._bar_types.get(iid)
        if not types:  # the instrument's bar types, looked up until it has some (then kept)
            types = self._bar_types[iid] = self.cache.bar_types(instrument_id=iid)
        closes = [bar for bt in types if (bar := self.cache.bar(bt)) is not None]
        instrument = self.cache.instrument(iid)
        if not closes or instrument is None:
            return None
        price = max(closes, key=lambda b: b.ts_event).close
        notional = instrument.notional_value(order.quantity, price, use_quote_for_inverse=True)
        if notional.as_decimal() <= Decimal(cap):
            return None
        return (f"NOTIONAL_EXCEEDS_MAX_PER_ORDER: max_notional={Decimal(cap):,.2f} {notional.currency.code}, "
                f"notional={notional.as_decimal():,.2f} {notional.currency.code} at the last bar close {price}")


def install_guard(kernel: Any, *, cash_account: bool, margin_leverage: float | None) -> Any:
    """The pre-trade checks on ``kernel``, paper and backtests alike: the max notional of bar-priced
    market orders, then the account's (spot cash or margin). Returns the outermost guard."""
    outer: Any = BarNotionalGate(kernel).install()
    if cash_account:
        guard: Any = CashGuard(kernel)
    elif margin_leverage:
        guard = MarginGuard(kernel, margin_leverage)
    else:
        return outer
    guard.forward = outer.check  # what passes the account's check goes on to the notional gate
    return guard.install()
