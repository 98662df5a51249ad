"""The grid strategy keeps resting orders: a buy and a sell ladder around the price, each
fill re-placed one step away on the other side (the strategy the restore tests rest on)."""

from __future__ import annotations

import kernelext
from kernelext import frames

LEVELS = 2
STEP_PCT = 0.3


def test_grid_rests_both_sides_and_replaces_each_fill_on_the_other_side(paperlab_home) -> None:
    bt = kernelext.backtest(strategy="grid", instrument="BTC/USD", params={"step_pct": STEP_PCT, "levels": LEVELS},
                            bars=3000)
    orders = frames.orders(bt).sort("ts_submitted_ns", maintain_order=True)
    fills = frames.fills(bt)
    assert set(orders["order_type"]) == {"LIMIT"}
    first = orders.head(2 * LEVELS)
    assert sorted(first["side"]) == ["BUY"] * LEVELS + ["SELL"] * LEVELS  # laid on both sides at once
    buys = sorted(first.filter(side="BUY")["price"], reverse=True)
    sells = sorted(first.filter(side="SELL")["price"])
    step = (sells[0] - buys[0]) / 2
    assert abs(step / ((sells[0] + buys[0]) / 2) * 100 - STEP_PCT) < 0.01
    assert fills.height >= 4, "the replay never crossed the grid"
    # every fill rests an order of the other side one step away, submitted with the fill
    later = orders.slice(2 * LEVELS)
    assert later.height == fills.height
    for fill, placed in zip(fills.sort("ts_ns").iter_rows(named=True), later.iter_rows(named=True), strict=True):
        assert placed["side"] != fill["side"]
        expected = fill["price"] + step if fill["side"] == "BUY" else fill["price"] - step
        assert abs(placed["price"] - expected) <= 0.15, (fill, placed)
    # the grid keeps its size: 2 x levels orders were still resting when the backtest ended
    assert orders.filter(status="CANCELED").height == 2 * LEVELS
    qty = first["quantity"][0]
    net = sum(f["qty"] if f["side"] == "BUY" else -f["qty"] for f in fills.iter_rows(named=True))
    assert abs(net) <= LEVELS * qty + 1e-9
