"""``api.kill_all()`` over 10 sessions running in this process's threads.

Run with ``uv run pytest -q -s -m bench -o addopts="" tests/bench/test_bench_kill_all.py``.
Each repetition starts 10 replay sessions (speed 60, ema_cross), calls ``api.kill_all()`` and
measures, from the call: the time until every session's RiskEngine is HALTED (a poller reads
``runner.trading_state()``; a session already stopped counts as halted) and the time until
all are stopped (``kill_all`` returns once they are). Prints p50 over the repetitions against
the goals (250 ms halted, 1 s stopped) as ratios; never asserts on time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kernelext import api
from kernelext.session.runner import SessionRunner

SESSIONS = 10
REPS = 3
HALT_GOAL_MS = 250.0
STOP_GOAL_MS = 1000.0


def _halted_at(runners: list[SessionRunner], t0: float, done: threading.Event) -> list[float | None]:
    """Poll until every runner is HALTED (or stopped); per runner the ms from ``t0`` it was first seen so."""
    seen: list[float | None] = [None] * len(runners)
    while None in seen and not done.is_set():
        for i, r in enumerate(runners):
            if seen[i] is None and r.trading_state() in ("HALTED", "-"):
                seen[i] = 1e3 * (time.perf_counter() - t0)
        time.sleep(0.001)
    return seen


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_bench_kill_all(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    halt_ms: list[float] = []
    stop_ms: list[float] = []
    for rep in range(REPS):
        runners = [api.start("ema_cross", "BTC/USD", feed="replay", speed=60, seed=300 + 10 * rep + i)
                   for i in range(SESSIONS)]
        try:
            assert all(r.is_alive for r in runners)
            out: dict[str, list[float | None]] = {}
            done = threading.Event()
            t0 = time.perf_counter()
            poller = threading.Thread(target=lambda: out.setdefault("halted", _halted_at(runners, t0, done)))
            poller.start()
            killed = api.kill_all()
            stopped = 1e3 * (time.perf_counter() - t0)
            poller.join(10)
            done.set()
            assert sorted(killed) == sorted(r.session_id for r in runners)
            assert all(r.state == "stopped" and not r.is_alive for r in runners)
            halted = out["halted"]
            assert None not in halted
            halt_ms.append(max(h for h in halted if h is not None))
            stop_ms.append(stopped)
        finally:
            for r in runners:
                if r.is_alive:
                    r.stop(timeout=20)
    halt, stop = statistics.median(halt_ms), statistics.median(stop_ms)
    bench_print(
        f"kill_all_{SESSIONS}_sessions all_halted_ms p50={halt:.0f} max={max(halt_ms):.0f}"
        f" ratio={halt / HALT_GOAL_MS:.2f}x of {HALT_GOAL_MS:.0f} ms"
        f" | all_stopped_ms p50={stop:.0f} max={max(stop_ms):.0f} ratio={stop / STOP_GOAL_MS:.2f}x of"
        f" {STOP_GOAL_MS:.0f} ms | reps={REPS} runs_halted=[{' '.join(f'{v:.0f}' for v in halt_ms)}]"
        f" runs_stopped=[{' '.join(f'{v:.0f}' for v in stop_ms)}]"
    )
