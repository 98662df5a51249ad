"""The sandbox in a ``BacktestEngine``: KRAKEN pairs with their own fees, generator bars."""

from __future__ import annotations

from nautilus_trader.model.data import Bar, BarType

from kernelext.spec import SessionSpec
from kernelext.venues.base import BacktestSetup, BarData
from kernelext.venues.sandbox.generator import HISTORY_BARS, BarGenerator
from kernelext.venues.sandbox.instruments import KRAKEN, PAIRS, fee_tier, make_instrument, with_fees

SOURCE = "replay"  # a generated backtest's source, as a replayed session's feed


def setup(spec: SessionSpec) -> BacktestSetup:
    """One KRAKEN exchange, a spot cash account as the paper sandbox's; the spec's pairs with
    Kraken's base-tier maker/taker fees."""
    symbols = sorted({s.instrument for s in spec.sleeves})
    instruments = [make_instrument(s) for s in symbols]
    if spec.fee_volume:
        instruments = [with_fees(i, *fee_tier(spec.fee_volume)) for i in instruments]
    return BacktestSetup(venues=(KRAKEN.value,), instruments=tuple(instruments),
                         telemetry_venue=KRAKEN, cash_account=spec.margin is None, margin_leverage=spec.margin)


def generated_bars(spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
    """The generator's history and first ``count`` live bars per bar type of the spec."""
    history: dict[str, list[Bar]] = {}
    live: dict[str, list[Bar]] = {}
    for bar_type_str in sorted({s.bar_type for s in spec.sleeves}):
        gen = BarGenerator(BarType.from_str(bar_type_str), spec.seed, anchor_ns)
        history[bar_type_str] = gen.last_history(HISTORY_BARS)
        live[bar_type_str] = gen.bars(0, count)
    return BarData(history, live, SOURCE)


def bar_precision(instrument_id: str) -> tuple[int, int]:
    """A known pair's price and size precision; 8 and 8 for any other Kraken pair."""
    info = PAIRS.get(instrument_id.rsplit(".", 1)[0])
    return (info.price_precision, info.size_precision) if info else (8, 8)
