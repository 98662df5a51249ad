"""Backtest speed: PaperLab's recorded backtest (BacktestEngine + telemetry + ledger, Polars
performance) vs a plain Nautilus BacktestEngine run with its own post-run statistics,
ema_cross over 100,000 and 400,000 one-minute bars, same process, same bars, same strategy code.

Both are timed from nothing prepared to statistics in hand, fastest of two interleaved rounds each: ours is one ``backtest()`` call
(it makes its bars); plain Nautilus makes the same bars, loads them, runs, and asks its
analyzer. Goal: ours >= 1.5x plain's speed. Nautilus sets its logger up once per process, so plain in
this process logs like ours (to the same file); plain alone in a fresh process with its logging
bypassed is printed beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from kernelext import frames
from kernelext import venues
from kernelext.research.backtest import _add_strategies, _load, backtest, generated_bars
from kernelext.spec import build_spec, make_sleeve

BARS = [int(b) for b in os.environ.get("PAPERLAB_BENCH_BT_BARS", "100000,400000").split(",")]
ANCHOR_NS = 1_767_225_600_000_000_000
ROUNDS = 3  # fastest of 3 per side: run-to-run noise here is +-15 %


@pytest.mark.bench
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("bars", BARS)
def test_bench_backtest_speed(paperlab_home, tmp_path, bench_print, bars: int, monkeypatch) -> None:
    BARS = bars
    spec = _spec()
    drains = _time_drains(monkeypatch)
    # Each side runs ROUNDS times, interleaved (ours, plain, ours, plain, ...), and keeps its fastest:
    # the machine's run-to-run noise (+-15 %) lands on both sides alike.
    ours_times, plain_times, fresh_times, perf_times = [], [], [], []
    plain = None
    for _ in range(ROUNDS):
        if plain is not None:
            plain.dispose()
        t0 = time.perf_counter()
        session_id = backtest(spec, bars=BARS, anchor_ns=ANCHOR_NS)
        t1 = time.perf_counter()
        perf = frames.performance(session_id)
        ours_times.append(time.perf_counter() - t0)
        perf_times.append(time.perf_counter() - t1)
        # Plain Nautilus in this process: Nautilus sets its logger up once per process, so it logs to the
        # same file at the same levels as ours did (with Nautilus's defaults: every order command and event).
        plain, stats, seconds = plain_nautilus(spec, BARS, str(tmp_path), bypass_logging=False)
        plain_times.append(seconds)
        # ... and in a fresh process of its own with logging bypassed (its fastest set-up).
        out = subprocess.run([sys.executable, "-m", "tests.bench.test_bench_backtest", str(BARS)], capture_output=True,
                             text=True, timeout=1200, env={**os.environ, "PAPERLAB_HOME": str(tmp_path / "fresh")})
        fresh_times.append(float(out.stdout.split()[-1]))
    ours_s, plain_s, fresh_s = min(ours_times), min(plain_times), min(fresh_times)
    best = ours_times.index(ours_s)
    plain_fills = sum(1 for o in plain.cache.orders() for _ in o.events if type(_).__name__ == "OrderFilled")
    ours_fills = frames.fills(session_id).height
    assert ours_fills == plain_fills > 0
    row = perf.row(0, named=True)
    bench_print(
        f"backtest_speed bars={BARS} ours={BARS / ours_s:,.0f} bars/s ({ours_s:.1f}s incl. ledger + Polars performance) "
        f"plain_nautilus={BARS / plain_s:,.0f} bars/s ({plain_s:.1f}s incl. its statistics) ratio={plain_s / ours_s:.2f} "
        f"(goal >= 1.5) | plain in a fresh process, logging bypassed: {BARS / fresh_s:,.0f} bars/s ({fresh_s:.1f}s) "
        f"ratio={fresh_s / ours_s:.2f} | fills={ours_fills} trades={row['trades']} win_rate={row['win_rate']:.3f} "
        f"realized_pnl={row['realized_pnl']:,.2f} fees={row['fees']:,.2f} max_dd_pct={row['max_drawdown_pct']:.2f} "
        f"sharpe={row['sharpe']:.2f} | nautilus pnl stats keys={len(stats)} | fastest of {ROUNDS} each: "
        f"ours {_secs(ours_times)}, plain {_secs(plain_times)}, fresh plain {_secs(fresh_times)} | ours' fastest: "
        f"writer drain after the run {drains[best]:.2f}s, performance {perf_times[best]:.2f}s, the rest (bars, "
        f"engine run, telemetry) {ours_s - drains[best] - perf_times[best]:.2f}s | load average at the end {_load_average()}"
    )
    plain.dispose()


def _time_drains(monkeypatch) -> list[float]:  # noqa: ANN001
    """Seconds each recorded backtest waits, once its run is over, for its writer to store the rest."""
    from kernelext.research import backtest as module

    drains: list[float] = []
    finish = module.recording.finish

    def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        try:
            return finish(*args, **kwargs)
        finally:
            drains.append(time.perf_counter() - t0)

    monkeypatch.setattr(module.recording, "finish", timed)
    return drains


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _secs(times: list[float]) -> str:
    return "/".join(f"{t:.1f}" for t in times) + " s"


def plain_nautilus(spec, bars: int, catalog: str, *, bypass_logging: bool):  # noqa: ANN001, ANN201
    """A plain Nautilus BacktestEngine over the same bars and strategy, with its own post-run
    statistics (its analyzer), timed from nothing prepared -> (engine, stats, seconds)."""
    from decimal import Decimal

    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import DataCatalogConfig, LoggingConfig
    from nautilus_trader.model.currencies import Currency
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.objects import Money

    from kernelext.session.account_guard import CashGuard
    from kernelext.session.node import process_logging
    from kernelext.venues.sandbox.instruments import KRAKEN

    t0 = time.perf_counter()
    data = generated_bars(spec, ANCHOR_NS, bars)
    logging = LoggingConfig(bypass_logging=True) if bypass_logging else process_logging("PLAIN-002")
    plain = BacktestEngine(BacktestEngineConfig(trader_id="PLAIN-002", logging=logging,
                                                catalogs=[DataCatalogConfig(path=catalog)], run_analysis=True))
    plain.add_venue(venue=KRAKEN, oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=None,
                    starting_balances=[Money(Decimal(spec.starting_cash), Currency.from_str("USD"))], bar_execution=True)
    CashGuard(plain.kernel).install()  # the same spot cash account as ours
    _load(plain, venues.get(spec.venue).backtest(spec), data, catalog)
    _add_strategies(plain, spec, {})
    plain.run()
    stats = plain.portfolio.analyzer.get_performance_stats_pnls(currency=Currency.from_str("USD"))
    return plain, stats, time.perf_counter() - t0


def _spec():  # noqa: ANN202
    return build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 10, "slow": 30})],
                      feed="replay", seed=7, anchor_ns=ANCHOR_NS)


if __name__ == "__main__":  # plain Nautilus alone in this process: prints its seconds last
    import tempfile

    _, _, seconds = plain_nautilus(_spec(), int(sys.argv[1]), tempfile.mkdtemp(), bypass_logging=True)
    print(f"{seconds:.3f}", flush=True)
    os._exit(0)
