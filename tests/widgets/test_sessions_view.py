"""The Sessions tab: history newest first, per-session breakdown, two-step delete and clear all."""

from __future__ import annotations

from pathlib import Path

import pytest

import kernelext
from kernelext import frames
from kernelext.events import now_ns
from kernelext.ledger import Ledger
from widgets.feed import eastern_str
from widgets.sessions_view import SessionsView

DEAD_PID = 2**22 + 12345  # above Linux's default pid_max: never a live process


def _fake(led: Ledger, sid: str, *, status: str, pid: int | None = None, sleeves: int = 1) -> None:
    led.create_session(
        sid, label=f"label {sid}", kind="paper", venue="sandbox", feed="replay", spec={},
        started_at=now_ns(), status=status,
        sleeves=[{"sleeve": f"s{i}", "strategy_key": "ema_cross", "instrument": "BTC/USD.KRAKEN"}
                 for i in range(sleeves)],
    )
    if pid is not None:
        with led.transaction() as con:
            con.execute("UPDATE sessions SET pid = ? WHERE id = ?", (pid, sid))


def test_sessions_view_lists_breaks_down_and_deletes(paperlab_home: Path) -> None:
    led = Ledger()
    first = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed="max", max_bars=300,
                            label="first")
    assert first.wait(60)
    second = kernelext.start("ema_cross", "ETH/USD", params={"fast": 3, "slow": 8}, speed="max", max_bars=300)
    assert second.wait(60)
    _fake(led, "book-1", status="stopped", sleeves=2)
    view = SessionsView(led)

    # newest first, one row per session, with the ledger's numbers
    ids = [r["session_id"] for r in view.rows]
    assert ids == ["book-1", second.session_id, first.session_id]
    assert list(view.table.value["session_id"]) == ids
    row = view.rows[2]
    sid = first.session_id
    fills = frames.fills(sid, led)
    assert row["label"] == "first" and row["what"] == "ema_cross on BTC/USD" and row["status"] == "stopped"
    assert row["fills"] == fills.height > 0
    assert row["round trips"] == frames.round_trips(sid, led).height > 0
    info = frames.sessions(led).filter(session_id=sid)
    assert row["realized P&L"] == pytest.approx(info["realized_pnl"][0], abs=0.01)
    assert row["start (ET)"] == eastern_str(info["started_at_ns"][0])
    assert view.rows[0]["what"] == "book of 2" and view.rows[0]["round trips"] == 0

    # selecting a row shows its sleeves and round trips (newest first)
    view.select(sid)
    assert view.selected == sid and not view.delete_button.disabled
    assert list(view.sleeves_table.value["sleeve"]) == ["ema_cross:BTC/USD"]
    trips = frames.round_trips(sid, led)
    assert len(view.trips_table.value) == trips.height
    assert view.trips_table.value.iloc[0]["exit (ET)"] == eastern_str(trips["exit_ts_ns"][-1])

    # delete: asks first, saying the fills go too; Cancel keeps everything
    view.ask_delete()
    assert view.confirm_button.visible
    assert view.confirm_button.label == f"Confirm: delete session first ({sid}) and its {fills.height} fills"
    view.cancel()
    assert not view.confirm_button.visible and frames.fills(sid, led).height == fills.height
    view.ask_delete()
    view.confirm()
    assert led.query("SELECT COUNT(*) FROM fills WHERE session_id = ?", (sid,))[0][0] == 0
    with pytest.raises(ValueError):
        frames.fills(sid, led)
    assert sid not in [r["session_id"] for r in view.rows]
    assert view.selected is None and view.delete_button.disabled
    assert "deleted session" in view.alert_text
    assert frames.fills(second.session_id, led).height > 0  # the others stay


def test_running_sessions_are_never_deleted(paperlab_home: Path) -> None:
    led = Ledger()
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed=600, duration="60s")
    live = runner.session_id
    try:
        _fake(led, "stale", status="running", pid=DEAD_PID)  # its process is gone: deletable
        _fake(led, "done", status="stopped")
        view = SessionsView(led)
        view.select(live)
        view.ask_delete()
        assert "running" in view.alert_text and not view.confirm_button.visible
        view.confirm()  # nothing armed: nothing happens
        assert led.session(live) is not None

        view.ask_clear()
        assert "running" in view.alert_text and not view.confirm_button.visible

        view.select("stale")
        view.ask_delete()
        assert view.confirm_button.visible and "and its 0 fills" in view.confirm_button.label
        view.confirm()
        assert led.session("stale") is None
    finally:
        runner.kill()
    view.refresh()
    n_fills = frames.fills(live, led).height
    view.ask_clear()
    assert view.confirm_button.label == f"Confirm: delete all 2 sessions and their {n_fills} fills"
    view.confirm()
    assert frames.sessions(led).height == 0 and view.rows == [] and len(view.table.value) == 0
    assert led.query("SELECT COUNT(*) FROM fills")[0][0] == 0


def test_rows_say_where_sessions_run_and_controls_reach_them(paperlab_home: Path) -> None:
    led = Ledger()
    _fake(led, "det", status="stopped", pid=DEAD_PID)
    led.enqueue_command("det", "launch")  # the supervisor's launch request: what marks a session detached
    _fake(led, "other", status="stopped", pid=DEAD_PID)
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed=600, duration="60s")
    try:
        view = SessionsView(led)
        where = {r["session_id"]: r["process"] for r in view.rows}
        assert where == {"det": f"detached · pid {DEAD_PID}", "other": f"pid {DEAD_PID}",
                         runner.session_id: "this process"}
        view.select("det")
        assert "detached" in view.detail.object and all(b.disabled for b in view.controls.buttons.values())

        view.select(runner.session_id)
        assert not any(b.disabled for b in view.controls.buttons.values())
        view.controls.buttons["pause"].clicks += 1  # what a browser click does
        view.controls.wait(30)
        assert view.alert_text == f"pause: ok ({runner.session_id})" and runner.trading_state() == "HALTED"
        view.control("kill")
        view.controls.wait(60)
        assert runner.state == "stopped" and view.alert_kind == "success"
        assert all(b.disabled for b in view.controls.buttons.values())  # its process no longer runs it
        assert view.control("resume") is None  # as its disabled button: nothing is sent
    finally:
        runner.kill()
