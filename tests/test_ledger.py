"""Ledger: schema, routing, idempotence, writer thread, crash durability, control queue, audit.

Every test on a ``home`` (or ``ledger``) runs twice: on SQLite, and on PostgreSQL (a real server
from ``tests/pg.py``, a fresh schema per test, reached through ``PAPERLAB_LEDGER_URL``)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from kernelext.events import Event
from kernelext.ledger import MIGRATIONS, Ledger, LedgerWriter, pid_alive, queries
from kernelext.ledger.busy import integrity_errors
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
SID = "sess-0001"


@pytest.fixture(params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated PAPERLAB_HOME (never ~/.paperlab); on PostgreSQL, PAPERLAB_LEDGER_URL too."""
    monkeypatch.setenv("PAPERLAB_HOME", str(tmp_path / "home"))
    if request.param == "postgresql":
        monkeypatch.setenv("PAPERLAB_LEDGER_URL", request.getfixturevalue("pg_url"))
    else:
        monkeypatch.delenv("PAPERLAB_LEDGER_URL", raising=False)
    return tmp_path / "home"


def drop_trigger(led: Ledger, name: str) -> None:
    """Drop an audit trigger behind the ledger's back, as a person with database access could."""
    led._con().execute(f"DROP TRIGGER {name}" + (" ON audit" if led.url else ""))


@pytest.fixture
def ledger(home: Path) -> Iterator[Ledger]:
    """A fresh ledger with one running session and two sleeves."""
    led = Ledger()
    make_session(led, SID)
    yield led
    led.close()


def make_session(led: Ledger, sid: str, *, started_at: int = 1_000, status: str = "running") -> None:
    """A session with sleeves a (ema_cross) and b (rsi_rules)."""
    led.create_session(
        sid, label=f"label {sid}", kind="paper", venue="sandbox", feed="replay",
        spec={"cash": 100_000}, started_at=started_at, status=status,
        sleeves=[
            {"sleeve": "a", "strategy_key": "ema_cross", "instrument": "BTC/USD.KRAKEN",
             "bar_spec": "1-MINUTE-LAST", "params": {"fast": 10}, "strategy_id": "EMACross-001"},
            {"sleeve": "b", "strategy_key": "rsi_rules", "instrument": "ETH/USD.KRAKEN",
             "bar_spec": "1-MINUTE-LAST", "params": {}, "strategy_id": "RSI-002"},
        ],
    )


def order_event(stage: str, coid: str, ts: int, *, sid: str = SID, sleeve: str = "a", **extra: Any) -> Event:
    """An order.* envelope with the contract's extras."""
    extras = {
        "client_order_id": coid, "instrument": "BTC/USD.KRAKEN", "side": "BUY",
        "order_type": "MARKET", "quantity": 1.0, "price": None,
        "status": extra.pop("status", stage.split(".")[1].upper()), "strategy_id": "EMACross-001",
    }
    extras.update(extra)
    return Event(sid, sleeve, stage, f"{stage} {coid}", ts, extras)


def fill_event(coid: str, trade_id: str, ts: int, *, qty: float = 1.0, px: float = 100.0,
               fee: float = 0.1, side: str = "BUY", sid: str = SID, sleeve: str = "a",
               **extra: Any) -> Event:
    """An order.filled envelope."""
    return order_event(
        "order.filled", coid, ts, sid=sid, sleeve=sleeve, side=side, trade_id=trade_id,
        venue_order_id=f"V-{coid}", position_id="BTC/USD.KRAKEN-EMACross-001", last_qty=qty,
        last_px=px, commission=fee, commission_currency="USD", liquidity="TAKER", **extra,
    )


def position_event(stage: str, ts: int, **extra: Any) -> Event:
    """A position.* envelope."""
    extras = {
        "position_id": "P-1", "instrument": "BTC/USD.KRAKEN", "side": "LONG", "quantity": 1.0,
        "avg_px_open": 100.0, "avg_px_close": None, "realized_pnl": 0.0,
        "unrealized_pnl": 0.0, "currency": "USD",
    }
    extras.update(extra)
    return Event(SID, "a", stage, stage, ts, extras)


def equity_event(ts: int, value: float) -> Event:
    """An equity.update envelope."""
    return Event(SID, None, "equity.update", "equity", ts, {
        "equity": value, "balance": value, "available": value, "unrealized_pnl": 0.0,
        "realized_pnl": 0.0, "exposure": 0.0, "currency": "USD",
    })


def count(led: Ledger, table: str, sid: str = SID) -> int:
    """Rows of a session-scoped table."""
    return led.query(f"SELECT COUNT(*) FROM {table} WHERE session_id = ?", (sid,))[0][0]


# -- schema and connections ---------------------------------------------------
def test_location_wal_pragmas_and_schema(home: Path) -> None:
    led = Ledger()
    if led.url:  # PostgreSQL: the schema and its bookkeeping tables; files stay in PAPERLAB_HOME
        assert led.journal_mode == "postgresql" and led.schema_version == len(MIGRATIONS)
        assert led.path.parent == home and not led.path.exists() and "***" in led.where
        tables = {r[0] for r in led.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}
        assert {"sessions", "sleeves", "orders", "fills", "positions", "events", "equity", "commands", "audit",
                "bars", "approvals", "api_tokens", "paperlab_schema", "paperlab_version"} <= tables
        led.close()
        again = Ledger()
        assert again.schema_version == len(MIGRATIONS)
        again.close()
        return
    assert led.path == home / "ledger.sqlite" and led.path.exists()
    assert led.journal_mode == "wal"
    con = led._con()
    assert con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert con.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert led.schema_version == len(MIGRATIONS)
    tables = {r[0] for r in led.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "sleeves", "orders", "fills", "positions", "events", "equity",
            "commands", "audit"} <= tables
    led.close()
    again = Ledger(home)  # a directory resolves to ledger.sqlite; reopening migrates nothing
    assert again.path == led.path and again.schema_version == len(MIGRATIONS)
    again.close()


def test_each_thread_has_its_own_connection(ledger: Ledger) -> None:
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(id(ledger._con())))
    t.start()
    t.join()
    assert seen[0] != id(ledger._con())
    assert ledger.journal_mode == ("postgresql" if ledger.url else "wal")


def test_newer_schema_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    con.close()
    with pytest.raises(RuntimeError, match="newer than this code"):
        Ledger(path)


# -- sessions -----------------------------------------------------------------
def test_create_session_and_status(ledger: Ledger) -> None:
    row = ledger.session(SID)
    assert row is not None
    assert row["status"] == "running" and row["kind"] == "paper" and row["spec"] == {"cash": 100_000}
    assert row["pid"] == os.getpid() and row["host"] == socket.gethostname()
    assert [s["sleeve"] for s in row["sleeves"]] == ["a", "b"]
    assert row["sleeves"][0]["params"] == {"fast": 10}
    with pytest.raises(ValueError, match="cannot be created"):
        make_session(ledger, SID)
    ledger.set_status(SID, "stopped", ended_at=5_000, last_error="boom")
    row = ledger.session(SID)
    assert (row["status"], row["ended_at"], row["last_error"]) == ("stopped", 5_000, "boom")
    with pytest.raises(ValueError, match="unknown session status"):
        ledger.set_status(SID, "weird")
    with pytest.raises(ValueError, match="no session"):
        ledger.set_status("nope", "stopped")
    assert ledger.session("nope") is None


def test_resolve_session(home: Path) -> None:
    led = Ledger()
    with pytest.raises(ValueError, match="no sessions"):
        led.resolve_session("latest")
    make_session(led, "abc-111", started_at=1)
    make_session(led, "abc-222", started_at=3)
    make_session(led, "xyz-333", started_at=2)
    assert led.resolve_session("abc-111") == "abc-111"
    assert led.resolve_session("abc-2") == "abc-222"
    assert led.resolve_session("x") == "xyz-333"
    assert led.resolve_session("latest") == "abc-222"
    assert led.resolve_session("last") == "abc-222"
    with pytest.raises(ValueError, match=r"ambiguous \(2 matches: abc-222, abc-111\)") as err:
        led.resolve_session("abc")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="no session matches 'q'"):
        led.resolve_session("q")
    with pytest.raises(ValueError, match="empty session id"):
        led.resolve_session("")
    led.close()


def test_delete_and_clear_sessions(ledger: Ledger) -> None:
    make_session(ledger, "other")
    ledger.write_events([fill_event("O-1", "T-1", 10), equity_event(11, 1.0),
                         position_event("position.opened", 12),
                         fill_event("O-9", "T-9", 10, sid="other")])
    ledger.enqueue_command(SID, "pause")
    ledger.append_audit("me", "delete", {"id": SID})
    ledger.delete_session(SID)
    assert ledger.session(SID) is None
    for table in ("sleeves", "orders", "fills", "positions", "events", "equity", "commands"):
        assert count(ledger, table) == 0, table
    assert count(ledger, "fills", "other") == 1
    assert ledger.clear_sessions() == 1
    assert ledger.query("SELECT COUNT(*) FROM sessions")[0][0] == 0
    assert ledger.query("SELECT COUNT(*) FROM events")[0][0] == 0
    assert ledger.query("SELECT COUNT(*) FROM audit")[0][0] == 1  # the audit log is kept


# -- routing --------------------------------------------------------------------
def test_events_routed_to_every_table(ledger: Ledger) -> None:
    batch = [
        Event(SID, None, "session.running", "running", 90, {}),
        Event(SID, "a", "bar.received", "bar", 95, {"instrument": "BTC/USD.KRAKEN", "close": 100.0}),
        order_event("order.submitted", "O-1", 100, order_type="LIMIT", price=99.5),
        fill_event("O-1", "T-1", 110, qty=0.4, px=99.5, fee=0.04, order_type="LIMIT",
                   status="PARTIALLY_FILLED"),
        fill_event("O-1", "T-2", 120, qty=0.6, px=99.4, fee=0.06, order_type="LIMIT"),
        order_event("order.denied", "O-2", 130, reason="MAX_NOTIONAL exceeded"),
        order_event("order.submitted", "O-3", 140),
        order_event("order.canceled", "O-3", 150),
        position_event("position.opened", 110, quantity=0.4),
        position_event("position.changed", 120, quantity=1.0, unrealized_pnl=1.5),
        position_event("position.closed", 200, side="FLAT", quantity=0.0, avg_px_close=101.0,
                       realized_pnl=1.45),
        equity_event(110, 100_000.0),
        equity_event(200, 100_001.45),
    ]
    assert ledger.write_events(batch) == len(batch)
    assert count(ledger, "events") == len(batch)

    orders = {r[0]: r[1:] for r in ledger.query(
        "SELECT client_order_id, status, reason, price, order_type, ts_submitted, ts_updated"
        " FROM orders WHERE session_id = ?", (SID,))}
    assert orders["O-1"] == ("FILLED", None, 99.5, "LIMIT", 100, 120)
    assert orders["O-2"] == ("DENIED", "MAX_NOTIONAL exceeded", None, "MARKET", 130, 130)
    assert orders["O-3"] == ("CANCELED", None, None, "MARKET", 140, 150)

    fills = ledger.query(
        "SELECT client_order_id, trade_id, venue_order_id, side, qty, price, fee, fee_currency,"
        " liquidity, ts, sleeve FROM fills WHERE session_id = ? ORDER BY ts", (SID,))
    assert fills == [
        ("O-1", "T-1", "V-O-1", "BUY", 0.4, 99.5, 0.04, "USD", "TAKER", 110, "a"),
        ("O-1", "T-2", "V-O-1", "BUY", 0.6, 99.4, 0.06, "USD", "TAKER", 120, "a"),
    ]
    pos = ledger.query(
        "SELECT side, quantity, avg_px_close, realized_pnl, opened_ts, closed_ts, ts_updated"
        " FROM positions WHERE session_id = ?", (SID,))
    assert pos == [("FLAT", 0.0, 101.0, 1.45, 110, 200, 200)]
    eq = ledger.query("SELECT ts, equity, currency FROM equity WHERE session_id = ? ORDER BY ts", (SID,))
    assert eq == [(110, 100_000.0, "USD"), (200, 100_001.45, "USD")]


def test_late_status_does_not_overwrite_newer(ledger: Ledger) -> None:
    ledger.write_events([order_event("order.canceled", "O-1", 200)])
    ledger.write_events([order_event("order.submitted", "O-1", 100)])
    assert ledger.query("SELECT status, ts_submitted, ts_updated FROM orders") == [("CANCELED", 100, 200)]


def test_final_status_wins_over_a_later_stamped_earlier_stage(ledger: Ledger) -> None:
    """IB stamps fills in whole seconds: the fill can carry an older ts than OrderSubmitted."""
    ledger.write_events([fill_event("O-1", "T-1", 1_000_000_000)])
    ledger.write_events([order_event("order.submitted", "O-1", 1_400_000_000)])
    assert ledger.query("SELECT client_order_id, status FROM orders") == [("O-1", "FILLED")]


def test_accepted_replaces_submitted_whatever_its_stamp_and_keeps_the_init(ledger: Ledger) -> None:
    """The sandbox stamps OrderAccepted with market time, which on a replay precedes the wall-clock submit."""
    init = {"type": "OrderInitialized", "client_order_id": "O-1", "time_in_force": "GTC"}
    ledger.write_events([order_event("order.submitted", "O-1", 2_000, init=init)])
    ledger.write_events([order_event("order.accepted", "O-1", 1_000, venue_order_id="V-9")])
    ledger.write_events([order_event("order.submitted", "O-1", 3_000)])  # never back to SUBMITTED
    row = ledger.query("SELECT status, venue_order_id, init_json FROM orders")[0]
    assert row[:2] == ("ACCEPTED", "V-9") and json.loads(row[2]) == init
    ledger.write_events([order_event("order.expired", "O-1", 4_000)])
    assert ledger.query("SELECT status FROM orders") == [("EXPIRED",)]


def test_strategy_state_keeps_the_latest_per_strategy_and_is_not_an_event(ledger: Ledger) -> None:
    saved = [Event(SID, "a", "strategy.saved", "saved", ts, {"strategy_id": "Grid-001", "state": {"step": s}})
             for ts, s in ((2, "Mg=="), (1, "MQ=="), (3, "Mw=="))]
    ledger.write_events(saved)
    assert queries.strategy_states(ledger, SID) == {"Grid-001": '{"step":"Mw=="}'}
    assert count(ledger, "events") == 0


def test_position_reopened_clears_closed_ts(ledger: Ledger) -> None:
    ledger.write_events([position_event("position.opened", 1), position_event("position.closed", 2, side="FLAT")])
    ledger.write_events([position_event("position.opened", 3)])
    assert ledger.query("SELECT side, opened_ts, closed_ts FROM positions") == [("LONG", 3, None)]


def test_fills_are_idempotent(ledger: Ledger) -> None:
    f = fill_event("O-1", "T-1", 100)
    ledger.write_events([f, f])
    ledger.write_events([f])
    ledger.write_events([fill_event("O-1", "T-2", 101)])  # another trade of the same order counts
    assert count(ledger, "fills") == 2
    assert count(ledger, "orders") == 1


def test_non_plain_values_are_coerced(ledger: Ledger) -> None:
    class Px:  # stands in for a Nautilus Price / identifier
        def __float__(self) -> float:
            return 101.25

        def __str__(self) -> str:
            return "T-obj"

    e = fill_event("O-1", "T-1", 100)
    e.extras.update(last_px=Px(), trade_id=Px())
    ledger.write_events([e])
    assert ledger.query("SELECT trade_id, price FROM fills") == [("T-obj", 101.25)]


# -- writer thread ----------------------------------------------------------------
def test_writer_burst_of_50k_loses_nothing(ledger: Ledger) -> None:
    n = 50_000
    batch = []
    for i in range(n):
        if i % 5 == 0:
            batch.append(fill_event(f"O-{i}", f"T-{i}", i))
        elif i % 5 == 1:
            batch.append(equity_event(i, 100_000.0 + i))
        else:
            batch.append(Event(SID, "a", "bar.received", "bar", i, {"close": float(i)}))
    writer = LedgerWriter(ledger)
    t0 = time.perf_counter()
    for e in batch:
        writer.put(e)
    put_s = time.perf_counter() - t0
    assert writer.flush(timeout=30.0)
    rate = n / (time.perf_counter() - t0)
    print(f"\nLedgerWriter: {rate:,.0f} events/s (put {put_s * 1e6 / n:.2f} us/event)")
    assert writer.written == n and writer.errors == 0 and writer.dropped == 0
    assert count(ledger, "events") == n
    assert count(ledger, "fills") == n // 5
    assert count(ledger, "orders") == n // 5
    assert count(ledger, "equity") == n // 5  # the rate is a figure (tests/bench), not a timed assertion
    # a later event is committed by the next flush; close stops the thread
    writer.put(fill_event("O-last", "T-last", n + 1))
    assert writer.flush() and count(ledger, "fills") == n // 5 + 1
    assert writer.close() and not writer.alive
    writer.put(fill_event("O-x", "T-x", n + 2))  # after close: dropped, never raised
    assert writer.dropped == 1


def test_writer_from_several_threads(ledger: Ledger) -> None:
    writer = LedgerWriter(ledger)

    def produce(k: int) -> None:
        for i in range(2_000):
            writer.put(fill_event(f"O-{k}-{i}", f"T-{k}-{i}", i))

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert writer.close()
    assert count(ledger, "fills") == 8_000 and writer.written == 8_000


def test_writer_small_trickle_is_committed_within_latency(ledger: Ledger) -> None:
    writer = LedgerWriter(ledger, max_latency=0.02)
    writer.put(fill_event("O-1", "T-1", 1))
    deadline = time.monotonic() + 2.0
    while count(ledger, "fills") == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert count(ledger, "fills") == 1
    writer.close()


def test_a_failing_write_waits_and_is_retried_never_dropped(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def broken(events: Any, **_: Any) -> int:
        calls.append(len(list(events)))
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(ledger, "write_batches", broken)
    writer = LedgerWriter(ledger)
    writer.put(fill_event("O-1", "T-1", 1))
    wait_for(lambda: len(calls) >= 3, "the write to be retried")
    assert writer.alive and writer.dropped == 0 and writer.written == 0 and writer.ledger_pending >= 1
    monkeypatch.undo()
    writer.put(fill_event("O-2", "T-2", 2))
    assert writer.flush(30) and count(ledger, "fills") == 2
    assert writer.dropped == 0 and writer.ledger_pending == 0
    writer.close()


def test_a_batch_the_ledger_refuses_for_good_is_kept_on_disk(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelext.ledger import spool_dir
    from kernelext.ledger.spool import read_events

    def broken(events: Any, **_: Any) -> int:
        raise sqlite3.IntegrityError("never")

    monkeypatch.setattr(ledger, "write_batches", broken)
    writer = LedgerWriter(ledger)
    writer.put(fill_event("O-1", "T-1", 1))
    assert writer.flush(10)
    assert writer.errors == 1 and writer.dropped == 0
    kept = list(spool_dir(ledger.path).glob("*.rejected"))
    assert len(kept) == 1 and [e.extras["trade_id"] for e in read_events(kept[0])] == ["T-1"]
    monkeypatch.undo()
    writer.put(fill_event("O-2", "T-2", 2))
    assert writer.flush(10) and writer.written == 1
    writer.close()


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from kernelext.events import Event
    from kernelext.ledger import Ledger, LedgerWriter
    led = Ledger(None if sys.argv[1] == "-" else sys.argv[1])  # "-": PAPERLAB_LEDGER_URL
    led.create_session("crash-1", label="c", kind="paper", venue="sandbox", feed="replay",
                       spec={}, sleeves=[], started_at=1, status="running")
    w = LedgerWriter(led)
    n = int(sys.argv[2])
    for i in range(n):
        w.put(Event("crash-1", "a", "order.filled", "f", 1000 + i, {
            "client_order_id": f"O-{i}", "instrument": "BTC/USD.KRAKEN", "side": "BUY",
            "order_type": "MARKET", "quantity": 1.0, "price": None, "status": "FILLED",
            "strategy_id": "S", "trade_id": f"T-{i}", "venue_order_id": "V", "position_id": "P",
            "last_qty": 1.0, "last_px": 100.0, "commission": 0.1,
            "commission_currency": "USD", "liquidity": "TAKER"}))
    assert w.flush(10.0)
    print("committed", n, flush=True)
    os.kill(os.getpid(), 9)
    """
)


def test_kill_9_keeps_committed_rows_and_session_is_marked_crashed(home: Path) -> None:
    pg = bool(os.environ.get("PAPERLAB_LEDGER_URL"))
    path = home / "crash.sqlite"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, "-" if pg else str(path), "5000"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
    )
    assert proc.returncode == -9, proc.stderr
    n = int(proc.stdout.split("committed")[1].split()[0])
    assert n == 5000
    led = Ledger(None if pg else path)
    assert led.journal_mode == ("postgresql" if pg else "wal")
    assert count(led, "fills", "crash-1") == n
    assert led.session("crash-1")["status"] == "running"
    found = time.time_ns()
    assert led.mark_crashed() == ["crash-1"]
    row = led.session("crash-1")
    assert row["status"] == "crashed"
    assert found <= row["ended_at"] <= time.time_ns()  # when it was found dead
    assert "ended without stopping" in row["last_error"]
    assert led.mark_crashed() == []
    led.close()


def test_mark_crashed_rules(ledger: Ledger) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    assert not pid_alive(dead_pid) and pid_alive(os.getpid()) and not pid_alive(0)
    make_session(ledger, "mine-live")
    make_session(ledger, "mine-gone")
    make_session(ledger, "dead-proc")
    make_session(ledger, "elsewhere")
    make_session(ledger, "finished", status="stopped")
    ledger._con().execute("UPDATE sessions SET pid = ? WHERE id = 'dead-proc'", (dead_pid,))
    ledger._con().execute("UPDATE sessions SET pid = ?, host = 'other-host' WHERE id = 'elsewhere'", (dead_pid,))
    future = time.time_ns() + 10 * 86_400 * 10**9  # a replay's market time can be ahead of the wall clock
    ledger.write_events([equity_event(future, 1.0)])  # SID's last event
    found = time.time_ns()
    gone = ledger.mark_crashed({"mine-live"})
    assert sorted(gone) == sorted([SID, "mine-gone", "dead-proc"])
    status = dict(ledger.query("SELECT id, status FROM sessions"))
    assert status["mine-live"] == "running" and status["elsewhere"] == "running"
    assert status["finished"] == "stopped" and status["dead-proc"] == "crashed"
    for sid in (SID, "mine-gone"):  # ended when found dead: the wall time, never a market time
        assert found <= ledger.session(sid)["ended_at"] <= time.time_ns()


# -- commands --------------------------------------------------------------------
def test_command_queue_takes_once(ledger: Ledger) -> None:
    first = ledger.enqueue_command(SID, "pause")
    second = ledger.enqueue_command(SID, "flatten", {"sleeve": "a"})
    ledger.enqueue_command("other", "stop")
    assert ledger.take_commands(SID) == [(first, "pause", {}), (second, "flatten", {"sleeve": "a"})]
    assert ledger.take_commands(SID) == []
    ledger.finish_command(second, "ok")
    cmd = ledger.command(second)
    assert cmd["result"] == "ok" and cmd["taken_ts"] is not None and cmd["args"] == {"sleeve": "a"}
    assert ledger.command(999) is None


def test_command_queue_concurrent_takers_never_share(ledger: Ledger) -> None:
    ids = {ledger.enqueue_command(SID, "pause", {"i": i}) for i in range(200)}
    taken: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        other = Ledger(ledger.location)  # a separate connection set, as another process would have
        for _ in range(20):
            got = [c[0] for c in other.take_commands(SID)]
            with lock:
                taken.extend(got)
        other.close()

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(ids)


# -- audit -------------------------------------------------------------------------
def test_audit_chain_verifies_and_detects_tampering(ledger: Ledger) -> None:
    assert ledger.verify_audit()  # empty chain
    hashes = [ledger.append_audit("alice", "session.start", {"id": SID, "n": i}) for i in range(4)]
    check = ledger.verify_audit()
    assert len(set(hashes)) == 4 and check and check.rows == 4
    rows = ledger.query("SELECT prev_hash, hash FROM audit ORDER BY id")
    assert [r[0] for r in rows[1:]] == [r[1] for r in rows[:-1]]
    con = ledger._con()
    with pytest.raises(integrity_errors(), match="append-only"):
        con.execute("UPDATE audit SET detail_json = '{}' WHERE id = 2")
    drop_trigger(ledger, "audit_no_update")
    con.execute("UPDATE audit SET detail_json = '{\"id\":\"x\",\"n\":1}' WHERE id = 2")
    check = ledger.verify_audit()
    assert not check and check.broken_row == 2 and "edited" in check.line()


def test_audit_detects_a_removed_row_and_a_cut_tail(ledger: Ledger) -> None:
    for i in range(4):
        ledger.append_audit("bob", "approve", {"i": i})
    con = ledger._con()
    with pytest.raises(integrity_errors(), match="append-only"):
        con.execute("DELETE FROM audit WHERE id = 2")
    drop_trigger(ledger, "audit_no_delete")
    con.execute("DELETE FROM audit WHERE id = 4")
    check = ledger.verify_audit()
    assert check.broken_row == 4 and "end of the log" in check.line()
    con.execute("DELETE FROM audit WHERE id = 2")
    assert ledger.verify_audit().broken_row == 2


# -- files: modes and rotation ---------------------------------------------------
def test_home_logs_and_ledger_files_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelext.session.node import logging_config as _logging
    from kernelext.surfaces import crash

    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("PAPERLAB_HOME", str(home))
    old = os.umask(0o022)
    try:
        led = Ledger()
        make_session(led, "modes")
        led.write_events([equity_event(1, 1.0)])
        log_file = crash.record(RuntimeError("boom"))
    finally:
        os.umask(old)
    mode = lambda p: oct(p.stat().st_mode & 0o777)  # noqa: E731
    assert mode(home) == "0o700"
    for name in ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm"):
        assert mode(home / name) == "0o600", name
    assert log_file.parent == home / "logs" and mode(log_file.parent) == "0o700"
    led.close()
    config = _logging(str(home / "logs"), "nautilus-1")  # Nautilus's log rotates by size
    assert config.log_file_max_size == 50 * 1024 * 1024 and config.log_file_max_backup_count == 5


# -- what live views poll, and a PostgreSQL connection that drops ---------------------------------
def test_data_version_moves_when_any_connection_commits(ledger: Ledger) -> None:
    before = ledger.data_version()
    assert ledger.data_version() == before  # nothing committed: the same token
    other = Ledger(ledger.location)  # another process's connection
    other.enqueue_command(SID, "pause")
    moved = ledger.data_version()
    assert moved != before
    ledger.append_audit("me", "x", {})  # a commit of this very connection moves it too
    assert ledger.data_version() != moved
    seen: list[Any] = []
    t = threading.Thread(target=lambda: seen.append(ledger.data_version()))
    t.start()
    t.join()
    assert seen[0] != ledger.data_version()  # another thread's token never equals this one's
    other.close()


def test_a_dropped_postgresql_connection_is_retried_never_dropped(pg_url: str, home: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The server ends the writer's connection (a restart, a failover, an idle timeout) mid-stream:
    the writer waits, reconnects and commits everything, once."""
    if not os.environ.get("PAPERLAB_LEDGER_URL"):
        pytest.skip("PostgreSQL only")
    import psycopg

    led = Ledger()
    make_session(led, SID)
    writer = LedgerWriter(led)
    admin = psycopg.connect(os.environ["PAPERLAB_LEDGER_URL"], autocommit=True)
    for k in range(3):
        for i in range(500):
            writer.put(fill_event(f"O-{k}-{i}", f"T-{k}-{i}", i))
        wait_for(lambda: count(led, "fills") > 500 * k, "some fills committed")  # noqa: B023
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name"
                              " = 'paperlab' AND pid <> %s", (led._con().raw.info.backend_pid,)).fetchall()
        assert ended, "no writer connection to end"
    assert writer.flush(60)
    assert count(led, "fills") == 1500 and writer.dropped == 0 and writer.errors == 0
    writer.close()
    admin.close()
    led.close()


def test_a_commit_whose_answer_is_lost_is_stored_once(pg_server, pg_url: str, home: Path) -> None:  # noqa: ANN001
    """The connection drops after PostgreSQL committed the writer's batch but before the answer
    reached it (a network cut, a failover): the writer cannot tell, waits and retries; the
    retry stores nothing twice (no event, no audited order intent, no equity point)."""
    if not os.environ.get("PAPERLAB_LEDGER_URL"):
        pytest.skip("PostgreSQL only")
    from kernelext.ledger.backlog import Backlog
    from tests.pg_proxy import LostCommitProxy

    proxy = LostCommitProxy(pg_server.port)
    led = Ledger(proxy.url(pg_url))
    make_session(led, SID)
    direct = Ledger(pg_url)
    audited = direct.query("SELECT COUNT(*) FROM audit")[0][0]
    backlog = Backlog(led)
    batch = [order_event("order.submitted", "O-1", 1), fill_event("O-1", "T-1", 2), equity_event(3, 99.0),
             Event(SID, "a", "signal.emitted", "long: fast above slow", 4, {"signal": "long"})]
    backlog.add(batch)
    proxy.arm()
    assert not backlog.commit()  # the answer never came: busy, to be retried
    assert proxy.answers_lost == 1
    assert count(direct, "events") == len(batch)  # ... though the batch landed
    wait_for(backlog.commit, "the retry")
    assert backlog.written == len(batch) and backlog.waiting == 0
    assert count(direct, "events") == len(batch) and count(direct, "fills") == 1 and count(direct, "equity") == 1
    assert direct.query("SELECT COUNT(*) FROM audit")[0][0] == audited + 1  # the submit, audited once
    backlog.add([fill_event("O-2", "T-2", 5)])  # and the writer goes on
    assert backlog.commit() and count(direct, "events") == len(batch) + 1
    proxy.close()
    for one in (led, direct):
        one.close()


def test_a_spool_replayed_again_after_a_crash_stores_its_events_once(ledger: Ledger) -> None:
    """A replay commits the spooled batches, then the process dies before emptying the file: the
    next open replays the file again and skips what it holds. A frame spooled before frames carried
    their writer's tag (a plain list) is still replayed."""
    import pickle
    import struct

    from kernelext.ledger import spool_dir
    from kernelext.ledger.spool import Spool, read_batches, unspool_orphans

    path = spool_dir(ledger.path) / f"{SID}.pickle"
    spool = Spool(path)
    assert spool.append([order_event("order.submitted", "O-1", 1), fill_event("O-1", "T-1", 2)], ("w-1", 1))
    assert spool.append([equity_event(3, 99.0)], ("w-1", 2))
    spool.close()  # the writer is gone; its file stays for the next open
    assert ledger.write_batches(read_batches(path)) == 3  # a replay committed it, then died before emptying
    assert unspool_orphans(ledger) == 3 and not path.exists()
    assert count(ledger, "events") == 3 and count(ledger, "fills") == 1 and count(ledger, "equity") == 1
    data = pickle.dumps([fill_event("O-2", "T-2", 4)])
    path.write_bytes(struct.pack(">I", len(data)) + data)  # an untagged frame of an older writer
    assert unspool_orphans(ledger) == 1 and count(ledger, "fills") == 2


def test_an_orphaned_spool_is_audited_as_its_writer_would_have(ledger: Ledger) -> None:
    """A backtest's writer (``audit=False``) died with events spooled: the next open stores its
    simulated orders but adds none to the audit chain; a paper writer's spooled intents join it."""
    from kernelext.ledger import spool_dir
    from kernelext.ledger.spool import Spool, unspool_orphans

    for sid, audit in (("backtest-1", False), ("paper-1", True)):
        spool = Spool(spool_dir(ledger.path) / f"{sid}.pickle", audit=audit)
        assert spool.append([order_event("order.submitted", f"O-{sid}", 1, sid=sid),
                             fill_event(f"O-{sid}", f"T-{sid}", 2, sid=sid)], (f"w-{sid}", 1))
        spool.close()
    assert unspool_orphans(ledger) == 4
    assert count(ledger, "fills", "backtest-1") == 1 and count(ledger, "fills", "paper-1") == 1
    assert [row[4] for row in queries.audit_rows(ledger)] == ["paper-1"]
    assert ledger.verify_audit()


def test_a_reader_following_ids_misses_no_row_of_concurrent_writers(ledger: Ledger) -> None:
    """Feeds and the API's ?after= read ``id > last seen``: ids must become visible in order, even
    with several processes committing at once (PostgreSQL: the writers' advisory lock)."""
    stop = threading.Event()
    seen: list[int] = []

    def write(k: int) -> None:
        led = Ledger(ledger.location)  # its own connections, as another process
        for i in range(60):
            led.write_events([Event(SID, "a", "bar.received", "bar", i, {"k": k, "i": i}) for _ in range(3)])
        led.close()

    def follow() -> None:
        led = Ledger(ledger.location)
        last = 0
        while not stop.is_set() or last < queries.max_event_id(led):
            upto = queries.max_event_id(led)
            rows = queries.feed_all_events_between(led, last, upto, 10_000)
            seen.extend(r[0] for r in rows)
            last = upto
        led.close()

    reader = threading.Thread(target=follow)
    reader.start()
    writers = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join(30)
    every = [r[0] for r in ledger.query("SELECT id FROM events ORDER BY id")]
    assert len(every) == 4 * 60 * 3 and seen == every


def test_connections_of_ended_threads_are_not_hoarded(ledger: Ledger) -> None:
    """Views and servers read from short-lived threads; on PostgreSQL each connection is a server
    process (~100 allowed), so one left by an ended thread is closed when the next one opens."""
    for _ in range(5):
        t = threading.Thread(target=lambda: ledger.query("SELECT 1"))
        t.start()
        t.join()
    # PostgreSQL: this thread's and the last thread's (closed when the next thread opens one);
    # SQLite keeps its (cheap) file handles until close()
    assert len(ledger._connections) == (2 if ledger.url else 6)


def test_stage_globs_match_as_in_sqlite(ledger: Ledger) -> None:
    """``GLOB`` is ``LIKE`` on PostgreSQL: ``*`` and ``?`` are wildcards, ``%`` and ``_`` are not."""
    for i, stage in enumerate(("order.filled", "order.denied", "orderXfilled", "equity.update", "risk.halted",
                               "feed_stale", "feedXstale", "100%.done", "1000.done")):
        ledger.write_events([Event(SID, "a", stage, stage, i, {})])
    stages = lambda pattern: [r[3] for r in queries.events(ledger, SID, pattern)]  # noqa: E731
    assert stages("order.*") == ["order.filled", "order.denied"]
    assert stages("order?filled") == ["order.filled", "orderXfilled"]
    assert stages("feed_stale") == ["feed_stale"] and stages("100%.done") == ["100%.done"]
    upto = queries.max_event_id(ledger)
    assert "equity.update" not in [r[2] for r in queries.feed_events_between(ledger, SID, 0, upto, 100)]
    assert [r[2] for r in queries.feed_latest_events(ledger, SID, upto, 2, glob="feed*")] == ["feedXstale", "feed_stale"]
