"""Detached sessions on a real local Ray cluster: a head and one more raylet on this machine's
loopback (``python -m kernelext.supervisor.cluster start``, Ray's own ``ray start`` keeping
127.0.0.1), the supervisor placing 6 replay sessions over both nodes; ``kill -9`` of one session's
process is seen and the session relaunched with its state restored; ``kill --all`` reaches every
node; the cluster is stopped. The ledger is the tests' PostgreSQL (``tests/pg.py``). Nothing listens or connects beyond 127.0.0.1.

Marked ``cluster``: CI runs it once, after the default suite (like the benchmarks)."""

from __future__ import annotations

import json
import os
import statistics
import time
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernelext import api
from kernelext.ledger import Ledger
from kernelext.supervisor.cluster import CLUSTER_ENV
from tests.helpers import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
SESSIONS = 6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kernelext.supervisor.cluster", *args], env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture
def cluster(paperlab_home: Path) -> Iterator[str]:
    """A head and a second raylet on 127.0.0.1; yields the head's address."""
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="plray-", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"127.0.0.1:{port}"
    try:
        head = _ray("start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}", env=env)
        assert head.returncode == 0, head.stdout + head.stderr
        worker = _ray("start", f"--address={address}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                      "--disable-usage-stats", env=env)
        assert worker.returncode == 0, worker.stdout + worker.stderr
        yield address
    finally:
        subprocess.run([sys.executable, "-m", "kernelext.supervisor.cluster", "stop", "--force"], env=env,
                       capture_output=True, timeout=120)


def _listening_beyond_loopback() -> list[str]:
    """Listening sockets of Ray's processes not on 127.0.0.1."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in out if ("raylet" in line or "gcs_server" in line) and "127.0.0.1" not in line]


def _events(ledger: Ledger, sid: str, stage: str) -> list[dict]:
    rows = ledger.query("SELECT extras_json FROM events WHERE session_id = ? AND stage = ? ORDER BY id", (sid, stage))
    return [json.loads(r[0] or "{}") for r in rows]


def test_six_sessions_over_two_nodes_relaunch_and_kill_all(cluster: str, pg_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLUSTER_ENV, cluster)
    monkeypatch.setenv("PAPERLAB_LEDGER_URL", pg_url)  # the shared ledger every node's sessions write
    ledger = Ledger()
    assert ledger.dialect == "postgresql"
    ids = [api.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, feed="replay", speed=120, detach=True)
           for _ in range(SESSIONS)]
    try:
        wait_for(lambda: all(ledger.session(s)["status"] == "running" and ledger.session(s)["pid"] for s in ids),
                 "six detached sessions running on the cluster", 240)
        nodes = {_events(ledger, s, "session.placed")[-1]["node"] for s in ids}
        assert len(nodes) == 2, f"Ray placed the sessions on {len(nodes)} node(s)"
        assert _listening_beyond_loopback() == []

        victim = ids[0]
        wait_for(lambda: api.fill_count(victim, ledger=ledger) >= 2, "the victim to trade", 120)
        pid = ledger.session(victim)["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _events(ledger, victim, "session.relaunched"), "the supervisor to relaunch it", 120)
        wait_for(lambda: ledger.session(victim)["status"] == "running" and ledger.session(victim)["pid"] not in (None, pid),
                 "the relaunched session running in a new process", 240)
        restored = _events(ledger, victim, "session.restored")
        assert restored, "the relaunch restores the session from the ledger"
        assert len(_events(ledger, victim, "session.placed")) == 2

        t0_ns, t0 = time.time_ns(), time.perf_counter()
        killed = api.kill_all(timeout=120)
        stopped_ms = 1e3 * (time.perf_counter() - t0)
        assert sorted(killed) == sorted(ids)
        received = [1e-6 * (ev_ts - t0_ns) for s in ids
                    for (ev_ts,) in ledger.query("SELECT MIN(ts) FROM events WHERE session_id = ? AND stage = 'control.kill'"
                                                 " AND ts >= ?", (s, t0_ns))]
        print(f"\nFIGURE cluster_kill_all sessions={SESSIONS} nodes=2 kill_received_ms p50={statistics.median(received):.0f}"
              f" max={max(received):.0f} (goal 250 + network) all_stopped_ms={stopped_ms:.0f} (goal 1000 + network)")
        assert {ledger.session(s)["status"] for s in ids} == {"stopped"}
    finally:
        api.stop_supervisor()
