"""The spot cash sandbox over a long replay: ema_cross for 400,000 one-minute bars as a paper
session (replay at full speed) and as its backtest (``backtest --like``): equity never below
zero, buys refused once the account is broke (each refusal counted once), the same fills."""

from __future__ import annotations

import os
import time

import pytest

import kernelext
from kernelext import frames

BARS = int(os.environ.get("PAPERLAB_BENCH_CASH_BARS", "400000"))


@pytest.mark.bench
@pytest.mark.timeout(1800)
def test_bench_cash_replay(paperlab_home, bench_print) -> None:
    t0 = time.perf_counter()
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 3, "slow": 8}, speed="max", max_bars=BARS,
                             starting_cash="20000 USD")
    assert runner.wait(1500) and runner.state == "stopped", runner.last_error
    paper_s = time.perf_counter() - t0
    sid = runner.session_id
    eq = frames.equity(sid)
    orders = frames.orders(sid)
    denied = orders.filter(status="DENIED")
    paper = frames.fills(sid)
    t0 = time.perf_counter()
    bt = kernelext.backtest(like=sid)
    bt_s = time.perf_counter() - t0
    back = frames.fills(bt)
    cols = ["side", "qty", "price", "fee"]
    assert eq["equity"].min() >= 0 and eq["balance"].min() >= 0
    assert set(frames.positions(sid)["side"]) <= {"LONG", "FLAT"}
    assert denied.height == runner.status().denied
    assert paper.select(cols).equals(back.select(cols))
    reasons = denied["reason"].str.split(":").list.first().value_counts().sort("count", descending=True)
    bench_print(
        f"cash_replay bars={BARS} paper={BARS / paper_s:,.0f} bars/s ({paper_s:.0f}s) backtest_like={BARS / bt_s:,.0f}"
        f" bars/s ({bt_s:.0f}s) fills={paper.height} (backtest {back.height}, identical) orders={orders.height}"
        f" denied={denied.height} ({', '.join(f'{r}: {n}' for r, n in reasons.iter_rows())})"
        f" min_equity={eq['equity'].min():,.2f} final_equity={eq['equity'][-1]:,.2f}"
        f" min_balance={eq['balance'].min():,.2f} (a buy needs 5,000 USD plus fees: once equity is below that,"
        f" every buy signal is refused, counted once each)"
    )

