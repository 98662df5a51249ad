"""A long replay's speed and memory as the session ages: ema_cross on the spot cash sandbox for
400,000 one-minute bars at full speed (the account goes broke early; from then on every buy
signal is a denied order). One run is sampled as it goes: bars/s over the first 25,000 bars
and over the whole replay, bars/s per 50,000-bar window (a dip shows), and the process's RSS
after warm-up (25,000 bars) and at the last bar. The node thread's CPU time per bar is shown
beside bars/s: on a shared machine other processes' load moves bars/s, not CPU per bar.
Figures are printed, never asserted; the run is checked for correctness (equity never below
zero, every denial in the ledger and counted).

``PAPERLAB_BENCH_LONG_BARS`` shortens it (the warm-up point and windows scale down with it).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import pytest

import kernelext
from kernelext import frames

BARS = int(os.environ.get("PAPERLAB_BENCH_LONG_BARS", "400000"))
WARM_BARS = min(25_000, BARS // 4)
WINDOW_BARS = min(50_000, max(BARS // 8, 1))
SAMPLE_S = 0.05


def thread_cpu_s(native_id: int) -> float:
    """CPU time (user + system) of one thread of this process, in seconds (/proc, tick resolution)."""
    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb() -> float:
    """This process's resident set size (``VmRSS`` in /proc/self/status), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@dataclass
class Samples:
    """(seconds since start, bars, RSS MB, node thread CPU s) as the replay goes, taken by a sampler thread."""

    points: list[tuple[float, int, float, float]] = field(default_factory=list)

    def at(self, bars: int) -> tuple[float, int, float, float]:
        """The first sample with at least ``bars`` bars (the last sample if none)."""
        return next((p for p in self.points if p[1] >= bars), self.points[-1])

    def _span(self, lo: int, hi: int) -> tuple[int, float, float]:
        t0, b0, _, c0 = self.at(lo) if lo else (0.0, 0, 0.0, 0.0)
        t1, b1, _, c1 = self.at(hi)
        return b1 - b0, t1 - t0, c1 - c0

    def rate(self, lo: int, hi: int) -> float:
        """Bars per second between the samples at ``lo`` and ``hi`` bars."""
        bars, wall, _ = self._span(lo, hi)
        return bars / wall if wall > 0 else float("nan")

    def cpu_us(self, lo: int, hi: int) -> float:
        """The node thread's CPU microseconds per bar between the samples at ``lo`` and ``hi`` bars."""
        bars, _, cpu = self._span(lo, hi)
        return 1e6 * cpu / bars if bars else float("nan")


def sample(runner, t0: float, samples: Samples, stop: threading.Event) -> None:
    """Record (time, bars, RSS, node CPU) every ``SAMPLE_S`` until the replay is done."""
    node_thread = runner._thread.native_id  # the node's thread: its CPU is the replay's
    cpu0, last = thread_cpu_s(node_thread), -1
    while True:
        done = stop.wait(SAMPLE_S)
        bars = runner.bars
        if bars != last:  # a last look once the replay is done: the final bars land between two samples
            try:
                cpu = thread_cpu_s(node_thread) - cpu0
            except FileNotFoundError:  # the node's thread has ended: its CPU as last seen
                cpu = samples.points[-1][3] if samples.points else 0.0
            samples.points.append((time.perf_counter() - t0, bars, rss_mb(), cpu))
            last = bars
        if done:
            return


@pytest.mark.bench
@pytest.mark.timeout(1800)
def test_bench_long_replay(paperlab_home, bench_print) -> None:
    samples, stop = Samples(), threading.Event()
    runner = kernelext.start("ema_cross", "BTC/USD", params={"fast": 3, "slow": 8}, speed="max", max_bars=BARS,
                             starting_cash="20000 USD")
    t0 = time.perf_counter()  # the node runs: bars are about to flow
    sampler = threading.Thread(target=sample, args=(runner, t0, samples, stop), daemon=True)
    sampler.start()
    try:
        assert runner.wait(1500) and runner.state == "stopped", runner.last_error
    finally:
        stop.set()
        sampler.join()
    assert samples.points and samples.points[-1][1] == BARS, samples.points[-1:]
    sid = runner.session_id
    eq = frames.equity(sid)
    denied = frames.orders(sid).filter(status="DENIED")
    assert eq["equity"].min() >= 0 and eq["balance"].min() >= 0
    assert denied.height == runner.status().denied

    warm, whole = samples.rate(0, WARM_BARS), samples.rate(0, BARS)
    cpu_warm, cpu_whole = samples.cpu_us(0, WARM_BARS), samples.cpu_us(0, BARS)
    rss_warm, rss_end = samples.at(WARM_BARS)[2], samples.at(BARS)[2]
    peak = max(p[2] for p in samples.points if p[1] >= WARM_BARS)
    windows = [(lo, min(lo + WINDOW_BARS, BARS)) for lo in range(0, BARS, WINDOW_BARS)]
    per_window = " ".join(f"{hi // 1000}k:{samples.rate(lo, hi):,.0f}/{samples.cpu_us(lo, hi):.0f}us"
                          for lo, hi in windows)
    warm_k, bars_k = WARM_BARS // 1000, BARS // 1000
    bench_print(
        f"long_replay bars={BARS} bars_per_s_{warm_k}k={warm:,.0f} bars_per_s_{bars_k}k={whole:,.0f}"
        f" ratio={whole / warm:.2f} (goal >= 0.9) rss_warm_mb={rss_warm:,.0f} rss_end_mb={rss_end:,.0f}"
        f" growth_mb={rss_end - rss_warm:,.0f} (goal <= 50) rss_peak_mb={peak:,.0f}"
        f" node_cpu_us_per_bar_{warm_k}k={cpu_warm:.0f} node_cpu_us_per_bar_{bars_k}k={cpu_whole:.0f}"
        f" cpu_ratio={cpu_warm / cpu_whole:.2f} denied={denied.height}"
        f" windowed=[{per_window}] (bars/s / node CPU per bar)"
    )
