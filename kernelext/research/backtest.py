"""The same strategies in Nautilus's ``BacktestEngine``, recorded in the ledger like paper.

``backtest(spec, ...)`` runs a spec's sleeves (same registry, same params) over
historical bars and stores the run as a session of kind ``backtest``: the telemetry
actor that records paper sessions runs inside the engine, so every frame (fills,
equity, round_trips, performance) works the same on both. Bars come from:

- the venue's generator (``Venue.generated_bars``: the sandbox's seeded bars, ``bars``
  live bars after its history),
- a ``ParquetDataCatalog`` (``spec.catalog_path``: its first 500 bars are history),
- an earlier session (``like=SESSION``): exactly the bars its strategies saw, warm-up
  history included, so a finished paper session re-runs over its own window.

Warm-up history goes into a temporary ``ParquetDataCatalog`` registered with the engine
(``BacktestDataClient.request_bars`` is a no-op; the catalog answers the requests).
Nautilus's post-run analysis is off (``run_analysis=False``): it grows quadratically
with trades, and ``frames.performance`` computes the same in Polars from the ledger.
A recorded run also has Nautilus purge its cache on the run's clock (closed orders,
closed positions and their snapshots, old account events), as a paper replay does:
the ledger holds them, and a cache that keeps them all makes every later bar dearer
(400k bars: 37 s -> 28 s). Without a drawdown cap or margin watch its telemetry marks the
equity curve from account snapshots instead of on every bar (``session/marks.py``): the
same points, and no work per bar.
"""

from __future__ import annotations

import kernelext.compat  # noqa: F401  (before any Nautilus engine import: keeps the host loop policy)

import heapq
import tempfile
from collections.abc import Iterator
from itertools import repeat
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import DataCatalogConfig, ExecEngineConfig
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, AggregationSource, OmsType, TradingState
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.catalog import ParquetDataCatalog

from kernelext.events import now_ns
from kernelext.venues.base import BacktestSetup, BarData
from kernelext.session.hub import Hub
from kernelext.ledger import Ledger, queries
from kernelext.ledger.writers import ProcessLedgerWriter
from kernelext.session import recording
from kernelext.session.node import process_logging
from kernelext.session.sleeves import build_strategies
from kernelext import venues
from kernelext.spec import SessionSpec, SpecError, spec_from_dict

CATALOG_HISTORY_BARS = 500
DEFAULT_BARS = 10_000
PURGE_EVERY_MINS = 15  # the paper node's purge cadence (kernelext.session.node), here in market time


@dataclass(frozen=True, slots=True)
class BacktestFill:
    """One fill as the parity comparison needs it."""

    sleeve: str
    side: str
    qty: float
    price: float
    ts: int


# -- bar sources --------------------------------------------------------------------------------


def generated_bars(spec: SessionSpec, anchor_ns: int, count: int) -> BarData:
    """The venue's made-up history and first ``count`` live bars per bar type of the spec."""
    return venues.get(spec.venue).generated_bars(spec, anchor_ns, count)


def _catalog_bars(spec: SessionSpec, count: int | None) -> BarData:
    catalog = ParquetDataCatalog(spec.catalog_path)
    history, live = {}, {}
    for bar_type_str in sorted({s.bar_type for s in spec.sleeves}):
        bars = list(catalog.bars(bar_types=[bar_type_str]))
        history[bar_type_str] = bars[:CATALOG_HISTORY_BARS]
        live[bar_type_str] = bars[CATALOG_HISTORY_BARS:][: count or None]
    return BarData(history, live, "catalog")


def session_bars(session_id: str, ledger: Ledger) -> BarData:
    """Exactly the bars an earlier session's strategies saw (history = their warm-up).

    Bars the session built in its node from trades (INTERNAL, on a live crypto feed) come back
    as EXTERNAL bars of the same spec: ``BacktestEngine.add_data`` takes external bars only."""
    history: dict[str, list[Bar]] = {}
    live: dict[str, list[Bar]] = {}
    for bar_type_str, ts, o, h, lo, c, v, hist in queries.bars(ledger, session_id):
        bar_type = BarType.from_str(bar_type_str)
        if bar_type.is_internally_aggregated():
            bar_type = BarType(bar_type.instrument_id, bar_type.spec, AggregationSource.EXTERNAL)
            bar_type_str = str(bar_type)
        iid = bar_type.instrument_id.value
        p, q = venues.owner_of(iid).bar_precision(iid)
        bar = Bar(bar_type, Price(o, p), Price(h, p), Price(lo, p), Price(c, p), Quantity(v, q), ts, ts)
        (history if hist else live).setdefault(bar_type_str, []).append(bar)
    return BarData(history, live, f"session {session_id}")


# -- the engine ---------------------------------------------------------------------------------


def _purging_exec_engine() -> ExecEngineConfig:
    """Nautilus's own cache purges, on the backtest's clock (market time), every ``PURGE_EVERY_MINS``:
    closed orders, closed positions (with their snapshots) and account events but the latest.
    The ledger holds the run's history; a cache that keeps it all makes every later bar dearer."""
    return ExecEngineConfig(
        purge_closed_orders_interval_mins=PURGE_EVERY_MINS, purge_closed_orders_buffer_mins=0,
        purge_closed_positions_interval_mins=PURGE_EVERY_MINS, purge_closed_positions_buffer_mins=0,
        purge_account_events_interval_mins=PURGE_EVERY_MINS, purge_account_events_lookback_mins=0,
    )


def _engine(spec: SessionSpec, catalog_dir: str, trader_id: str, setup: BacktestSetup, *,
            purge: bool = False) -> BacktestEngine:
    """``purge``: the cache drops what closed as the run goes (a recorded run: the ledger has it)."""
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=trader_id,
            logging=process_logging(trader_id),
            catalogs=[DataCatalogConfig(path=catalog_dir)],
            run_analysis=False,
            exec_engine=_purging_exec_engine() if purge else ExecEngineConfig(),
        )
    )
    for venue in setup.venues:
        engine.add_venue(
            venue=Venue(venue),
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH if setup.cash_account else AccountType.MARGIN,
            base_currency=None if setup.cash_account else Currency.from_str(spec.currency),  # cash: every asset
            default_leverage=Decimal(repr(setup.margin_leverage)) if setup.margin_leverage else None,
            starting_balances=[Money(Decimal(spec.starting_cash), Currency.from_str(spec.currency))],
            bar_execution=True,
            fee_model=setup.fee_model() if setup.fee_model else None,
        )
    return engine


def _add_strategies(engine: BacktestEngine, spec: SessionSpec, bar_types: dict[str, str], *,
                    log_order_flow: bool = True) -> dict[str, str]:
    """The spec's sleeves as strategies; returns strategy id -> sleeve name."""
    sleeves_by_strategy: dict[str, str] = {}
    for strategy, sleeve in build_strategies(spec, lambda s: bar_types.get(s.instrument_id, s.bar_type),
                                             log_order_flow=log_order_flow):
        engine.add_strategy(strategy)
        sleeves_by_strategy[strategy.id.value] = sleeve
    return sleeves_by_strategy


def _load(engine: BacktestEngine, setup: BacktestSetup, data: BarData, catalog_dir: str) -> None:
    instruments = list(setup.instruments)
    catalog = ParquetDataCatalog(catalog_dir)
    catalog.write_data(instruments)
    for bars in data.history.values():
        if bars:
            catalog.write_data(bars)
    for instrument in instruments:
        engine.add_instrument(instrument)
    for bars in data.live.values():
        if bars:
            engine.add_data(bars)


def handling_order(data: BarData) -> Iterator[tuple[str, Bar]]:
    """The live bars as ``(bar type, bar)`` in the order the engine handles them: by time, equal
    times in the order the streams were added (``heapq.merge`` is stable)."""
    streams = [zip(repeat(bar_type_str), bars) for bar_type_str, bars in data.live.items()]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda item: item[1].ts_event)


def _strategy_bar_types(data: BarData) -> dict[str, str]:
    """instrument id -> the bar type its live bars carry (INTERNAL for a Kraken session's)."""
    return {BarType.from_str(bt).instrument_id.value: bt for bt in data.live}


# -- public API ---------------------------------------------------------------------------------


def backtest(
    spec: SessionSpec | None = None,
    *,
    like: str | None = None,
    bars: int | None = None,
    anchor_ns: int | None = None,
    label: str | None = None,
    ledger: Ledger | None = None,
) -> str:
    """Run a backtest, record it in the ledger as a ``backtest`` session; returns its id."""

    ledger = ledger or Ledger()
    if like is not None:
        source_id = ledger.resolve_session(like)
        row = ledger.session(source_id) or {}
        spec = spec_from_dict(row["spec"])
        if venues.get(spec.venue).account_cash:  # the account's own cash at the session's start
            balance = queries.first_balance(ledger, source_id)
            if balance:
                spec = replace(spec, starting_cash=Decimal(str(round(balance, 2))))
        data = session_bars(source_id, ledger)
        if not data.live:
            raise SpecError(f"like: session {source_id} recorded no bars to re-run")
        label = label or f"backtest like {row.get('label') or source_id}"
    elif spec is None:
        raise SpecError("backtest: give a spec (strategy and instrument, or sleeves) or --like SESSION")
    elif spec.catalog_path:
        data = _catalog_bars(spec, bars)
    else:
        anchor = anchor_ns or spec.anchor_ns or _default_anchor(spec, bars or spec.max_bars or DEFAULT_BARS)
        data = generated_bars(spec, anchor, bars or spec.max_bars or DEFAULT_BARS)
    spec = replace(spec, label=label or f"backtest {spec.label}", report_every_s=None, report_at=None, notify=(),
                   notify_fills_s=None)  # a paper session's schedule and notifications are not a backtest's
    session_id = recording.new_session_id()
    return _run_recorded(spec, data, session_id, ledger)


def _default_anchor(spec: SessionSpec, count: int) -> int:
    """End the generated window at the last whole bar before now (a history-like period)."""
    interval = int(BarType.from_str(spec.sleeves[0].bar_type).spec.timedelta.total_seconds() * 1e9)
    now = now_ns()
    return now - now % interval - count * interval


def _run_recorded(spec: SessionSpec, data: BarData, session_id: str, ledger: Ledger) -> str:
    from kernelext.session.account_guard import install_guard
    from kernelext.session.trade_stats import skip_trade_recording
    from kernelext.session.telemetry import Telemetry

    hub = Hub()
    writer = ProcessLedgerWriter(ledger, audit=False)  # simulated orders: not intents to audit
    hub.add_sink(writer.put)
    bar_types = _strategy_bar_types(data)
    recording.create_row(ledger, session_id, spec, kind="backtest", venue="backtest", feed=data.source,
                         status="running")
    status, error = "stopped", None
    try:
        with tempfile.TemporaryDirectory(prefix="paperlab-bt-") as catalog_dir:
            setup = venues.get(spec.venue).backtest(spec)
            engine = _engine(spec, catalog_dir, f"BACKTEST-{session_id[-6:].upper()}", setup, purge=True)
            skip_trade_recording(engine.kernel.portfolio)  # statistics come from Polars over the ledger
            install_guard(engine.kernel, cash_account=setup.cash_account,  # the paper session's pre-trade checks
                          margin_leverage=setup.margin_leverage)
            _load(engine, setup, data, catalog_dir)
            sleeves = _add_strategies(engine, spec, bar_types, log_order_flow=False)  # the ledger has them all
            risk = engine.kernel.risk_engine
            telemetry = Telemetry(
                session_id=session_id,
                venue=setup.telemetry_venue,
                currency=spec.currency,
                starting_cash=float(spec.starting_cash),
                sleeves_by_strategy=sleeves,
                publish=hub.publish,
                max_drawdown_pct=spec.risk.max_drawdown_pct,
                halt=lambda: risk.set_trading_state(TradingState.HALTED),
                cash_account=setup.cash_account,
                margin_leverage=setup.margin_leverage,
                # nothing acts on a per-bar point (no drawdown cap, no margin call): mark after the run
                marks_after_run=spec.risk.max_drawdown_pct is None and not setup.margin_leverage,
                order_init=False,  # a backtest is never relaunched: its orders are not rebuilt
            )
            telemetry.signal_sources = {st.id.value: st for st in engine.trader.strategies()}
            engine.add_actor(telemetry)
            if telemetry.marks_after_run:
                telemetry.plan_bars(handling_order(data))
            engine.run()
            if telemetry.marks_after_run:
                telemetry.record_after_run()
            else:
                telemetry._flush_equity()
            engine.dispose()
    except Exception as e:  # noqa: BLE001  (recorded, then raised as one line)
        status, error = "error", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    recording.finish(ledger, writer, hub.publish, session_id, status=status,
                     message=f"backtest {status}: {data.count} bars from {data.source}", error=error,
                     extras={"bars": data.count, "source": data.source})
    if error:
        raise RuntimeError(f"backtest {session_id} failed: {error}")
    return session_id


def run_backtest(spec: SessionSpec, *, anchor_ns: int, bars: int) -> tuple[BacktestEngine, list[BacktestFill]]:
    """Backtest ``spec`` over the venue's generated bars without recording (parity checks)."""
    data = generated_bars(spec, anchor_ns, bars)
    with tempfile.TemporaryDirectory(prefix="paperlab-bt-") as catalog_dir:
        setup = venues.get(spec.venue).backtest(spec)
        engine = _engine(spec, catalog_dir, "BACKTEST-001", setup)
        _load(engine, setup, data, catalog_dir)
        sleeves = _add_strategies(engine, spec, _strategy_bar_types(data))
        engine.run()
    return engine, _fills(engine, sleeves)


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
