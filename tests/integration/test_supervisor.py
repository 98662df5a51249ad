"""Detached sessions on real processes: ``paperlab paper --detach``, the supervisor, relaunch.

Every test has its own ``PAPERLAB_HOME``; the fixture stops each session process and the
supervisor it started, so nothing is left running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import api
from kernelext.ledger import Ledger, pid_alive
from tests.helpers import wait_for

DETACH = ["paper", "--feed", "replay", "--strategy", "ema_cross", "--instrument", "BTC/USD", "--speed", "60",
          "--detach", "--json"]
DEADLINE_S = 60.0


@pytest.fixture
def home(paperlab_home: Path) -> Iterator[Path]:
    """A PAPERLAB_HOME whose supervisor and session processes are all gone after the test."""
    yield paperlab_home
    led = Ledger(paperlab_home)
    pids = [row["pid"] for row in api.session_processes(ledger=led) if row.get("pid") not in (None, os.getpid())]
    supervisor = api.supervisor_pid()
    if supervisor is not None:
        api.stop_supervisor()
        _kill(supervisor)  # it should be gone already
    for pid in pids:
        _kill(pid)
    led.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def detach(home: Path, args: list[str] = DETACH) -> tuple[str, int]:
    """``python -m kernelext paper ... --detach --json`` -> (session id, the CLI's pid)."""
    proc = subprocess.Popen([sys.executable, "-m", "kernelext", *args], env={**os.environ, "PAPERLAB_HOME": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])["session_id"], proc.pid


def row(home: Path, session_id: str) -> dict[str, Any]:
    led = Ledger(home)
    try:
        return led.session(session_id) or {}
    finally:
        led.close()


def live_bars(home: Path, session_id: str) -> int:
    led = Ledger(home)
    try:
        return int(led.query("SELECT COUNT(*) FROM bars WHERE session_id = ? AND historical = 0", (session_id,))[0][0])
    finally:
        led.close()


def stage_rows(home: Path, session_id: str, stage: str) -> list[dict[str, Any]]:
    led = Ledger(home)
    try:
        rows = led.query("SELECT extras_json FROM events WHERE session_id = ? AND stage = ? ORDER BY id", (session_id, stage))
        return [json.loads(r[0] or "{}") for r in rows]
    finally:
        led.close()


def running_pid(home: Path, session_id: str, not_pid: int | None = None) -> int | None:
    """The session's pid once it runs in a live process (other than ``not_pid``)."""
    r = row(home, session_id)
    pid = r.get("pid")
    ok = r.get("status") == "running" and pid and pid != not_pid and pid_alive(pid)
    return pid if ok else None


def supervisor_said(home: Path, text: str) -> bool:
    log = home / "logs" / "supervisor.log"
    return log.exists() and text in log.read_text()


def ended_not_relaunched(home: Path, session_id: str) -> None:
    wait_for(lambda: supervisor_said(home, f"{session_id} ended (stopped): not relaunched"),
             "the supervisor to see the session end", DEADLINE_S)
    assert row(home, session_id)["status"] == "stopped"


def test_detach_runs_in_its_own_process_and_takes_controls(home: Path) -> None:
    session_id, cli_pid = detach(home)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)
    assert pid not in (cli_pid, os.getpid())
    assert api.supervisor_pid() not in (None, pid, cli_pid)
    bars = wait_for(lambda: live_bars(home, session_id), "bars to be recorded", DEADLINE_S)
    wait_for(lambda: live_bars(home, session_id) > bars, "bars to keep growing", DEADLINE_S)
    led = Ledger(home)
    try:
        api.control(session_id, "pause", ledger=led, timeout=30)
        assert row(home, session_id)["status"] == "paused" or wait_for(
            lambda: row(home, session_id)["status"] == "paused", "status paused", 10)
        api.control(session_id, "resume", ledger=led, timeout=30)
        wait_for(lambda: row(home, session_id)["status"] == "running", "status running again", 10)
        api.control(session_id, "kill", ledger=led, timeout=60)
    finally:
        led.close()
    ended_not_relaunched(home, session_id)
    assert not stage_rows(home, session_id, "session.relaunched")
    assert not pid_alive(pid)


def test_a_killed_process_is_relaunched_with_the_same_session_id(home: Path) -> None:
    session_id, _ = detach(home)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)
    bars = wait_for(lambda: live_bars(home, session_id), "bars to be recorded", DEADLINE_S)
    os.kill(pid, signal.SIGKILL)
    new_pid = wait_for(lambda: running_pid(home, session_id, not_pid=pid), "the relaunched session to run", 20)
    assert new_pid != pid
    relaunched = stage_rows(home, session_id, "session.relaunched")
    assert [r["attempt"] for r in relaunched] == [1] and relaunched[0]["previous_pid"] == pid
    running = stage_rows(home, session_id, "session.running")
    assert "relaunched (attempt 1)" in running[-1]["notes"]
    wait_for(lambda: live_bars(home, session_id) > bars, "the relaunched feed to record bars", DEADLINE_S)
    led = Ledger(home)
    try:  # the feed continued after the last recorded bar: one bar per interval, none twice
        ts = [r[0] for r in led.query("SELECT ts FROM bars WHERE session_id = ? AND historical = 0 ORDER BY ts",
                                      (session_id,))]
        assert len(set(ts)) == len(ts) and len({b - a for a, b in zip(ts, ts[1:])}) == 1
        api.control(session_id, "stop", ledger=led, timeout=60)
    finally:
        led.close()
    ended_not_relaunched(home, session_id)
    assert len(stage_rows(home, session_id, "session.relaunched")) == 1


def test_a_restarted_supervisor_adopts_running_sessions(home: Path) -> None:
    session_id, _ = detach(home)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)
    old = api.stop_supervisor()
    assert old is not None and pid_alive(pid), "the session must outlive its supervisor"
    env = {**os.environ, "PAPERLAB_HOME": str(home)}
    supervisor = subprocess.Popen([sys.executable, "-m", "kernelext", "supervise"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: supervisor_said(home, f"adopted {session_id} (pid {pid})"), "adoption", DEADLINE_S)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: running_pid(home, session_id, not_pid=pid), "the adopted session's relaunch", 20)
        led = Ledger(home)
        try:
            api.control(session_id, "stop", ledger=led, timeout=60)
        finally:
            led.close()
        ended_not_relaunched(home, session_id)
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(20)


# -- notebooks: a detached session outlives the kernel that started it -------------------------


def test_a_second_kernel_attaches_and_kills_a_session_the_first_kernel_detached(home: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    from tests.integration.test_kernel import run, text

    env = {**os.environ, "PAPERLAB_HOME": str(home)}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        run(kc, "%load_ext kernelext")
        reply, outputs = run(kc, "%paper start --strategy ema_cross --instrument BTC/USD --feed replay --speed 60 --detach")
        assert reply["status"] == "ok", reply
        said = text(outputs)
        assert "detached" in said, said + text(outputs, "stderr")
        session_id = said.split()[1]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    pid = wait_for(lambda: running_pid(home, session_id), "the detached session to run", DEADLINE_S)
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        run(kc, "%load_ext kernelext")
        reply, outputs = run(kc, f"%paper attach {session_id}")
        assert reply["status"] == "ok" and f"session {session_id} running" in text(outputs), text(outputs, "stderr")
        reply, outputs = run(kc, "%paper kill", timeout=90)
        assert reply["status"] == "ok" and f"kill: ok ({session_id})" in text(outputs), text(outputs, "stderr")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    ended_not_relaunched(home, session_id)
    assert not pid_alive(pid)
