"""Parity: the same strategy, params and replayed bars give the same fills in paper
(a TradingNode with sandbox execution at --speed max) and in Nautilus's BacktestEngine."""

from __future__ import annotations

import polars as pl
import pytest

from kernelext import frames
from kernelext.research.backtest import fills_as_rows, run_backtest
from kernelext.ledger import Ledger
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve, sleeves_from_json

ANCHOR_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
BARS = 1_500


def _paper_fills(spec, ledger: Ledger) -> list[tuple[str, str, float, float]]:
    runner = SessionRunner(spec, ledger=ledger).start()
    assert runner.wait(120), "session did not finish"
    assert runner.state == "stopped", runner.last_error
    df = frames.fills(runner.session_id, ledger=ledger).sort("ts_ns", "sleeve")
    return [(r["sleeve"], r["side"], round(r["qty"], 8), round(r["price"], 8)) for r in df.iter_rows(named=True)]


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("ema_cross", {"fast": 8, "slow": 21}), ("tsmom", {"lookback": 30}), ("ibs_reversion", {})],
)
def test_paper_fills_equal_backtest_fills(strategy: str, params: dict, paperlab_home) -> None:
    spec = build_spec(
        sleeves=[make_sleeve(strategy, "BTC/USD", params=params)],
        speed="max",
        seed=11,
        anchor_ns=ANCHOR_NS,
        max_bars=BARS,
    )
    paper = _paper_fills(spec, Ledger())
    _, bt = run_backtest(spec, anchor_ns=ANCHOR_NS, bars=BARS)
    backtest = fills_as_rows(bt)
    assert len(paper) > 5, "the strategy should trade on 1,500 bars"
    assert paper == backtest


def test_book_parity_and_sleeve_attribution(paperlab_home) -> None:
    sleeves = sleeves_from_json(
        [
            {"strategy": "ema_cross", "instrument": "BTC/USD", "params": {"fast": 8, "slow": 21}},
            {"strategy": "tsmom", "instrument": "ETH/USD", "params": {"lookback": 30}},
        ]
    )
    spec = build_spec(sleeves=sleeves, speed="max", seed=5, anchor_ns=ANCHOR_NS, max_bars=BARS)
    ledger = Ledger()
    paper = _paper_fills(spec, ledger)
    _, bt = run_backtest(spec, anchor_ns=ANCHOR_NS, bars=BARS)
    assert sorted(paper) == sorted(fills_as_rows(bt))
    fills = frames.fills("latest", ledger=ledger)
    by_sleeve = dict(fills.group_by("sleeve").agg(pl.col("instrument").unique()).iter_rows())
    assert set(by_sleeve) == {"ema_cross:BTC/USD", "tsmom:ETH/USD"}
    assert by_sleeve["ema_cross:BTC/USD"] == ["BTC/USD.KRAKEN"]
    assert by_sleeve["tsmom:ETH/USD"] == ["ETH/USD.KRAKEN"]
    assert fills["sleeve"].null_count() == 0
    orders = frames.orders("latest", ledger=ledger)
    assert orders["sleeve"].null_count() == 0
