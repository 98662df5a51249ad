"""SessionDashboard and LedgerFeed on real replay sessions: what the user would see, no server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import panel as pn
import pytest

import kernelext
from kernelext import frames
from kernelext.events import Event
from kernelext.ledger import Ledger
from widgets.dashboard import SessionDashboard
from widgets.feed import LedgerFeed, eastern_ms, eastern_str

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def wait_for(check: Callable[[], bool], dash: SessionDashboard | None = None, timeout: float = 20.0) -> bool:
    """Refresh ``dash`` (if given) until ``check()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dash is not None:
            dash.refresh()
        if check():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Ledger]]:
    """One finished replay session (600 bars at max speed) in its own PAPERLAB_HOME."""
    home = tmp_path_factory.mktemp("dashboard-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PAPERLAB_HOME", str(home))
        runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed="max", max_bars=600)
        assert runner.wait(60) and runner.state == "stopped", runner.last_error
        led = Ledger(home)
        yield runner.session_id, led
        led.close()


def test_dashboard_shows_what_the_ledger_holds(finished: tuple[str, Ledger]) -> None:
    sid, led = finished
    dash = SessionDashboard(sid, led)
    dash.refresh()
    fills, orders, eq = frames.fills(sid, led), frames.orders(sid, led), frames.equity(sid, led)
    assert 0 < fills.height <= dash.table_rows
    assert dash.counts["fills"] == fills.height
    assert dash.counts["orders"] == orders.height
    assert dash.counts["positions"] == frames.positions(sid, led).height
    assert dash.counts["equity_points"] == min(eq.height, dash.curve_points) > 0
    # account cards: the ledger's last equity point
    assert dash.metrics["equity"] == pytest.approx(eq["equity"][-1])
    assert dash.cards["equity"].value == pytest.approx(eq["equity"][-1])
    assert dash.cards["realized_pnl"].value == pytest.approx(eq["realized_pnl"][-1])
    # the Log tab: the session's own log lines (its trader id), through api.logs
    log_lines = dash.log_pane.object.splitlines()
    trader = json.loads(frames.events(sid, "session.running", led)["extras_json"][0])["log_trader"]
    assert log_lines and all(f" {trader}." in ln for ln in log_lines)
    assert dash.source.data["x"][-1] == pytest.approx(eastern_ms(eq["ts_ns"][-1]))
    # header: REPLAY badge, status, venue
    assert dash.feed_badge == "REPLAY"
    assert "REPLAY" in dash.header.object and "LIVE FEED" not in dash.header.object
    assert "STOPPED" in dash.header.object and "sandbox" in dash.header.object
    # newest first, US/Eastern
    first = dash.fills_table.value.iloc[0]
    assert first["trade_id"] == fills["trade_id"][-1]
    assert first["time (ET)"] == eastern_str(fills["ts_ns"][-1])
    assert dash.orders_table.value.iloc[0]["client_order_id"] == orders["client_order_id"][-1]
    assert dash.event_stages[0] == "session.stopped"
    assert "equity.update" not in dash.event_stages
    # per sleeve
    sleeves = dash.sleeves_table.value
    assert list(sleeves["sleeve"]) == ["ema_cross:BTC/USD"]
    assert sleeves["fills"].sum() == fills.height and sleeves["orders"].sum() == orders.height
    perf = frames.performance(sid, by="sleeve", ledger=led)
    assert sleeves["realized_pnl"].iloc[0] == pytest.approx(perf["realized_pnl"][0], abs=0.01)
    # a finished session's feed is read to the end; later refreshes change nothing
    dash.refresh()
    assert dash.counts["fills"] == fills.height


def test_tables_and_curve_are_bounded(finished: tuple[str, Ledger]) -> None:
    sid, led = finished
    dash = SessionDashboard(sid, led, table_rows=10, feed_rows=7, curve_points=50)
    dash.refresh()
    fills = frames.fills(sid, led)
    assert dash.counts["fills"] == min(10, fills.height) == 10
    assert dash.counts["orders"] == 10
    assert dash.counts["events"] == 7
    assert dash.counts["equity_points"] == 50
    assert dash.fills_table.value.iloc[0]["trade_id"] == fills["trade_id"][-1]
    assert dash.metrics["equity"] == pytest.approx(frames.equity(sid, led)["equity"][-1])


def test_panel_is_one_layout(finished: tuple[str, Ledger]) -> None:
    sid, led = finished
    dash = SessionDashboard(sid, led, controls=False)
    layout = dash.panel()
    assert isinstance(layout, pn.Column)
    assert dash.panel() is layout
    assert dash.counts["fills"] > 0  # the history is loaded before the first render
    assert dash.buttons == {}
    dash.stop()


def _session(led: Ledger, sid: str, started_at: int = T0) -> None:
    led.create_session(sid, label=sid, kind="paper", venue="sandbox", feed="replay", spec={},
                       started_at=started_at, status="running", sleeves=[])


def _order(sid: str, n: int) -> Event:
    return Event(sid, "s", "order.submitted", f"order {n}", T0 + n, {"client_order_id": f"O-{n}", "side": "BUY"})


def _equity(sid: str, n: int, value: float) -> Event:
    return Event(sid, None, "equity.update", "equity", T0 + n, {
        "equity": value, "balance": value, "available": value, "unrealized_pnl": 0.0,
        "realized_pnl": 0.0, "exposure": 0.0, "currency": "USD"})


def test_feed_is_incremental_capped_and_per_session(paperlab_home: Path) -> None:
    led = Ledger()
    _session(led, "A")
    _session(led, "B")
    led.write_events([Event("A", None, "session.running", "running", T0, {})])
    led.write_events([_order("A", i) for i in range(30)] + [_equity("A", i, 100.0 + i) for i in range(30)])
    led.write_events([_order("B", i) for i in range(5)])
    feed = LedgerFeed("A", led, max_batch=3, history_per_class=10)
    history = feed.poll()
    stages = [e["stage"] for e in history]
    assert stages.count("order.submitted") == 10 and stages.count("equity.update") == 10
    assert stages.count("session.running") == 1 and len(history) == 21
    assert feed.history_skipped == 40
    assert [e["equity"] for e in history if e["stage"] == "equity.update"] == [120.0 + i for i in range(10)]
    assert all(e["session_id"] == "A" for e in history)
    assert feed.poll() == []
    # new rows: each once (equity.update rows of the events table are not doubled), in batches
    led.write_events([_order("B", 99), _order("A", 30), _order("A", 31), _equity("A", 30, 200.0)])
    led.write_events([_order("A", 32), _order("A", 33)])
    got = feed.poll()
    assert [e["message"] for e in got] == ["order 30", "order 31", "order 32", "equity 200.00 USD"]
    assert feed.behind
    assert [e["message"] for e in feed.poll()] == ["order 33"]
    assert feed.poll() == [] and not feed.behind
    # equity rowids reused after the newest session's rows are deleted: still seen
    led.write_events([_equity("B", i, 1.0) for i in range(5)])
    led.delete_session("B")
    led.write_events([_equity("A", 40, 300.0)])
    assert [e["equity"] for e in feed.poll()] == [300.0]
    # a new feed (a browser refresh) starts from the history again
    assert len(LedgerFeed("A", led, history_per_class=1000).poll()) == 1 + 34 + 32
    led.close()


def test_controls_are_acknowledged_through_the_feed(paperlab_home: Path) -> None:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed=600, duration="60s")
    try:
        dash = SessionDashboard(runner.session_id)
        assert wait_for(lambda: dash.status == "running", dash)  # the ledger hears it a moment after start()
        assert not dash.buttons["pause"].disabled
        dash.buttons["pause"].clicks += 1  # as a click does; the handler returns at once
        assert wait_for(lambda: "control.pause" in dash.event_stages and dash.status == "paused", dash)
        assert "PAUSED" in dash.header.object and dash.alert_text == ""
        assert wait_for(lambda: not dash.buttons["resume"].disabled, dash)
        dash.buttons["resume"].clicks += 1
        assert wait_for(lambda: "control.resume" in dash.event_stages and dash.status == "running", dash)
        assert wait_for(lambda: not dash.buttons["kill"].disabled, dash)
        dash.buttons["kill"].clicks += 1
        assert wait_for(lambda: dash.status == "stopped", dash, timeout=30)
        assert "control.kill" in dash.event_stages
        assert dash.buttons["pause"].disabled  # nothing to control any more
        sid = runner.session_id
        dash.refresh()
        assert dash.counts["fills"] == min(frames.fills(sid).height, dash.table_rows)
        assert dash.metrics["equity"] == pytest.approx(frames.equity(sid)["equity"][-1])
        # a control on a stopped session: a one-line error, not a crash
        dash._on_control("pause")
        assert wait_for(lambda: bool(dash.alert_text), dash)
        assert "not running" in dash.alert_text and "\n" not in dash.alert_text and dash.alert.visible
    finally:
        runner.kill()


def test_the_curve_has_one_point_per_ts_the_last_marked(paperlab_home: Path) -> None:
    """A ts marked again (a fill after its bar, in a later writer flush) replaces its point, as in
    frames.equity: in the history, and when the re-mark comes after the point was drawn."""
    minute = 60_000_000_000
    led = Ledger()
    _session(led, "A")

    def marks(*points: tuple[int, float]) -> list[Event]:
        return [Event("A", None, "equity.batch", "points", T0 + m * minute, {"currency": "USD", "points": [
            (T0 + m * minute, v, v, v, 0.0, 0.0, 0.0)]}) for m, v in points]

    led.write_events(marks((0, 100.0), (1, 101.0)))
    led.write_events(marks((1, 99.0), (2, 98.0)))  # minute 1 again, after its fill
    dash = SessionDashboard("A", led)
    dash.refresh()
    curve = list(zip(dash.source.data["x"], dash.source.data["equity"], strict=True))
    expected = [(eastern_ms(T0 + m * minute), v) for m, v in ((0, 100.0), (1, 99.0), (2, 98.0))]
    assert curve == expected
    assert frames.equity("A", led)["equity"].to_list() == [100.0, 99.0, 98.0]
    led.write_events(marks((2, 97.5)))  # the point drawn last, marked again
    assert wait_for(lambda: list(dash.source.data["equity"]) == [100.0, 99.0, 97.5], dash)
    assert len(dash.source.data["x"]) == 3
    led.close()
