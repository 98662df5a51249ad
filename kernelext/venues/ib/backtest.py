"""What a backtest needs to re-run an ib-paper session: its stocks and IB's commissions.

An ib-paper session records the bars its strategy saw; ``backtest(like=SESSION)`` replays
them in Nautilus's ``BacktestEngine``. The instruments there are plain US equities in IB
simplified symbology (``QQQ.NASDAQ``: venue NASDAQ, cents, whole shares), and fills pay
IB's fixed-rate stock commission: 0.005 USD a share, at least 1.00 and at most 1 % of the
trade's value (IBKR Pro fixed pricing; exchange and regulatory fees left out).
"""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.backtest.models import FeeModel
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity

from kernelext.spec import SessionSpec
from kernelext.venues.base import BacktestSetup

PRICE_PRECISION = 2
PER_SHARE = Decimal("0.005")
MINIMUM = Decimal("1.00")
MAXIMUM_OF_VALUE = Decimal("0.01")


def equity_instrument(instrument_id: str) -> Equity:
    """``QQQ.NASDAQ`` -> a USD equity on NASDAQ (0.01 tick, 1-share lots)."""
    iid = InstrumentId.from_str(instrument_id)
    return Equity(
        instrument_id=iid,
        raw_symbol=iid.symbol,
        currency=USD,
        price_precision=PRICE_PRECISION,
        price_increment=Price.from_str("0.01"),
        lot_size=Quantity.from_int(1),
        ts_event=0,
        ts_init=0,
    )


def ib_commission(shares: Decimal, price: Decimal) -> Decimal:
    """IB's fixed-rate stock commission for one fill, in USD."""
    fee = max(shares * PER_SHARE, MINIMUM)
    return min(fee, shares * price * MAXIMUM_OF_VALUE).quantize(Decimal("0.01"))


class IbFixedFeeModel(FeeModel):
    """Nautilus fee model charging ``ib_commission`` per fill."""

    def get_commission(self, order, fill_qty, fill_px, instrument) -> Money:  # type: ignore[override]
        return Money(ib_commission(fill_qty.as_decimal(), fill_px.as_decimal()), USD)


def setup(spec: SessionSpec) -> BacktestSetup:
    """The stocks' exchanges (``QQQ.NASDAQ`` -> NASDAQ), each charging IB's fixed commission."""
    venues = sorted({InstrumentId.from_str(i).venue.value for i in spec.instruments})
    symbols = sorted({s.instrument for s in spec.sleeves})
    return BacktestSetup(venues=tuple(venues), instruments=tuple(equity_instrument(s) for s in symbols),
                         telemetry_venue=InstrumentId.from_str(spec.instruments[0]).venue, fee_model=IbFixedFeeModel)
