"""Crypto spot pairs the replay feed knows, as Nautilus ``CurrencyPair`` instruments on KRAKEN.

Precisions follow Kraken's spot AssetPairs (``tick_size`` / ``lot_decimals``), fees
its base tier (maker 0.25 %, taker 0.40 %) and margin its ``leverage_buy`` (5x for the
majors, 3x otherwise), so replayed sessions look like the live sandbox. ``price`` is a plausible starting level for the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Price, Quantity

KRAKEN = Venue("KRAKEN")


@dataclass(frozen=True, slots=True)
class PairInfo:
    """Static facts of one replayable pair."""

    symbol: str  # "BTC/USD"
    price: float  # starting price level for the generator
    price_precision: int
    size_precision: int
    annual_vol: float  # typical annualised volatility
    notional_per_min: float = 250_000.0  # typical traded value per minute, quote currency
    max_leverage: int = 3  # Kraken's highest leverage_buy for the pair (margin trading)


PAIRS: dict[str, PairInfo] = {
    p.symbol: p
    for p in (
        PairInfo("BTC/USD", 65_000.0, 1, 8, 0.55, 3_000_000.0, max_leverage=5),
        PairInfo("ETH/USD", 3_200.0, 2, 8, 0.70, 1_500_000.0, max_leverage=5),
        PairInfo("SOL/USD", 150.0, 2, 8, 0.95, 600_000.0),
        PairInfo("XRP/USD", 0.60, 5, 8, 0.85),
        PairInfo("ADA/USD", 0.45, 6, 8, 0.90),
        PairInfo("DOGE/USD", 0.12, 7, 8, 1.10),
        PairInfo("LTC/USD", 80.0, 2, 8, 0.75),
        PairInfo("DOT/USD", 6.5, 4, 8, 0.90),
        PairInfo("LINK/USD", 14.0, 5, 8, 0.90),
        PairInfo("BTC/EUR", 60_000.0, 1, 8, 0.55, 600_000.0, max_leverage=5),
        PairInfo("ETH/EUR", 2_950.0, 2, 8, 0.70),
        PairInfo("ETH/BTC", 0.05, 5, 8, 0.45),
    )
}


FEE_TIERS: tuple[tuple[float, str, str], ...] = (
    (0, "0.0025", "0.0040"), (10_000, "0.0020", "0.0035"), (50_000, "0.0014", "0.0024"),
    (100_000, "0.0012", "0.0022"), (250_000, "0.0010", "0.0020"), (500_000, "0.0008", "0.0018"),
    (1_000_000, "0.0006", "0.0016"), (2_500_000, "0.0004", "0.0014"), (5_000_000, "0.0002", "0.0012"),
    (10_000_000, "0.0000", "0.0010"),
)
"""Kraken's spot fee schedule: (30-day USD volume from which it applies, maker, taker), as its
AssetPairs reports per pair (``fees_maker`` / ``fees``, in percent) and kraken.com/features/fee-schedule."""


def fee_tier(volume: float) -> tuple[Decimal, Decimal]:
    """(maker, taker) fee rates of the tier a 30-day volume of ``volume`` USD falls in."""
    maker, taker = FEE_TIERS[0][1:]
    for floor, m, t in FEE_TIERS:
        if volume >= floor:
            maker, taker = m, t
    return Decimal(maker), Decimal(taker)


def with_fees(instrument: CurrencyPair, maker: Decimal, taker: Decimal) -> CurrencyPair:
    """A copy of ``instrument`` charging ``maker`` / ``taker``."""
    d = CurrencyPair.to_dict(instrument)
    d.update(maker_fee=str(maker), taker_fee=str(taker))
    return CurrencyPair.from_dict(d)


def normalize_symbol(text: str) -> str:
    """``btc/usd``, ``BTCUSD``, ``BTC/USD.KRAKEN`` or ``XBT/USD`` -> ``BTC/USD`` (no check)."""
    s = text.strip().upper()
    if s.endswith(".KRAKEN"):
        s = s[: -len(".KRAKEN")]
    if "/" not in s:
        for quote in ("USD", "EUR", "BTC", "USDT", "USDC"):
            if s.endswith(quote) and len(s) > len(quote):
                s = f"{s[: -len(quote)]}/{quote}"
                break
    base, _, quote = s.partition("/")
    base = {"XBT": "BTC", "XDG": "DOGE"}.get(base, base)
    return f"{base}/{quote}" if quote else base


def instrument_id(symbol: str) -> InstrumentId:
    """``BTC/USD`` -> ``BTC/USD.KRAKEN``."""
    return InstrumentId(Symbol(symbol), KRAKEN)


def make_instrument(symbol: str) -> CurrencyPair:
    """The Nautilus instrument for a known pair (``KeyError`` if unknown)."""
    info = PAIRS[symbol]
    base, quote = symbol.split("/")
    price_inc = Price(10 ** -info.price_precision, info.price_precision)
    size_inc = Quantity(10 ** -info.size_precision, info.size_precision)
    return CurrencyPair(
        instrument_id=instrument_id(symbol),
        raw_symbol=Symbol(symbol),
        base_currency=Currency.from_str(base),
        quote_currency=Currency.from_str(quote),
        price_precision=info.price_precision,
        size_precision=info.size_precision,
        price_increment=price_inc,
        size_increment=size_inc,
        ts_event=0,
        ts_init=0,
        maker_fee=Decimal("0.0025"),
        taker_fee=Decimal("0.004"),
        margin_init=Decimal("0"),
        margin_maint=Decimal("0"),
    )
