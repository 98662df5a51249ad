"""The dashboard's price chart on real grid sessions: candles, fill markers, resting orders, position."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import panel as pn
import polars as pl
import pytest

import kernelext
from kernelext import api, frames
from kernelext.events import Event
from kernelext.ledger import Ledger
from widgets.dashboard import SessionDashboard
from widgets.feed import eastern_ms
from widgets.price_chart import BUY, SELL, PriceChart, bar_ms, instrument_of

GRID = {"step_pct": 0.1, "levels": 2}
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
MIN = 60_000_000_000
BAR_TYPE = "BTC/USD.SIM-1-MINUTE-LAST-EXTERNAL"


def wait_for(check: Callable[[], bool], refresh: Callable[[], None], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        refresh()
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path = tmp_path_factory.mktemp("price-chart-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAPERLAB_HOME", str(path))
        led = Ledger(path)
        yield led
        led.close()


@pytest.fixture(scope="module")
def finished(home: Ledger) -> str:
    """A finished grid session: 1500 bars (more than the chart's 500 candles), fills both ways."""
    runner = kernelext.start("grid", "BTC/USD", params=GRID, speed="max", max_bars=1500, ledger=home)
    assert runner.wait(90) and runner.state == "stopped", runner.last_error
    return runner.session_id


def test_candles_fills_and_position_of_a_finished_session(home: Ledger, finished: str) -> None:
    sid, led = finished, home
    dash = SessionDashboard(sid, led, controls=False)
    dash.refresh()
    chart = dash.price_chart
    bars = frames.bars(sid, led)
    assert bars.height == 1500 and chart.bar_type == bars["bar_type"][0] == "BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL"
    # candles: the last 500 bars the strategies saw, each spanning its minute (ts is the bar's close)
    last = bars.tail(500)
    data = chart.candles_source.data
    assert chart.counts["candles"] == 500
    assert list(data["close"]) == last["close"].to_list() and list(data["open"]) == last["open"].to_list()
    assert list(data["high"]) == last["high"].to_list() and list(data["low"]) == last["low"].to_list()
    assert data["x"][-1] == pytest.approx(eastern_ms(last["ts_ns"][-1]) - 30_000)
    assert chart.bodies.glyph.width == pytest.approx(42_000)
    # fills: every fill inside the window, at its time and price, the right marker per side
    start = eastern_ms(last["ts_ns"][0]) - 60_000
    all_fills = frames.fills(sid, led)
    fills = all_fills.filter(pl.Series([eastern_ms(t) >= start for t in all_fills["ts_ns"]]))
    shown = chart.fills_source.data
    assert set(fills["side"]) == {"BUY", "SELL"}, "the grid filled both ways in the window"
    assert list(shown["side"]) == fills["side"].to_list()
    assert list(shown["price"]) == fills["price"].to_list()
    assert list(shown["x"]) == [eastern_ms(t) for t in fills["ts_ns"]]
    assert {(s, m, c) for s, m, c in zip(shown["side"], shown["marker"], shown["color"], strict=True)} == {
        ("BUY", "triangle", BUY), ("SELL", "inverted_triangle", SELL)}
    # position: the sign of the cumulative fills; the last span is open to the last candle
    net = sum(q if s == "BUY" else -q for s, q in zip(all_fills["side"], all_fills["qty"], strict=True))
    pos = chart.position_source.data
    assert chart.counts["spans"] > 0
    if abs(net) > 1e-9:
        assert pos["side"][-1] == ("LONG" if net > 0 else "SHORT")
        assert pos["x1"][-1] == pytest.approx(eastern_ms(last["ts_ns"][-1]))
    assert all(x0 >= start - 1e-6 and x1 > x0 for x0, x1 in zip(pos["x0"], pos["x1"], strict=True))
    # the grid's orders were canceled when the session stopped: no resting lines
    orders = frames.orders(sid, led)
    assert "CANCELED" in set(orders["status"])
    assert chart.counts["orders"] == 0
    # an ended session's chart is read to the end; later refreshes change nothing
    dash.refresh()
    assert chart.counts["candles"] == 500 and list(chart.fills_source.data["x"]) == list(shown["x"])
    # the chart is in the dashboard's layout
    layout = dash.panel()
    assert any(chart.pane is obj for obj in layout.select(pn.pane.Bokeh))
    dash.stop()


def test_a_running_grid_shows_its_resting_orders_and_follows_the_bars(home: Ledger) -> None:
    runner = kernelext.start("grid", "BTC/USD", params=GRID, speed=600, max_bars=3000, ledger=home)
    try:
        sid = runner.session_id
        dash = SessionDashboard(sid, home, controls=False, candles=50)
        chart = dash.price_chart

        def resting() -> set[tuple[str, str, float]]:
            orders = api.open_frame("orders", sid, open_only=True, ledger=home)
            return {(r["client_order_id"], r["side"], r["price"]) for r in orders.iter_rows(named=True)}

        def lines() -> set[tuple[str, str, float]]:
            d = chart.orders_source.data
            return set(zip(d["client_order_id"], d["side"], d["price"], strict=True))

        assert wait_for(lambda: len(lines()) == 4 and lines() == resting(), dash.refresh), (lines(), resting())
        assert {side for _, side, _ in lines()} == {"BUY", "SELL"}
        assert set(chart.orders_source.data["color"]) == {BUY, SELL}
        # candles follow the ledger's bars, bounded to the last 50
        first_last = chart.candles_source.data["x"][-1]
        assert wait_for(lambda: chart.counts["candles"] == 50 and chart.candles_source.data["x"][-1] > first_last,
                        dash.refresh)
        newest = frames.bars(sid, home)["ts_ns"][-1]
        assert chart.candles_source.data["x"][-1] <= eastern_ms(newest) - 30_000
        runner.stop()
        assert runner.wait(30)
        assert wait_for(lambda: dash._drained, dash.refresh, timeout=30)
        assert chart.counts["orders"] == 0  # canceled at stop: the lines are gone
        bars = frames.bars(sid, home)
        assert chart.candles_source.data["x"][-1] == pytest.approx(eastern_ms(bars["ts_ns"][-1]) - 30_000)
        assert list(chart.candles_source.data["close"]) == bars.tail(50)["close"].to_list()
    finally:
        runner.stop()


# -- by hand: one bar type of two, a partial fill, a stop-market order without a price ---------------------------


def _order(sid: str, stage: str, coid: str, side: str, price: float | None, ts: int, *,
           order_type: str = "LIMIT", status: str | None = None, **more: object) -> Event:
    return Event(sid, "grid:BTC/USD", stage, f"{stage} {coid}", ts, {
        "client_order_id": coid, "instrument": "BTC/USD.SIM", "side": side, "order_type": order_type,
        "quantity": 2.0, "price": price, "status": status, **more})


def _fill(sid: str, coid: str, side: str, qty: float, px: float, ts: int, status: str) -> Event:
    return _order(sid, "order.filled", coid, side, px, ts, status=status, trade_id=f"T-{coid}-{ts}", last_qty=qty,
                  last_px=px, commission=0.0, commission_currency="USD", liquidity="MAKER")


def test_by_hand(home: Ledger) -> None:
    sid = "20260101-000000-hand01"
    home.create_session(sid, label="hand", kind="paper", venue="sandbox", feed="replay", spec={}, started_at=T0,
                        status="running", sleeves=[])
    bars = [(BAR_TYPE, T0 + i * MIN, 100.0 + i, 101.0 + i, 99.0 + i, 100.5 + i, 1.0, 0) for i in range(1, 11)]
    bars += [("ETH/USD.SIM-1-MINUTE-LAST-EXTERNAL", T0 + i * MIN, 10.0, 11.0, 9.0, 10.5, 1.0, 0) for i in range(1, 4)]
    bars.append((BAR_TYPE, T0, 50.0, 50.0, 50.0, 50.0, 1.0, 1))  # warm-up: not a candle
    home.write_events([
        Event(sid, None, "bar.batch", "bars", T0, {"bars": bars}),
        _order(sid, "order.submitted", "O-1", "BUY", 99.0, T0 + MIN, status="SUBMITTED"),
        _order(sid, "order.accepted", "O-1", "BUY", 99.0, T0 + MIN, status="ACCEPTED"),
        _order(sid, "order.accepted", "O-2", "SELL", 105.0, T0 + MIN, status="ACCEPTED"),
        _order(sid, "order.accepted", "O-3", "SELL", None, T0 + MIN, order_type="STOP_MARKET", status="ACCEPTED"),
        _fill(sid, "O-1", "BUY", 1.0, 99.0, T0 + 3 * MIN, "PARTIALLY_FILLED"),
    ])
    assert api.bar_types(sid, ledger=home) == [BAR_TYPE, "ETH/USD.SIM-1-MINUTE-LAST-EXTERNAL"]
    chart = PriceChart(sid, home, candles=5)
    chart.load()
    chart.poll()
    chart.render()
    assert chart.bar_type == BAR_TYPE and chart.bar_select.visible
    assert list(chart.candles_source.data["close"]) == [106.5, 107.5, 108.5, 109.5, 110.5]  # the last 5
    assert list(chart.candles_source.data["color"]) == ["#26a69a"] * 5
    # the partly filled buy still rests; the stop-market order has no price to draw
    assert sorted(zip(chart.orders_source.data["client_order_id"], chart.orders_source.data["price"])) == [
        ("O-1", 99.0), ("O-2", 105.0)]
    # its fill is before the window (minute 3 < minute 6): no marker; the long span is clipped to the window
    assert chart.counts["fills"] == 0
    assert list(chart.position_source.data["side"]) == ["LONG"]
    assert chart.position_source.data["x0"][0] == pytest.approx(eastern_ms(T0 + 6 * MIN) - 60_000)

    # the feed brings more: the rest of the buy fills, the sell fills and flips short; new bars stream in
    events = [_fill(sid, "O-1", "BUY", 1.0, 99.5, T0 + 10 * MIN, "FILLED"),
              _fill(sid, "O-2", "SELL", 3.0, 105.0, T0 + 11 * MIN, "FILLED")]
    home.write_events([Event(sid, None, "bar.batch", "bars", T0 + 12 * MIN, {"bars": [
        (BAR_TYPE, T0 + i * MIN, 110.0, 112.0, 108.0, 109.0, 1.0, 0) for i in (11, 12)]}), *events])
    for ev in events:
        chart.take({**ev.extras, "stage": ev.stage, "ts": ev.ts, "sleeve": ev.sleeve})
        chart.take({**ev.extras, "stage": ev.stage, "ts": ev.ts, "sleeve": ev.sleeve})  # twice: counted once
    chart.poll()
    chart.render()
    assert list(chart.candles_source.data["close"]) == [108.5, 109.5, 110.5, 109.0, 109.0]
    assert list(chart.candles_source.data["color"])[-1] == "#ef5350"
    assert list(chart.fills_source.data["side"]) == ["BUY", "SELL"]
    assert list(chart.fills_source.data["price"]) == [99.5, 105.0]
    assert chart.counts["orders"] == 0
    pos = chart.position_source.data
    assert list(pos["side"]) == ["LONG", "SHORT"]  # long 2 until minute 11, then short 1
    assert pos["x1"][0] == pytest.approx(eastern_ms(T0 + 11 * MIN)) == pos["x0"][1]
    assert pos["x1"][1] == pytest.approx(eastern_ms(T0 + 12 * MIN))

    # the other bar type: its own candles, no fills or orders of its instrument
    chart.bar_select.value = "ETH/USD.SIM-1-MINUTE-LAST-EXTERNAL"
    chart.render()
    assert list(chart.candles_source.data["close"]) == [10.5, 10.5, 10.5]
    assert chart.counts["fills"] == chart.counts["orders"] == chart.counts["spans"] == 0


def test_bar_type_names() -> None:
    assert instrument_of("BRK-B.NYSE-1-DAY-LAST-EXTERNAL") == "BRK-B.NYSE"
    assert instrument_of(BAR_TYPE) == "BTC/USD.SIM"
    assert bar_ms(BAR_TYPE) == 60_000 and bar_ms("QQQ.NASDAQ-1-DAY-LAST-EXTERNAL") == 86_400_000
    assert bar_ms("BTC/USD.SIM-100-TICK-LAST-INTERNAL") is None
