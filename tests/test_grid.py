"""The grid strategy keeps resting orders: a buy and a sell ladder around the price, each
fill re-placed one step away on the other side (the strategy the restore tests rest on);
on spot it first buys the inventory its sells need."""

from __future__ import annotations

import kernelext
from kernelext import frames

LEVELS = 2
STEP_PCT = 0.3


def test_spot_grid_buys_its_inventory_then_rests_both_sides_and_replaces_each_fill(paperlab_home) -> None:
    """On the spot cash account (long-only) the grid first buys what its sells will sell, lays
    ``levels`` buys and sells around that fill, and re-places each fill on the other side."""
    bt = kernelext.backtest(strategy="grid", instrument="BTC/USD", params={"step_pct": STEP_PCT, "levels": LEVELS},
                            bars=3000)
    orders = frames.orders(bt).sort("ts_submitted_ns", maintain_order=True)
    fills = frames.fills(bt).sort("ts_ns", maintain_order=True)
    stock, grid = orders.row(0, named=True), orders.slice(1, 2 * LEVELS)
    assert stock["order_type"] == "MARKET" and stock["side"] == "BUY"
    qty = grid["quantity"][0]
    assert abs(stock["quantity"] - LEVELS * qty) < 1e-8
    assert set(orders.slice(1)["order_type"]) == {"LIMIT"}
    assert sorted(grid["side"]) == ["BUY"] * LEVELS + ["SELL"] * LEVELS  # laid on both sides at once
    center = fills["price"][0]  # around the inventory's fill
    buys = sorted(grid.filter(side="BUY")["price"], reverse=True)
    sells = sorted(grid.filter(side="SELL")["price"])
    step = (sells[0] - buys[0]) / 2
    assert abs(step / center * 100 - STEP_PCT) < 0.01 and abs((sells[0] + buys[0]) / 2 - center) <= 0.15
    grid_fills = fills.slice(1)
    assert grid_fills.height >= 4, "the replay never crossed the grid"
    later = orders.slice(1 + 2 * LEVELS)
    assert later.height == grid_fills.height
    for fill, placed in zip(grid_fills.iter_rows(named=True), later.iter_rows(named=True), strict=True):
        assert placed["side"] != fill["side"]
        expected = fill["price"] + step if fill["side"] == "BUY" else fill["price"] - step
        assert abs(placed["price"] - expected) <= 0.15, (fill, placed)
    # the grid keeps its size: 2 x levels orders were still resting when the backtest ended
    assert orders.filter(status="CANCELED").height == 2 * LEVELS
    net = 0.0
    for f in fills.iter_rows(named=True):
        net += f["qty"] if f["side"] == "BUY" else -f["qty"]
        assert -1e-9 <= net <= 2 * LEVELS * qty + 1e-9  # never short, never more than the grid's buys
