"""The audit log on a real session: order intents with their risk decision, controls with their
surface, deletes; ``paperlab audit`` shows them, ``--verify`` passes, and an edit made behind our
back with the sqlite3 command line (after dropping the trigger) is named by ``--verify``; the same
on PostgreSQL with psql."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from kernelext import api
from kernelext.ledger import Ledger, default_path
from kernelext.surfaces.cli import main
from tests.helpers import wait_for
from tests.pg import pg_bin, pg_server, pg_url  # noqa: F401  (fixtures)


def _details(df: pl.DataFrame, action: str) -> list[dict]:
    return [json.loads(d) for d in df.filter(pl.col("action") == action)["detail"]]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sessions_orders_and_controls_are_in_the_chain(backend: str, paperlab_home: Path, capsys: pytest.CaptureFixture[str],
                                                         request: pytest.FixtureRequest,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("PAPERLAB_LEDGER_URL", request.getfixturevalue("pg_url"))
    ledger = Ledger()
    assert bool(ledger.url) == (backend == "postgresql")
    runner = api.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, feed="replay", speed=1200, ledger=ledger)
    sid = runner.session_id
    wait_for(lambda: api.fill_count(sid, ledger=ledger) >= 2, "two fills")
    assert main(["pause", sid]) == 0
    assert main(["kill", sid]) == 0
    capsys.readouterr()

    df = api.audit(sid, ledger=ledger)
    submits = _details(df, "order.submit")
    orders = api.frame("orders", sid, ledger=ledger)
    # every order the strategy asked for is one audit row with the risk engine's decision
    assert len(submits) == orders.height > 0
    assert {s["client_order_id"] for s in submits} == set(orders["client_order_id"])
    decided = {s["client_order_id"]: s["risk"] for s in submits}
    for row in orders.iter_rows(named=True):
        assert decided[row["client_order_id"]] == ("denied" if row["status"] == "DENIED" else "approved")
    start = _details(df, "session.start")
    assert start and start[0]["sleeves"][0]["strategy"] == "ema_cross"
    controls = df.filter(pl.col("action").str.starts_with("control."))
    assert controls["action"].to_list() == ["control.pause", "control.kill"]
    assert all(a.endswith("via cli") for a in controls["actor"])
    assert [d["result"] for d in _details(df, "control.kill")] == ["ok"]

    assert main(["audit", "--session", sid, "--limit", "5"]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 5 and "control.kill" in shown[-1] and f"session_id={sid}" in shown[-1]
    assert main(["audit", "--verify"]) == 0
    assert "audit chain intact" in capsys.readouterr().out

    api.delete_session(sid, ledger=ledger)
    assert _details(api.audit(ledger=ledger), "session.delete")[-1]["session_id"] == sid


def test_verify_names_a_row_edited_with_the_sqlite3_command_line(paperlab_home: Path) -> None:
    ledger = Ledger()
    for verb in ("approve", "revoke", "approve"):
        api.record_audit(f"test.{verb}", {"session_id": "s-1"}, ledger=ledger)
    path = str(default_path())
    refused = subprocess.run(["sqlite3", path, "UPDATE audit SET actor = 'mallory' WHERE id = 2"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "append-only" in refused.stderr
    cli = [sys.executable, "-m", "kernelext", "audit", "--verify"]
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home)}
    ok = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "3 rows verified" in ok.stdout

    subprocess.run(["sqlite3", path, "DROP TRIGGER audit_no_update; UPDATE audit SET actor = 'mallory' WHERE id = 2"],
                   check=True)
    broken = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert broken.returncode == 1
    assert broken.stderr.strip() == "audit chain broken at row 2: its content does not match its hash (the row was edited)"
    assert "Traceback" not in broken.stderr


def test_bad_audit_input_is_one_line(paperlab_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--since", "yesterday-ish"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("paperlab: error: since: expected a duration back from now") and "\n" not in err
    assert main(["audit", "--limit", "0"]) == 2
    assert "limit: expected a whole number" in capsys.readouterr().err


def test_on_postgresql_verify_names_a_row_edited_with_psql(paperlab_home: Path, pg_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERLAB_LEDGER_URL", pg_url)
    ledger = Ledger()
    for verb in ("approve", "revoke", "approve"):
        api.record_audit(f"test.{verb}", {"session_id": "s-1"}, ledger=ledger)
    psql = [str(pg_bin("psql")), "-X", "-v", "ON_ERROR_STOP=1", pg_url]
    refused = subprocess.run([*psql, "-c", "UPDATE audit SET actor = 'mallory' WHERE id = 2"],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "append-only" in refused.stderr
    refused = subprocess.run([*psql, "-c", "TRUNCATE audit"], capture_output=True, text=True)
    assert refused.returncode != 0 and "append-only" in refused.stderr
    cli = [sys.executable, "-m", "kernelext", "audit", "--verify"]
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home)}
    ok = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "3 rows verified" in ok.stdout, ok.stderr

    subprocess.run([*psql, "-c", "DROP TRIGGER audit_no_update ON audit",
                    "-c", "UPDATE audit SET actor = 'mallory' WHERE id = 2"], check=True, capture_output=True)
    broken = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert broken.returncode == 1
    assert broken.stderr.strip() == "audit chain broken at row 2: its content does not match its hash (the row was edited)"
    ledger.close()
