"""Another process holds the ledger while a session trades: nothing is lost.

A replay session at ``--speed max`` trades a lot while a second process (plain python with
sqlite3) holds ``BEGIN IMMEDIATE`` on the ledger for 12 s. The writer waits (and says so with
``ledger.stalled``); once the lock is gone every fill Nautilus made is in the ledger exactly
once and the session ended ``stopped``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from tests.helpers import wait_for

LOCK_S = 12
HOLDER = textwrap.dedent("""
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
    con.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.execute("COMMIT")
""")


def test_a_ledger_held_by_another_process_loses_no_fill(paperlab_home) -> None:
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5})],
                      speed="max", max_bars=6000, feed="replay")
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.fills > 0, "the session's first fill", 60)
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(runner.ledger.path), str(LOCK_S)],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert runner.wait(180), "the session should end on its own (max_bars)"
        holder.wait(60)
    finally:
        if runner.is_alive:
            runner.stop(timeout=60)
    fills = runner.fills
    led = runner.ledger
    row = led.session(runner.session_id)
    assert row is not None and row["status"] == "stopped", row
    stored = led.query("SELECT COUNT(*), COUNT(DISTINCT trade_id || '/' || client_order_id) FROM fills"
                       " WHERE session_id = ?", (runner.session_id,))[0]
    assert fills > 100 and stored == (fills, fills), f"Nautilus filled {fills}; the ledger holds {stored}"
    stalled = led.query("SELECT COUNT(*) FROM events WHERE session_id = ? AND stage = 'ledger.stalled'",
                        (runner.session_id,))[0][0]
    assert stalled >= 1
    assert runner.status().spooled == 0 and runner.status().ledger_pending == 0
