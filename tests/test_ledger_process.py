"""The ledger writer as a child process: what is put is committed, flushes wait for it, the
parent's death (even kill -9) loses nothing already sent, a dead child never hangs a flush.
The tests on a ``where`` run on SQLite and on PostgreSQL (``tests/pg.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelext.events import Event
from kernelext.ledger import Ledger, ProcessLedgerWriter, spool_dir
from kernelext.ledger.spool import read_events
from tests.helpers import wait_for
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures)

SID = "sess-proc"


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the ledger is: a file in ``tmp_path``, or a PostgreSQL schema (PAPERLAB_LEDGER_URL;
    its spool in ``tmp_path``, PAPERLAB_HOME)."""
    monkeypatch.setenv("PAPERLAB_HOME", str(tmp_path))
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        monkeypatch.setenv("PAPERLAB_LEDGER_URL", url)
        return url
    monkeypatch.delenv("PAPERLAB_LEDGER_URL", raising=False)
    return str(tmp_path / "ledger.sqlite")


def _ledger(where: str | Path) -> Ledger:
    led = Ledger(where if not isinstance(where, Path) else where / "ledger.sqlite")
    led.create_session(SID, label="p", kind="paper", venue="sandbox", feed="replay", spec={}, sleeves=[], started_at=1)
    return led


def _fill(k: int) -> Event:
    return Event(SID, "a", "order.filled", f"fill {k}", k, {
        "client_order_id": f"O-{k}", "instrument": "BTC/USD.KRAKEN", "side": "BUY", "order_type": "MARKET",
        "quantity": 1.0, "price": None, "status": "FILLED", "strategy_id": "S-001", "trade_id": f"T-{k}",
        "venue_order_id": f"V-{k}", "position_id": "P-1", "last_qty": 1.0, "last_px": 100.0 + k,
        "commission": 0.1, "commission_currency": "USD", "liquidity": "TAKER",
    })


def test_put_flush_close_and_counters(where: str) -> None:
    led = _ledger(where)
    writer = ProcessLedgerWriter(led)
    for k in range(3000):
        writer.put(_fill(k))
    writer.put(Event(SID, None, "equity.batch", "pts", 1, {"currency": "USD", "points": [(k, 1e5, 1e5, 1e5, 0.0, 0.0, 0.0) for k in range(500)]}))
    assert writer.flush(30)
    assert writer.written == 3001 and writer.errors == 0 and writer.dropped == 0
    assert led.query("SELECT COUNT(*) FROM fills")[0][0] == 3000
    assert led.query("SELECT COUNT(*) FROM equity")[0][0] == 500
    assert writer.close()
    assert writer._proc.wait(10) == 0 and not writer.alive  # it exits on its own once done
    writer.put(_fill(9999))
    assert writer.dropped == 1


def test_parent_killed_minus_9_loses_nothing_already_sent(where: str) -> None:
    _ledger(where).close()
    script = textwrap.dedent("""
        import os, signal, sys, time
        from kernelext.events import Event
        from kernelext.ledger import Ledger, ProcessLedgerWriter
        from tests.test_ledger_process import _fill
        writer = ProcessLedgerWriter(Ledger(None if sys.argv[1] == "-" else sys.argv[1]))
        for k in range(2000):
            writer.put(_fill(k))
        time.sleep(1.0)  # sent to the child, never flushed
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    # the child inherits this stderr pipe: run() returns once the orphaned child has exited too
    arg = "-" if os.environ.get("PAPERLAB_LEDGER_URL") else where  # the URL by environment
    proc = subprocess.run([sys.executable, "-c", script, arg], cwd=Path(__file__).resolve().parents[1], timeout=60,
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode == -9
    assert "Traceback" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
    led = Ledger(where)
    for _ in range(100):  # the orphaned child finishes its last transaction, then exits
        if led.query("SELECT COUNT(*) FROM fills")[0][0] == 2000:
            break
        __import__("time").sleep(0.1)
    assert led.query("SELECT COUNT(*) FROM fills")[0][0] == 2000


HOLDER = textwrap.dedent("""
    import sys, time
    from kernelext.ledger import Ledger
    led = Ledger(None if sys.argv[1] == "-" else sys.argv[1])
    held = led.transaction()  # SQLite: BEGIN IMMEDIATE; PostgreSQL: the ledger's advisory lock
    held.__enter__()
    print("locked", flush=True)
    time.sleep(600)
""")


def _hold(led: Ledger) -> subprocess.Popen:
    """Another process holding the ledger's write lock until it is killed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "-" if led.url else str(led.path)],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait(10)


def _spooling(where: str, fills: int, spooled: int) -> tuple[Ledger, ProcessLedgerWriter, subprocess.Popen]:
    """A writer (100 events in memory at most) given ``fills`` fills while another process holds
    the ledger, once at least ``spooled`` of them are in its spool file; release the holder after."""
    led = _ledger(where)
    writer = ProcessLedgerWriter(led, memory_limit=100)
    holder = _hold(led)
    for k in range(fills):
        writer.put(_fill(k))
    wait_for(lambda: writer.spooled >= spooled, "events spooled while the ledger is held", 60)
    return led, writer, holder


def test_a_busy_ledger_spools_past_the_bound_and_loses_nothing(where: str) -> None:
    led, writer, holder = _spooling(where, 3000, 1)
    try:
        assert writer.flush(0.5) is False and writer.dropped == 0 and writer.ledger_pending > 0
        (spooled_file,) = spool_dir(led.path).glob("*.pickle")
        assert spooled_file.stat().st_mode & 0o777 == 0o600 and spool_dir(led.path).stat().st_mode & 0o777 == 0o700
    finally:
        _release(holder)
    assert writer.flush(60)
    assert led.query("SELECT COUNT(*), COUNT(DISTINCT trade_id) FROM fills")[0] == (3000, 3000)
    assert led.query("SELECT COUNT(*) FROM events WHERE stage = 'ledger.stalled'")[0][0] >= 1
    assert writer.ledger_pending == 0 and writer.spooled == 0 and writer.dropped == 0
    assert writer.close() and not list(spool_dir(led.path).glob("*.pickle"))


def test_a_writer_killed_while_spooled_loses_nothing_it_spooled(where: str) -> None:
    led, writer, holder = _spooling(where, 2000, 1000)
    try:
        writer._proc.kill()
        writer._proc.wait(10)
    finally:
        _release(holder)
    (spooled_file,) = spool_dir(led.path).glob("*.pickle")
    on_disk = {e.extras["trade_id"] for e in read_events(spooled_file) if e.stage == "order.filled"}
    assert len(on_disk) >= 1000
    reopened = Ledger(led.location)  # the next open puts the spool into the ledger
    stored = {r[0] for r in reopened.query("SELECT trade_id FROM fills")}
    assert on_disk <= stored and reopened.query("SELECT COUNT(*) FROM fills")[0][0] == len(stored)
    assert not list(spool_dir(led.path).glob("*.pickle"))
    writer.close(5)


def test_a_dead_child_never_hangs_a_flush(where: str) -> None:
    writer = ProcessLedgerWriter(_ledger(where))
    writer.put(_fill(1))
    assert writer.flush(10)
    writer._proc.kill()
    writer._proc.wait(10)
    assert not writer.alive
    writer.put(_fill(2))
    assert writer.flush(2) is False
    writer.close(5)


def test_a_start_refused_before_the_session_leaves_no_writer_process(paperlab_home) -> None:
    import pytest

    from kernelext.session.runner import SessionRunner
    from kernelext.spec import SpecError, build_spec, make_sleeve

    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], feed="kraken")  # Kraken: a closed port
    runner = SessionRunner(spec)
    with pytest.raises(SpecError):
        runner.start()
    assert runner.writer._proc.wait(10) == 0 and not runner.writer.alive


def test_an_interrupt_to_the_parents_process_group_spares_the_writer(tmp_path: Path) -> None:
    """jupyter_client interrupts a kernel by signalling its process group; Ctrl-C in a terminal
    does the same. The writer process is in a group of its own and keeps committing."""
    import os
    import signal

    writer = ProcessLedgerWriter(_ledger(tmp_path))
    assert os.getpgid(writer._proc.pid) != os.getpgid(0)
    writer.put(_fill(1))
    assert writer.flush(10)  # the child runs (and ignores SIGINT from here on)
    writer._proc.send_signal(signal.SIGINT)  # even sent to it directly
    writer.put(_fill(2))
    assert writer.flush(10) and writer.alive and writer.written == 2
    assert writer.close()
