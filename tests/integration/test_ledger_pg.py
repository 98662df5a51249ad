"""The ledger on PostgreSQL end to end (a real server from ``tests/pg.py``): a replay session records
the same frames as on SQLite, controls reach a session in another process through the command
queue, ``paperlab ledger copy`` moves an SQLite history over with its audit chain, and a bad URL
or a server that is down is one line that names PAPERLAB_LEDGER_URL and never shows the password."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import kernelext
from kernelext import api, frames
from kernelext.ledger import Ledger, default_path
from kernelext.research.backtest import fills_as_rows, run_backtest
from kernelext.surfaces.cli import main
from tests.helpers import wait_for
from tests.integration.test_cli import PAPER, Running
from tests.pg import PASSWORD, pg_server, pg_url  # noqa: F401  (fixtures)

ANCHOR_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC
BARS = 600
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def on_pg(pg_url: str, paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """PAPERLAB_LEDGER_URL at a fresh schema (PAPERLAB_HOME a fresh folder)."""
    monkeypatch.setenv("PAPERLAB_LEDGER_URL", pg_url)
    return pg_url


def _replay(ledger: Ledger) -> str:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 8, "slow": 21}, feed="replay", speed="max",
                             max_bars=BARS, seed=11, anchor_ns=ANCHOR_NS, ledger=ledger)
    assert runner.wait(120), "the session did not finish"
    assert runner.state == "stopped", runner.last_error
    return runner.session_id


def _comparable(df: pl.DataFrame) -> pl.DataFrame:
    """A frame without what differs between two runs of the same replay (ids: the session's, orders',
    trades' and positions' carry the wall time or a uuid; wall-clock stamps)."""
    return df.drop([c for c in df.columns if c == "id" or c.endswith("_id") or c.startswith(("ts_submitted", "ts_updated"))])


def test_a_replay_session_records_the_same_frames_on_postgresql_as_on_sqlite(on_pg: str, paperlab_home: Path) -> None:
    pg = Ledger()
    assert pg.url == on_pg
    lite = Ledger(paperlab_home / "reference.sqlite")
    on_postgres, on_sqlite = _replay(pg), _replay(lite)
    fills = frames.fills(on_postgres, ledger=pg)
    assert fills.height > 3, "ema_cross trades on 600 bars"
    for name in ("fills", "orders", "positions", "equity", "bars", "round_trips"):
        a = _comparable(getattr(frames, name)(on_postgres, ledger=pg))
        b = _comparable(getattr(frames, name)(on_sqlite, ledger=lite))
        assert a.schema == b.schema, name
        assert a.equals(b), f"{name} differ:\n{a}\n{b}"
    assert frames.bars(on_postgres, ledger=pg).height == BARS
    # what the node did is what Nautilus's BacktestEngine does on the same bars (parity)
    spec = api.spec("ema_cross", "BTC/USD", params={"fast": 8, "slow": 21}, feed="replay", speed="max",
                    max_bars=BARS, seed=11, anchor_ns=ANCHOR_NS)
    _, engine_fills = run_backtest(spec, anchor_ns=ANCHOR_NS, bars=BARS)
    assert [(r["sleeve"], r["side"], round(r["qty"], 8), round(r["price"], 8))
            for r in fills.sort("ts_ns", "sleeve").iter_rows(named=True)] == fills_as_rows(engine_fills)
    # a recorded backtest (the thread writer, no audit rows) lands on PostgreSQL too
    bt = kernelext.backtest(strategy="ema_cross", instrument="BTC/USD", bars=300)
    assert frames.sessions(pg).filter(pl.col("session_id") == bt)["kind"].to_list() == ["backtest"]
    assert frames.bars(bt, ledger=pg).height == 300
    stages = lambda led, sid: sorted(frames.events(sid, ledger=led)["stage"].to_list())  # noqa: E731
    assert stages(pg, on_postgres) == stages(lite, on_sqlite)
    # the order intents are in the chain, which verifies
    actions = lambda led, sid: api.audit(sid, ledger=led)["action"].to_list()  # noqa: E731
    assert actions(pg, on_postgres) == actions(lite, on_sqlite)
    assert actions(pg, on_postgres).count("order.submit") == frames.orders(on_postgres, ledger=pg).height
    assert pg.verify_audit()
    row = frames.sessions(pg).filter(pl.col("session_id") == on_postgres).to_dicts()[0]
    assert row["status"] == "stopped" and row["fills"] == fills.height
    pg.close()
    lite.close()


def test_controls_reach_a_session_in_another_process_through_postgresql(on_pg: str, paperlab_home: Path) -> None:
    run = Running(paperlab_home, *PAPER, "--params", '{"fast": 2, "slow": 5}', "--speed", "600", "--for", "120s")
    try:
        sid = run.wait_line(" running: ").split()[1]
        led = Ledger()
        assert led.session(sid)["pid"] == run.proc.pid  # the session row is in PostgreSQL
        assert api.control(sid, "pause", ledger=led) == sid
        wait_for(lambda: led.session(sid)["status"] == "paused", "the session paused")
        api.control(sid, "kill", ledger=led)
        assert run.finish() == 0, run.text
    finally:
        run.kill()
    assert led.session(sid)["status"] == "stopped"
    results = {d["session_id"]: d["result"] for d in
               [__import__("json").loads(x) for x in api.audit(sid, ledger=led)["detail"]] if "result" in d}
    assert results == {sid: "ok"}
    assert PASSWORD not in run.text
    led.close()


def test_ledger_copy_moves_an_sqlite_history_with_its_audit_chain(pg_url: str, paperlab_home: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PAPERLAB_LEDGER_URL", raising=False)
    lite = Ledger()
    sid = _replay(lite)
    api.record_audit("test.note", {"session_id": sid}, ledger=lite)
    lite.enqueue_command(sid, "stop")
    assert lite.path == default_path()

    assert main(["ledger", "copy", "--to", pg_url]) == 0
    out = capsys.readouterr()
    assert "audit chain intact" in out.out and PASSWORD not in out.out + out.err and "***" in out.out
    assert main(["ledger", "copy", "--to", pg_url]) == 2  # never into a ledger that holds rows
    err = capsys.readouterr().err
    assert "already holds a ledger" in err and PASSWORD not in err and err.count("\n") == 1

    monkeypatch.setenv("PAPERLAB_LEDGER_URL", pg_url)
    env = {**os.environ}
    verify = subprocess.run([sys.executable, "-m", "kernelext", "audit", "--verify"], capture_output=True, text=True,
                            env=env, timeout=120, cwd=REPO)
    n_audit = lite.query("SELECT COUNT(*) FROM audit")[0][0]
    assert verify.returncode == 0 and f"{n_audit} rows verified" in verify.stdout, verify.stderr
    pg = Ledger()
    for name in ("fills", "orders", "positions", "equity", "bars", "events", "sessions"):
        a = getattr(frames, name)(sid, ledger=pg) if name != "sessions" else frames.sessions(pg)
        b = getattr(frames, name)(sid, ledger=lite) if name != "sessions" else frames.sessions(lite)
        assert a.equals(b), name
    copied, kept = api.audit(ledger=pg), api.audit(ledger=lite)
    assert copied.head(-1).equals(kept.head(-1))  # the chain as it was, then each side says the copy
    said_pg, said_lite = copied.row(-1, named=True), kept.row(-1, named=True)
    assert said_pg["action"] == said_lite["action"] == "ledger.copy"
    assert str(lite.path) in str(said_pg["detail"]) and "***" in str(said_lite["detail"])
    assert PASSWORD not in str(said_lite["detail"]) + str(said_pg["detail"])
    # ids continue after the copied ones; a new audit row links to the copied chain
    assert pg.enqueue_command(sid, "pause") == lite.enqueue_command(sid, "pause")
    api.record_audit("test.after", {}, ledger=pg)
    assert pg.verify_audit().rows == n_audit + 1
    pg.close()
    lite.close()


def test_a_cut_tail_is_still_named_after_the_copy(pg_url: str, paperlab_home: Path) -> None:
    lite = Ledger(paperlab_home / "cut.sqlite")
    for i in range(3):
        lite.append_audit("me", "test", {"i": i})
    lite._con().execute("DROP TRIGGER audit_no_delete")
    lite._con().execute("DELETE FROM audit WHERE id = 3")
    result = api.copy_ledger(pg_url, source=str(lite.path))
    assert not result.audit.ok and result.audit.broken_row == 3 and "end of the log" in result.audit.problem
    lite.close()


@pytest.mark.parametrize(("url", "said", "subprocess_"), [
    ("mysql://u:hunter2-pw@127.0.0.1/x", "the scheme is 'mysql'", False),
    ("postgresql://u:hunter2-pw@127.0.0.1:1/x", "cannot open the ledger at postgresql://u:***@127.0.0.1:1/x", True),
    ("postgresql://u:hunter2-pw@127.0.0.1:99999/x", "does not parse", False),
])
def test_a_bad_url_or_a_server_that_is_down_is_one_line_without_the_password(
        url: str, said: str, subprocess_: bool, paperlab_home: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PAPERLAB_LEDGER_URL", url)
    if subprocess_:  # as a person runs it: one line on stderr, no traceback
        proc = subprocess.run([sys.executable, "-m", "kernelext", "sessions"], capture_output=True, text=True,
                              env={**os.environ}, timeout=120, cwd=REPO)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code = main(["sessions"])
        out, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith("paperlab: error: PAPERLAB_LEDGER_URL") and err.count("\n") == 1 and said in err, err
    assert "hunter2" not in out + err and "Traceback" not in err


def test_the_password_is_masked_wherever_a_url_carries_it() -> None:
    from kernelext.ledger.dialect import mask_url

    assert mask_url("postgresql://u:p%40ss@db:5432/x") == "postgresql://u:***@db:5432/x"
    assert mask_url("postgresql://db/x?user=u&password=sec&sslmode=require") == (
        "postgresql://db/x?user=u&password=***&sslmode=require")
    assert mask_url("postgresql://u@db/x") == "postgresql://u@db/x"
    assert "pw" not in mask_url("postgresql://u:pw@[::1/x")  # does not parse: masked all the same
