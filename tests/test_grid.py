"""The grid strategy keeps resting orders: a buy and a sell ladder around the price, each
fill re-placed one step away on the other side (the strategy the restore tests rest on)."""

from __future__ import annotations

import kernelext
from kernelext import frames

LEVELS = 2
STEP_PCT = 0.3


def test_grid_rests_buys_first_on_spot_and_replaces_each_fill_on_the_other_side(paperlab_home) -> None:
    """On the spot cash account (long-only) the grid lays its buys; each filled buy rests a sell
    one step up, each filled sell a buy one step down, so sells only ever sell what was bought."""
    bt = kernelext.backtest(strategy="grid", instrument="BTC/USD", params={"step_pct": STEP_PCT, "levels": LEVELS},
                            bars=3000)
    orders = frames.orders(bt).sort("ts_submitted_ns", maintain_order=True)
    fills = frames.fills(bt)
    assert set(orders["order_type"]) == {"LIMIT"}
    first = orders.head(LEVELS)
    assert list(first["side"]) == ["BUY"] * LEVELS  # nothing to sell before a buy fills
    buys = sorted(first["price"], reverse=True)
    step = buys[0] - buys[1]
    assert abs(step / (buys[0] + step) * 100 - STEP_PCT) < 0.01
    assert fills.height >= 4, "the replay never crossed the grid"
    later = orders.slice(LEVELS)
    assert later.height == fills.height
    for fill, placed in zip(fills.sort("ts_ns").iter_rows(named=True), later.iter_rows(named=True), strict=True):
        assert placed["side"] != fill["side"]
        expected = fill["price"] + step if fill["side"] == "BUY" else fill["price"] - step
        assert abs(placed["price"] - expected) <= 0.15, (fill, placed)
    # the grid keeps its size: ``levels`` orders were still resting when the backtest ended
    assert orders.filter(status="CANCELED").height == LEVELS
    qty = first["quantity"][0]
    net = 0.0
    for f in fills.sort("ts_ns").iter_rows(named=True):
        net += f["qty"] if f["side"] == "BUY" else -f["qty"]
        assert -1e-9 <= net <= LEVELS * qty + 1e-9  # never short, never more than the grid's buys
