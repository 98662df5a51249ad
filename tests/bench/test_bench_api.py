"""The HTTP API on a real uvicorn (127.0.0.1, a thread of this process, as ``paperlab api`` runs):
``POST /sessions/kill-all`` over 10 running sessions, and request latency.

Run with ``uv run pytest -q -s -m bench -p no:cacheprovider -o addopts="" tests/bench/test_bench_api.py``.
Each repetition starts 10 replay sessions through ``POST /sessions`` (speed 60, ema_cross), sends
``POST /sessions/kill-all`` and measures from the send: the time until every session's RiskEngine
is HALTED (a poller reads ``runner.trading_state()``; a stopped session counts as halted) and the
time until all are stopped (the answer comes once they are). Then, with one session running,
p50/p95 of ``GET /sessions/{id}`` and of ``GET /sessions/{id}/frames/fills`` (JSON). Prints the
figures against the goals (250 ms halted); never asserts on time.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kernelext import api
from kernelext.surfaces.http.config import ApiConfig
from tests.bench.test_bench_kill_all import _halted_at
from tests.httpapi.conftest import ServerThread, start_body

SESSIONS = 10
REPS = 3
HALT_GOAL_MS = 250.0
LATENCY_N = 200


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(client: httpx.Client, path: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = client.get(path)
        out.append(1e3 * (time.perf_counter() - t0))
        assert r.status_code == 200, r.text
    return out


@pytest.mark.bench
@pytest.mark.timeout(900)
def test_bench_api_kill_all_and_latency(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    server = ServerThread(ApiConfig(token_sessions=100, ledger_sessions=100, starts_per_minute=1000,
                                    requests_per_second=100_000)).start()
    token = api.create_token("bench", "admin")["token"]
    client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    halt_ms: list[float] = []
    stop_ms: list[float] = []
    try:
        for rep in range(REPS):
            ids = [client.post("/sessions", json=start_body(speed=60, seed=500 + 10 * rep + i, duration="10m"))
                   .json()["session_id"] for i in range(SESSIONS)]
            runners = [api.live_runner(sid) for sid in ids]
            assert all(r is not None and r.is_alive for r in runners)
            out: dict[str, list[float | None]] = {}
            done = threading.Event()
            t0 = time.perf_counter()
            poller = threading.Thread(target=lambda: out.setdefault("halted", _halted_at(runners, t0, done)))
            poller.start()
            answer = client.post("/sessions/kill-all")
            stopped = 1e3 * (time.perf_counter() - t0)
            poller.join(10)
            done.set()
            assert answer.status_code == 200 and sorted(answer.json()["killed"]) == sorted(ids)
            assert all(not r.is_alive for r in runners)
            halted = out["halted"]
            assert None not in halted
            halt_ms.append(max(h for h in halted if h is not None))
            stop_ms.append(stopped)
        sid = client.post("/sessions", json=start_body(speed=60, seed=999, duration="10m")).json()["session_id"]
        time.sleep(3)  # some fills to read
        detail = _timed(client, f"/sessions/{sid}", LATENCY_N)
        fills = _timed(client, f"/sessions/{sid}/frames/fills", LATENCY_N)
        n_fills = len(client.get(f"/sessions/{sid}/frames/fills").json())
        client.post("/sessions/kill-all")
    finally:
        api.stop_all(timeout=20)
        client.close()
        server.stop()
    halt, stop = statistics.median(halt_ms), statistics.median(stop_ms)
    bench_print(
        f"api_kill_all_{SESSIONS}_sessions all_halted_ms p50={halt:.0f} max={max(halt_ms):.0f}"
        f" ratio={halt / HALT_GOAL_MS:.2f}x of {HALT_GOAL_MS:.0f} ms | all_stopped_ms (HTTP answer) p50={stop:.0f}"
        f" max={max(stop_ms):.0f} | reps={REPS} runs_halted=[{' '.join(f'{v:.0f}' for v in halt_ms)}]"
        f" runs_stopped=[{' '.join(f'{v:.0f}' for v in stop_ms)}]"
    )
    bench_print(
        f"api_latency GET /sessions/{{id}} p50={_pct(detail, 0.5):.1f}ms p95={_pct(detail, 0.95):.1f}ms"
        f" | GET /sessions/{{id}}/frames/fills ({n_fills} fills, JSON) p50={_pct(fills, 0.5):.1f}ms"
        f" p95={_pct(fills, 0.95):.1f}ms | n={LATENCY_N} each, one session running"
    )
