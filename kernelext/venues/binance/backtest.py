"""Binance in Nautilus's ``BacktestEngine``: a spot cash account on BINANCE with Binance's
standard fee schedule (0.1% maker and taker), for ``backtest --like`` a Binance session."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Price, Quantity

from kernelext.spec import SessionSpec
from kernelext.venues.base import BacktestSetup
from kernelext.venues.binance.constants import BINANCE, MAKER_FEE, TAKER_FEE
from kernelext.venues.binance.symbology import quote_of, symbol_of


def instrument(instrument_id: str) -> CurrencyPair:
    """A Binance spot pair as the adapter loads it (0.01 tick, 0.00001 step), with Binance's fees."""
    symbol = symbol_of(instrument_id)
    quote = quote_of(instrument_id)
    base = symbol[: -len(quote)]
    return CurrencyPair(
        instrument_id=InstrumentId(Symbol(symbol), BINANCE), raw_symbol=Symbol(symbol),
        base_currency=Currency.from_str(base), quote_currency=Currency.from_str(quote),
        price_precision=2, size_precision=5, price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.00001"), lot_size=None, max_quantity=Quantity.from_str("9000.00000"),
        min_quantity=Quantity.from_str("0.00001"), max_notional=None, min_notional=None, max_price=None,
        min_price=None, margin_init=Decimal(0), margin_maint=Decimal(0), maker_fee=Decimal(MAKER_FEE),
        taker_fee=Decimal(TAKER_FEE), ts_event=0, ts_init=0,
    )


def setup(spec: SessionSpec) -> BacktestSetup:
    return BacktestSetup(venues=(BINANCE.value,), instruments=tuple(instrument(i) for i in spec.instruments),
                         telemetry_venue=BINANCE, cash_account=True)
