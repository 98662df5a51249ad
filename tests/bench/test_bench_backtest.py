"""Backtest speed: PaperLab's recorded backtest (BacktestEngine + telemetry + ledger, Polars
performance) vs a plain Nautilus BacktestEngine run with its own post-run statistics,
ema_cross over 100,000 and 400,000 one-minute bars, same process, same bars, same strategy code.

Both are timed from nothing prepared to statistics in hand: ours is one ``backtest()`` call
(it makes its bars); plain Nautilus makes the same bars, loads them, runs, and asks its
analyzer. Goal: ours >= 1.5x plain's speed."""

from __future__ import annotations

import os
import time

import pytest

from kernelext import frames
from kernelext import venues
from kernelext.research.backtest import _add_strategies, _load, backtest, generated_bars
from kernelext.spec import build_spec, make_sleeve

BARS = [int(b) for b in os.environ.get("PAPERLAB_BENCH_BT_BARS", "100000,400000").split(",")]
ANCHOR_NS = 1_767_225_600_000_000_000


@pytest.mark.bench
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("bars", BARS)
def test_bench_backtest_speed(paperlab_home, tmp_path, bench_print, bars: int) -> None:
    BARS = bars
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 10, "slow": 30})],
                      feed="replay", seed=7, anchor_ns=ANCHOR_NS)

    t0 = time.perf_counter()
    session_id = backtest(spec, bars=BARS, anchor_ns=ANCHOR_NS)
    perf = frames.performance(session_id)
    ours_s = time.perf_counter() - t0

    # Plain Nautilus: same engine set-up but with its own post-run statistics.
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import DataCatalogConfig, LoggingConfig

    t0 = time.perf_counter()
    data = generated_bars(spec, ANCHOR_NS, BARS)
    plain = BacktestEngine(BacktestEngineConfig(trader_id="PLAIN-002", logging=LoggingConfig(bypass_logging=True),
                                                catalogs=[DataCatalogConfig(path=str(tmp_path))], run_analysis=True))
    from decimal import Decimal
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.objects import Money
    from kernelext.venues.sandbox.instruments import KRAKEN

    from kernelext.session.account_guard import CashGuard

    plain.add_venue(venue=KRAKEN, oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=None,
                    starting_balances=[Money(Decimal(spec.starting_cash), Currency.from_str("USD"))], bar_execution=True)
    CashGuard(plain.kernel).install()  # the same spot cash account as ours
    _load(plain, venues.get(spec.venue).backtest(spec), data, str(tmp_path))
    _add_strategies(plain, spec, {})
    plain.run()
    stats = plain.portfolio.analyzer.get_performance_stats_pnls(currency=Currency.from_str("USD"))
    plain_s = time.perf_counter() - t0
    plain_fills = sum(1 for o in plain.cache.orders() for _ in o.events if type(_).__name__ == "OrderFilled")
    ours_fills = frames.fills(session_id).height
    assert ours_fills == plain_fills > 0
    row = perf.row(0, named=True)
    bench_print(
        f"backtest_speed bars={BARS} ours={BARS / ours_s:,.0f} bars/s ({ours_s:.1f}s incl. ledger + Polars performance) "
        f"plain_nautilus={BARS / plain_s:,.0f} bars/s ({plain_s:.1f}s incl. its statistics) ratio={plain_s / ours_s:.2f} "
        f"(goal >= 1.5) fills={ours_fills} trades={row['trades']} win_rate={row['win_rate']:.3f} "
        f"realized_pnl={row['realized_pnl']:,.2f} fees={row['fees']:,.2f} max_dd_pct={row['max_drawdown_pct']:.2f} "
        f"sharpe={row['sharpe']:.2f} | nautilus pnl stats keys={len(stats)}"
    )
    plain.dispose()
