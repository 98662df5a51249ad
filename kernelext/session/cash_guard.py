"""The spot cash check Nautilus's RiskEngine leaves out: a buy must be paid for, fees included.

Nautilus denies a cash-account buy whose notional at the last price exceeds the free quote
balance, but the fill's taker fee (and a market order's fill at the next price) can still
take the balance below zero, which ends the session (``AccountBalanceNegative``). Kraken
refuses such an order ("insufficient funds"). The guard sits in front of the RiskEngine's
``execute`` endpoint, in paper sessions and backtests alike, and denies a buy whose cost --
quantity x (its limit price, or the market price plus ``MARKET_BUFFER``) x (1 + taker fee)
-- exceeds the free quote balance, with a one-line reason; everything else passes on to the
RiskEngine unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nautilus_trader.execution.messages import SubmitOrder
from nautilus_trader.model.enums import AccountType, OrderSide

ENDPOINT = "RiskEngine.execute"
MARKET_BUFFER = Decimal("0.005")  # a market buy may fill this much above the price it was sized at


class CashGuard:
    """Denies spot cash buys the account cannot pay for (installed on a kernel's message bus)."""

    def __init__(self, kernel: Any) -> None:
        self.cache = kernel.cache
        self.risk = kernel.risk_engine
        self.forward = kernel.risk_engine.execute  # what passes goes on to the RiskEngine
        self.msgbus = kernel.msgbus
        self.denied = 0

    def install(self) -> CashGuard:
        """Take the RiskEngine's ``execute`` endpoint; commands that pass go on to it."""
        self.msgbus.deregister(ENDPOINT, self.forward)
        self.msgbus.register(ENDPOINT, self.check)
        return self

    def check(self, command: Any) -> None:
        """A submit the account cannot pay for is denied; every other command goes on."""
        if isinstance(command, SubmitOrder):
            reason = self.refusal(command.order)
            if reason is not None:
                self.denied += 1
                self.risk._deny_order(command.order, reason)
                return
        self.forward(command)

    def refusal(self, order: Any) -> str | None:
        """Why the buy cannot be paid for, or None (sells and margin accounts: the RiskEngine's)."""
        if order.side != OrderSide.BUY:
            return None
        instrument = self.cache.instrument(order.instrument_id)
        account = self.cache.account_for_venue(order.instrument_id.venue)
        if instrument is None or account is None or account.type != AccountType.CASH:
            return None
        price = order.price.as_decimal() if order.has_price else self._market_price(order.instrument_id)
        if price is None:
            return None  # no price yet: the RiskEngine decides
        if not order.has_price:
            price *= 1 + MARKET_BUFFER
        cost = order.quantity.as_decimal() * price * (1 + instrument.taker_fee)
        currency = instrument.quote_currency
        free = account.balance_free(currency)
        free_amount = free.as_decimal() if free is not None else Decimal(0)
        if cost <= free_amount:
            return None
        return f"insufficient {currency.code} balance: needs {cost:,.2f}, free {free_amount:,.2f} (fees included)"

    def _market_price(self, instrument_id: Any) -> Decimal | None:
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
