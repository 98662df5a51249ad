"""Notifications through apprise to a local HTTP receiver, and report schedules kept by the supervisor.

Real processes throughout: ``paperlab`` in a subprocess, the supervisor and its session and report
processes, apprise posting ``json://`` and ``form://`` to an ``http.server`` on 127.0.0.1. Every URL
carries a fake user:password; the password must reach the receiver (as HTTP basic auth) and nothing
else: not the CLI's output, the ledger file, the logs or any other file under PAPERLAB_HOME.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

import kernelext
from kernelext import api, frames
from kernelext.ledger import Ledger
from kernelext.surfaces.cli import main
from tests.helpers import file_bytes, wait_for
from tests.integration.test_supervisor import home, row, running_pid, stage_rows, supervisor_said  # noqa: F401

PASSWORD = "hunter2-s3cr3t"
DEADLINE_S = 60.0


@dataclass
class Receiver:
    """What a local HTTP receiver got: one dict per POST (path, auth, title, message, type)."""

    port: int
    got: list[dict[str, Any]] = field(default_factory=list)

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://paper:{PASSWORD}@127.0.0.1:{self.port}/{path}"

    def masked(self, scheme: str, path: str) -> str:
        return f"{scheme}://paper:****@127.0.0.1:{self.port}/{path}"

    def titled(self, text: str) -> list[dict[str, Any]]:
        return [m for m in list(self.got) if text in m["title"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An ``http.server`` on 127.0.0.1 in a thread, taking apprise's json:// and form:// posts."""
    rec = Receiver(0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's name)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(raw)
            else:
                body = {k: v[0] for k, v in parse_qs(raw).items()}
            rec.got.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(5)


def paperlab(*args: str, home_: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernelext", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PAPERLAB_HOME": str(home_)})


def assert_no_secret(home_: Path, *texts: str) -> None:
    """The password is in none of ``texts`` and in no file under PAPERLAB_HOME (ledger, WAL, logs, reports)."""
    for text in texts:
        assert PASSWORD not in text, text
    needle = PASSWORD.encode()
    leaked = [p for p in home_.rglob("*") if p.is_file() and needle in file_bytes(p)]
    assert not leaked, f"the password is stored in {leaked}"
    led = Ledger(home_)
    try:  # the ledger's rows, read back through SQLite (the WAL included)
        tables = [r[0] for r in led.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            assert PASSWORD not in repr(led.query(f"SELECT * FROM {table}")), table
    finally:
        led.close()


def figures_line(session_id: str) -> str:
    perf = frames.performance(session_id).row(0, named=True)
    return f"round trips {frames.round_trips(session_id).height}, realized P&L {perf['realized_pnl']:,.2f} USD"


def test_a_report_reaches_json_and_form_receivers_with_its_figures_and_masked_urls(
        paperlab_home: Path, receiver: Receiver) -> None:
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 3, "slow": 8}, feed="replay", speed="max",
                             max_bars=400)
    assert runner.wait(120) and runner.state == "stopped", runner.last_error
    sid = runner.session_id

    done = paperlab("report", sid, "--notify", receiver.url("json", "hook"), "--notify", receiver.url("form", "in"),
                    home_=paperlab_home)
    assert done.returncode == 0, done.stderr
    assert f"notify {receiver.masked('json', 'hook')}: sent" in done.stdout
    assert f"notify {receiver.masked('form', 'in')}: sent" in done.stdout

    by_path = {m["path"]: m for m in receiver.got}
    assert set(by_path) == {"/hook", "/in"}, receiver.got
    basic = "Basic " + base64.b64encode(f"paper:{PASSWORD}".encode()).decode()
    for m in by_path.values():
        assert m["auth"] == basic  # the real URL was used to send
        assert m["title"] == f"PaperLab report: {sid}"
        assert f"session {sid} (ema_cross BTC/USD) stopped" in m["message"]
        assert figures_line(sid) in m["message"], m["message"]
        assert "recommendation: validated" in m["message"] and "/reports/" in m["message"]
    written = stage_rows(paperlab_home, sid, "report.written")
    assert written[-1]["notified"] == [receiver.masked("json", "hook"), receiver.masked("form", "in")]
    assert_no_secret(paperlab_home, done.stdout, done.stderr)


def test_a_schedule_writes_reports_then_stops_the_session_at_report_at_and_notifies(
        home: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811  (imported fixture)
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=12)).replace(microsecond=0)
    code = main(["paper", "--feed", "replay", "--strategy", "ema_cross", "--instrument", "BTC/USD",  # in this process:
                 "--params", '{"fast": 3, "slow": 8}', "--speed", "600", "--detach", "--json",  # no start-up to wait
                 "--report-every", "3s", "--report-at", at.isoformat(timespec="seconds"),
                 "--notify", receiver.url("json", "hook"), "--notify-fills", "2s"])
    done = capsys.readouterr()
    assert code == 0, done.err
    said = json.loads(done.out.strip().splitlines()[-1])
    sid = said["session_id"]
    assert said["notify"] == [receiver.masked("json", "hook")] and said["report_every_s"] == 3.0
    assert row(home, sid)["spec"]["notify"] == [receiver.masked("json", "hook")]
    assert (home / "notify" / f"{sid}.json").stat().st_mode & 0o777 == 0o600

    final = wait_for(lambda: receiver.titled(f"PaperLab final report: {sid}"), "the final report's notification",
                     DEADLINE_S)
    wait_for(lambda: supervisor_said(home, f"{sid}: final report written"), "the final report job to end", 20)
    r = row(home, sid)
    assert r["status"] == "stopped" and r["ended_at"] >= int(at.timestamp() * 1e9)
    assert stage_rows(home, sid, "control.stop"), "stopped through the command queue"
    assert f"session {sid} (ema_cross BTC/USD) stopped" in final[0]["message"]
    assert figures_line(sid) in final[0]["message"], final[0]["message"]
    written = stage_rows(home, sid, "report.written")
    assert len(written) >= 2 and [w["final"] for w in written][-1] is True and not written[0]["final"]
    reports = sorted((home / "reports").glob(f"{sid}-*.html"))
    assert [str(p) for p in reports] == sorted(w["path"] for w in written)
    assert receiver.titled(f"PaperLab report: {sid}"), "a periodic report was sent"
    assert receiver.titled(f"PaperLab: {sid}") and "fill" in receiver.titled(f"PaperLab: {sid}")[0]["title"]
    assert not (home / "notify" / f"{sid}.json").exists(), "the raw URLs go when the session has ended"
    assert supervisor_said(home, receiver.masked("json", "hook"))
    assert_no_secret(home, done.out, done.err)


def test_relaunches_and_risk_halts_are_notified(home: Path, receiver: Receiver) -> None:  # noqa: F811
    env_home = {**os.environ, "PAPERLAB_HOME": str(home), "PAPERLAB_NOTIFY": receiver.url("json", "alerts")}
    done = subprocess.run([sys.executable, "-m", "kernelext", "paper", "--feed", "replay", "--strategy", "ema_cross",
                           "--instrument", "BTC/USD", "--params", '{"fast": 3, "slow": 8}', "--speed", "600",
                           "--max-drawdown-pct", "0.02", "--detach"],
                          capture_output=True, text=True, timeout=120, env=env_home)
    assert done.returncode == 0, done.stderr
    sid = done.stdout.split()[1]
    assert f"notify: {receiver.masked('json', 'alerts')}" in done.stdout  # $PAPERLAB_NOTIFY, masked
    halt = wait_for(lambda: receiver.titled(f"PaperLab: {sid} risk halt"), "the risk halt's notification", DEADLINE_S)
    assert "trading halted" in halt[0]["message"] and halt[0]["type"] == "warning"
    pid = wait_for(lambda: running_pid(home, sid), "the session to run", DEADLINE_S)
    os.kill(pid, signal.SIGKILL)
    relaunch = wait_for(lambda: receiver.titled(f"PaperLab: {sid} relaunched (attempt 1)"), "the relaunch's notification",
                        DEADLINE_S)
    assert f"process {pid}" in relaunch[0]["message"]
    wait_for(lambda: running_pid(home, sid, not_pid=pid), "the relaunched session to run", DEADLINE_S)
    led = Ledger(home)
    try:
        api.control(sid, "stop", ledger=led, timeout=60)
    finally:
        led.close()
    wait_for(lambda: supervisor_said(home, f"{sid} ended (stopped): not relaunched"), "the end", DEADLINE_S)
    assert all(m["path"] == "/alerts" for m in receiver.got)
    assert_no_secret(home, done.stdout, done.stderr)


def test_an_end_in_error_is_notified(home: Path, receiver: Receiver,  # noqa: F811  (imported fixture)
                                     capsys: pytest.CaptureFixture[str]) -> None:
    # Kraken is a closed local port in the tests (conftest): the session's own process fails to start
    code = main(["paper", "--feed", "kraken", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--detach",
                 "--notify", receiver.url("json", "errors")])
    done = capsys.readouterr()
    assert code == 0, done.err
    sid = done.out.split()[1]
    failed = wait_for(lambda: receiver.titled(f"PaperLab: {sid} ended in error"), "the error's notification",
                      DEADLINE_S)
    r = row(home, sid)
    assert r["status"] == "error" and r["last_error"]
    assert failed[0]["type"] == "failure" and f"error: {r['last_error']}" in failed[0]["message"]
    assert_no_secret(home, done.out, done.err)
