"""Run a SessionSpec's strategies through Nautilus's ``BacktestEngine`` on replay bars.

The same registry, params, instruments and bars as a paper session on the replay
feed: the generator's history bars go into a ``ParquetDataCatalog`` registered with
the engine (``BacktestDataClient.request_bars`` is a no-op, the catalog answers the
strategies' warm-up requests), the live bars are the engine's data.
"""

from __future__ import annotations

import kernelext.nautilus_compat  # noqa: F401  (before any Nautilus engine import: keeps the host loop policy)

import tempfile
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.config import DataCatalogConfig, LoggingConfig
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.model.objects import Money
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from kernelext.spec import SessionSpec, sleeve_tag
from kernelext.strategies import registry
from kernelext.venues.generator import HISTORY_BARS, BarGenerator
from kernelext.venues.pairs import KRAKEN, make_instrument


@dataclass(frozen=True, slots=True)
class BacktestFill:
    """One fill as the comparison needs it."""

    sleeve: str
    side: str
    qty: float
    price: float
    ts: int


def replay_bars(spec: SessionSpec, anchor_ns: int, count: int) -> tuple[dict[str, list[Bar]], dict[str, list[Bar]]]:
    """The generator's history and first ``count`` live bars per bar type of the spec."""
    history: dict[str, list[Bar]] = {}
    live: dict[str, list[Bar]] = {}
    for bar_type_str in sorted({s.bar_type for s in spec.sleeves}):
        gen = BarGenerator(BarType.from_str(bar_type_str), spec.seed, anchor_ns)
        history[bar_type_str] = gen.last_history(HISTORY_BARS)
        live[bar_type_str] = [gen.bar(k) for k in range(count)]
    return history, live


def run_backtest(spec: SessionSpec, *, anchor_ns: int, bars: int) -> tuple[BacktestEngine, list[BacktestFill]]:
    """Backtest ``spec`` over the replay generator's bars; returns the engine and its fills."""
    history, live = replay_bars(spec, anchor_ns, bars)
    with tempfile.TemporaryDirectory(prefix="paperlab-bt-") as catalog_dir:
        catalog = ParquetDataCatalog(catalog_dir)
        instruments = [make_instrument(s) for s in sorted({s.instrument for s in spec.sleeves})]
        catalog.write_data(instruments)
        for bars_ in history.values():
            catalog.write_data(bars_)
        engine = BacktestEngine(
            BacktestEngineConfig(
                trader_id="BACKTEST-001",
                logging=LoggingConfig(bypass_logging=True),
                catalogs=[DataCatalogConfig(path=catalog_dir)],
            )
        )
        engine.add_venue(
            venue=KRAKEN,
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            base_currency=Currency.from_str(spec.currency),
            starting_balances=[Money(Decimal(spec.starting_cash), Currency.from_str(spec.currency))],
            bar_execution=True,
        )
        for instrument in instruments:
            engine.add_instrument(instrument)
        for bars_ in live.values():
            engine.add_data(bars_)
        sleeves_by_strategy: dict[str, str] = {}
        for i, s in enumerate(spec.sleeves):
            entry = registry.get(s.strategy_key)
            bar_type = BarType.from_str(s.bar_type)
            config = registry.build_config(
                entry,
                instrument_id=InstrumentId.from_str(s.instrument_id),
                bar_type=bar_type,
                params=s.params,
                order_id_tag=sleeve_tag(i),
            )
            strategy = registry.build_strategy(entry, config)
            engine.add_strategy(strategy)
            sleeves_by_strategy[strategy.id.value] = s.name
        engine.run()
    fills = _fills(engine, sleeves_by_strategy)
    return engine, fills


def _fills(engine: BacktestEngine, sleeves_by_strategy: dict[str, str]) -> list[BacktestFill]:
    out: list[BacktestFill] = []
    for order in engine.cache.orders():
        for event in order.events:
            if type(event).__name__ == "OrderFilled":
                out.append(
                    BacktestFill(
                        sleeve=sleeves_by_strategy.get(event.strategy_id.value, ""),
                        side=event.order_side.name,
                        qty=event.last_qty.as_double(),
                        price=event.last_px.as_double(),
                        ts=event.ts_event,
                    )
                )
    out.sort(key=lambda f: (f.ts, f.sleeve))
    return out


def fills_as_rows(fills: list[Any]) -> list[tuple[str, str, float, float]]:
    """(sleeve, side, qty, price) tuples for comparisons."""
    return [(f.sleeve, f.side, round(f.qty, 8), round(f.price, 8)) for f in fills]
