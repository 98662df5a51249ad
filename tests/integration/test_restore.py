"""Restore on relaunch (real processes): a detached ``grid`` session whose process is killed
-9 comes back under the same session id with the same resting orders, position and balance;
a restored order then fills, and the ledger holds every fill once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from kernelext import api
from kernelext.ledger import Ledger
from tests.helpers import wait_for
from tests.integration.test_supervisor import (  # noqa: F401  (home: the fixture)
    DEADLINE_S,
    detach,
    ended_not_relaunched,
    home,
    running_pid,
    stage_rows,
)

GRID = ["paper", "--feed", "replay", "--strategy", "grid", "--instrument", "BTC/USD", "--speed", "60",
        "--params", json.dumps({"step_pct": 0.03, "levels": 2}), "--detach", "--json"]
FINAL = ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED")


def _query(home: Path, sql: str, *args: Any) -> list[tuple]:
    led = Ledger(home)
    try:
        return led.query(sql, args)
    finally:
        led.close()


def snapshot(home: Path, session_id: str) -> dict[str, Any]:
    """What the ledger says the session holds: open orders (id -> side, price, remaining),
    the position, the balance and the fills."""
    marks = ", ".join("?" * len(FINAL))
    rows = _query(home, "SELECT o.client_order_id, o.side, o.price, o.quantity - COALESCE((SELECT SUM(f.qty) FROM fills f"
                  " WHERE f.session_id = o.session_id AND f.client_order_id = o.client_order_id), 0) FROM orders o"
                  f" WHERE o.session_id = ? AND o.status NOT IN ({marks})", session_id, *FINAL)
    position = _query(home, "SELECT side, quantity, avg_px_open, realized_pnl FROM positions WHERE session_id = ?",
                      session_id)
    balance = _query(home, "SELECT balance FROM equity WHERE session_id = ? ORDER BY ts DESC, rowid DESC LIMIT 1",
                     session_id)
    fills = _query(home, "SELECT client_order_id, trade_id FROM fills WHERE session_id = ? ORDER BY rowid", session_id)
    return {"open": {r[0]: (r[1], r[2], round(r[3], 8)) for r in rows}, "position": position,
            "balance": balance[0][0] if balance else None, "fills": fills}


def settled(home: Path, session_id: str) -> dict[str, Any]:
    """The snapshot once two reads 0.2 s apart agree (the killed process's ledger writer
    commits what it had received before it exits)."""
    last = snapshot(home, session_id)
    while True:
        time.sleep(0.2)
        now = snapshot(home, session_id)
        if now == last:
            return now
        last = now


def test_a_killed_grid_session_comes_back_with_its_resting_orders_and_they_fill(home: Path) -> None:
    session_id, _ = detach(home, GRID)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)

    def both_sides_resting_after_a_fill() -> bool:
        s = snapshot(home, session_id)
        return bool(s["fills"]) and {side for side, _, _ in s["open"].values()} == {"BUY", "SELL"}

    wait_for(both_sides_resting_after_a_fill, "a fill and resting orders on both sides", 120)
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    before = settled(home, session_id)
    new_pid = wait_for(lambda: running_pid(home, session_id, not_pid=pid), "the relaunched session to run", 20)
    print(f"\nrelaunched {time.monotonic() - killed_at:.2f}s after kill -9 (pid {pid} -> {new_pid})")

    restored = stage_rows(home, session_id, "session.restored")
    assert len(restored) == 1, restored
    r = restored[0]
    assert sorted(r["resting"]) == sorted(before["open"]), (r, before)
    assert r["fills"] == len(before["fills"]) and not r["skipped"]
    side, qty, avg_px, _ = before["position"][0]
    if side == "FLAT":
        assert r["positions"] == []
    else:
        assert r["positions"] == [f"BTC/USD.KRAKEN {side} {qty:.8f} @ {avg_px:.8g}"], (r, before)
    assert abs(r["balances"]["USD"] - before["balance"]) < 1e-6, (r, before)
    assert r["strategies"] == ["Grid-001"]  # the grid's step: no second grid laid

    def a_restored_order_filled() -> list[str]:
        later = {coid for coid, _ in snapshot(home, session_id)["fills"][len(before["fills"]):]}
        return sorted(later & set(before["open"]))

    filled = wait_for(a_restored_order_filled, "a restored resting order to fill", 120)
    after = snapshot(home, session_id)
    trades = [t for _, t in after["fills"]]
    assert len(trades) == len(set(trades)), "a fill was recorded twice"
    assert after["fills"][: len(before["fills"])] == before["fills"]
    for coid in filled:  # filled with the quantity it had left, at its price
        rows = _query(home, "SELECT side, price, qty FROM fills WHERE session_id = ? AND client_order_id = ?",
                      session_id, coid)
        o_side, o_price, o_left = before["open"][coid]
        assert [(s, round(q, 8)) for s, _, q in rows] == [(o_side, o_left)]
        assert (rows[0][1] <= o_price) if o_side == "BUY" else (rows[0][1] >= o_price)
    # no second grid: never more than 2 x levels orders resting
    assert len(after["open"]) <= 4, after["open"]
    led = Ledger(home)
    try:
        api.control(session_id, "kill", ledger=led, timeout=60)
    finally:
        led.close()
    ended_not_relaunched(home, session_id)


def _cli(home: Path, *args: str) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "kernelext", *args], env={**os.environ, "PAPERLAB_HOME": str(home)},
                          capture_output=True, text=True, timeout=DEADLINE_S)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_paperlab_resume_continues_a_stopped_session_under_its_id(home: Path) -> None:
    session_id, _ = detach(home, GRID)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)
    wait_for(lambda: snapshot(home, session_id)["fills"], "a fill", 120)
    assert "stop: ok" in _cli(home, "stop", session_id)
    ended_not_relaunched(home, session_id)
    before = snapshot(home, session_id)
    assert before["open"] == {}  # stopping canceled the grid's orders
    orders_before = _query(home, "SELECT COUNT(*) FROM orders WHERE session_id = ?", session_id)[0][0]

    assert session_id in _cli(home, "resume", session_id)
    new_pid = wait_for(lambda: running_pid(home, session_id, not_pid=pid), "the resumed session to run", 30)
    assert new_pid != pid
    r = stage_rows(home, session_id, "session.restored")[-1]
    assert r["fills"] == len(before["fills"]) and r["resting"] == [] and not r["skipped"]
    assert abs(r["balances"]["USD"] - before["balance"]) < 1e-6
    assert "resumed" in stage_rows(home, session_id, "session.running")[-1]["notes"]
    # the grid, its orders canceled by the stop, lays itself again (new order ids: new rows)
    wait_for(lambda: len(snapshot(home, session_id)["open"]) == 4, "the grid laid again", 60)
    assert _query(home, "SELECT COUNT(*) FROM orders WHERE session_id = ?", session_id)[0][0] >= orders_before + 4
    led = Ledger(home)
    try:
        api.control(session_id, "kill", ledger=led, timeout=60)
    finally:
        led.close()
    ended_not_relaunched(home, session_id)


def test_resume_refuses_a_backtest_in_one_line(paperlab_home: Path) -> None:
    import kernelext
    from kernelext.errors import Refused

    bt = kernelext.backtest(strategy="grid", instrument="BTC/USD", bars=200)
    led = Ledger(paperlab_home)
    try:
        with pytest.raises(Refused, match="is a backtest session; only paper sessions resume"):
            api.resume_ended(bt, ledger=led)
        assert api.supervisor_pid() is None  # refused before anything started
    finally:
        led.close()
