"""Capacity of one machine: N detached sessions (each its own process under the supervisor, as a
cluster node runs them), RSS and CPU per session, and the largest N this machine holds.

Each step starts N replay sessions of ema_cross at speed 60 (a 1-minute bar every wall second: sixty
times a live session's bar rate, so a busy session), waits until all run, then samples every
session process for ``WINDOW_S``: RSS (``/proc/PID/status`` VmRSS) and CPU (utime + stime from
``/proc/PID/stat`` over the window). Prints per step: RSS per session (p50, max), CPU per session (in
cores), the supervisor's RSS; and the largest N as the smaller of 80 % of the cores over CPU per
session and 80 % of memory over RSS per session. The Ray resource requests
(``PAPERLAB_SESSION_CPUS``, ``PAPERLAB_SESSION_MEMORY_MB``) are set from these figures."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelext import api
from kernelext.ledger import Ledger
from tests.helpers import wait_for

STEPS = [int(n) for n in os.environ.get("PAPERLAB_BENCH_CAPACITY", "2,6").split(",")]
WINDOW_S = 15.0
TICK_S = os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S  # utime, stime


def _mem_total_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.bench
@pytest.mark.timeout(1200)
def test_bench_capacity(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    ledger = Ledger()
    cores, mem_mb = os.cpu_count() or 1, _mem_total_mb()
    for n in STEPS:
        ids = [api.start("ema_cross", "BTC/USD", feed="replay", speed=60, detach=True) for _ in range(n)]
        try:
            wait_for(lambda: all(ledger.session(s)["status"] == "running" and ledger.session(s)["pid"] for s in ids),
                     f"{n} detached sessions running", 300)
            time.sleep(5.0)  # past start-up (imports, node build, warm-up bars)
            pids = [ledger.session(s)["pid"] for s in ids]
            cpu0, t0 = [_cpu_s(p) for p in pids], time.monotonic()
            time.sleep(WINDOW_S)
            elapsed = time.monotonic() - t0
            cpu = [(_cpu_s(p) - c) / elapsed for p, c in zip(pids, cpu0, strict=True)]
            rss = [_rss_mb(p) for p in pids]
            sup = api.supervisor_pid()
            sup_rss = _rss_mb(sup) if sup else 0.0
            cpu_each, rss_each = statistics.median(cpu), statistics.median(rss)
            n_cpu = int(0.8 * cores / cpu_each) if cpu_each > 0 else 10**6
            n_mem = int(0.8 * mem_mb / rss_each)
            bench_print(
                f"capacity n={n} rss_mb_per_session p50={rss_each:.0f} max={max(rss):.0f} cpu_cores_per_session "
                f"p50={cpu_each:.3f} max={max(cpu):.3f} supervisor_rss_mb={sup_rss:.0f} | this machine ({cores} cores, "
                f"{mem_mb / 1024:.0f} GB): largest N ~{min(n_cpu, n_mem)} (cpu bound {n_cpu}, memory bound {n_mem}) at "
                "speed 60; a live session's 1-minute bars cost ~1/60 of that CPU"
            )
        finally:
            api.kill_all(timeout=120)
    api.stop_supervisor()
