"""The shell, as cron or a person at a terminal uses it, against sessions running elsewhere.

A session runs in this test process (the kernel-thread case: a notebook's session seen from
a terminal); ``python -m kernelext status|pause|resume|positions|logs|kill --all|sessions``
runs in subprocesses against the same ``PAPERLAB_HOME``. We assert what the user sees: the
output, the exit code, the runner's state and the ledger's rows. No timed assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kernelext
from kernelext import api, frames
from kernelext.session.runner import SessionRunner
from tests.helpers import stop_process, wait_for

FAST_EMA = {"fast": 2, "slow": 5}  # trades within a few bars


def paperlab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m kernelext ARGS`` in a subprocess (same PAPERLAB_HOME as this test)."""
    return subprocess.run([sys.executable, "-m", "kernelext", *args], env=dict(os.environ), capture_output=True,
                          text=True, timeout=timeout)


def ok(*args: str) -> str:
    """Run a command that must succeed; its stdout."""
    done = paperlab(*args)
    assert done.returncode == 0, (args, done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def running_ids() -> list[str]:
    return [row["session_id"] for row in json.loads(ok("sessions", "--running", "--json"))]


@pytest.fixture
def runners(paperlab_home: Path) -> Iterator[list[SessionRunner]]:
    """Sessions started in this process by a test; stopped at its end if still alive."""
    started: list[SessionRunner] = []
    yield started
    for r in started:
        if r.is_alive:
            r.stop(timeout=20)


def start_here(runners: list[SessionRunner], **options: Any) -> SessionRunner:
    runner = kernelext.start("ema_cross", "BTC/USD", feed="replay", speed=60, params=FAST_EMA, **options)
    runners.append(runner)
    return runner


def test_status_controls_exports_logs_and_kill_all_of_a_session_in_this_process(runners, tmp_path: Path) -> None:
    runner = start_here(runners)
    sid = runner.session_id
    wait_for(lambda: runner.fills > 0, "a fill", 60)
    assert runner.writer.flush()

    assert sid in running_ids()
    report = json.loads(ok("status", sid, "--json"))
    assert report["session_id"] == sid and report["state"] == "running" and report["alive"]
    assert report["bars"] > 0 and report["fills"] > 0 and report["pid"] == os.getpid()
    assert report["venue"] and report["feed"] == "replay" and report["relaunches"] == 0
    assert report["equity"]["equity"] is not None
    text = ok("status", sid[:12])
    assert f"session {sid}" in text and "running" in text and "bars" in text

    assert ok("pause", sid).strip() == f"pause: ok ({sid})"
    assert runner.trading_state() == "HALTED"
    assert json.loads(ok("status", sid, "--json"))["state"] == "paused"
    assert ok("resume", sid).strip() == f"resume: ok ({sid})"
    assert runner.trading_state() == "ACTIVE"

    csv = ok("positions", sid, "--format", "csv").splitlines()
    assert csv[0].startswith("session_id,sleeve,position_id") and len(csv) >= 2 and sid in csv[1]
    out = tmp_path / "orders.json"
    assert ok("orders", sid, "--open", "--out", str(out)).strip().endswith(f"orders -> {out}")
    assert all(o["status"] not in ("FILLED", "CANCELED", "REJECTED", "DENIED", "EXPIRED")
               for o in json.loads(out.read_text()))
    assert "equity" in ok("equity", sid, "--format", "csv").splitlines()[0]

    lines = ok("logs", sid, "--lines", "5").splitlines()
    assert 0 < len(lines) <= 5 and all(runner.log_trader in ln for ln in lines), lines

    assert ok("kill", "--all").strip() == f"kill --all: ok (1 killed: {sid})"
    assert runner.state == "stopped" and not runner.is_alive
    assert sid not in running_ids()
    row = frames.sessions().filter(session_id=sid).row(0, named=True)
    assert row["status"] == "stopped"
    stopped = frames.events(sid, "session.stopped").to_dicts()
    assert [json.loads(e["extras_json"])["reason"] for e in stopped] == ["killed"]
    assert "stopped" in ok("status", sid) and "(not running)" in ok("status", sid)


def test_kill_all_kills_sessions_here_and_in_another_process(runners) -> None:
    here = start_here(runners)
    other = subprocess.Popen([sys.executable, "-m", "kernelext", "paper", "--feed", "replay", "--speed", "60",
                              "--strategy", "ema_cross", "--instrument", "BTC/USD", "--label", "elsewhere"],
                             env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def other_id() -> str | None:
            rows = [r for r in api.session_processes(active=True) if r["pid"] == other.pid and r["status"] == "running"]
            return rows[0]["id"] if rows else None

        there = wait_for(other_id, "the other process's session running", 90)
        assert set(running_ids()) == {here.session_id, there}

        done = paperlab("kill", "--all")
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("kill --all: ok (2 killed: ")
        assert here.state == "stopped"
        assert other.wait(60) == 0, other.stderr.read() if other.stderr else ""
        assert running_ids() == []
        statuses = {r["session_id"]: r["status"] for r in frames.sessions().to_dicts()}
        assert statuses[here.session_id] == statuses[there] == "stopped"
        for sid in (here.session_id, there):
            reasons = [json.loads(e["extras_json"])["reason"] for e in frames.events(sid, "session.stopped").to_dicts()]
            assert reasons == ["killed"], (sid, reasons)
        assert ok("kill", "--all").strip() == "kill --all: ok (0 killed)"
    finally:
        if other.poll() is None:
            stop_process(other)


def test_logs_follow_prints_until_the_session_ends(runners) -> None:
    runner = start_here(runners)
    follow = subprocess.Popen([sys.executable, "-m", "kernelext", "logs", runner.session_id, "--follow"],
                              env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: runner.bars >= 3, "a few bars", 60)
        assert ok("stop", runner.session_id).strip() == f"stop: ok ({runner.session_id})"
        out, err = follow.communicate(timeout=60)
    finally:
        if follow.poll() is None:
            stop_process(follow)
    assert follow.returncode == 0, err
    lines = out.splitlines()
    assert lines and all(runner.log_trader in ln for ln in lines), err
    assert any("STOPPED" in ln for ln in lines), lines[-5:]  # read to the session's end


def test_a_later_session_in_the_same_process_has_its_own_log_lines(runners) -> None:
    """Nautilus stamps every line of a process with its first node's trader id: the log of a later
    session is that id's lines within the session's own time."""
    first = start_here(runners)
    first.stop()
    second = start_here(runners)
    wait_for(lambda: second.bars >= 2, "a few bars", 60)
    second.stop()
    assert second.log_trader == first.log_trader
    lines = ok("logs", second.session_id, "--lines", "1000").splitlines()
    assert lines and all(second.log_trader in ln for ln in lines)
    assert sum("TradingNode: RUNNING" in ln for ln in lines) == 1, "only the second session's start"
