"""Session benchmarks: start latency, kill latency, telemetry overhead, ledger throughput.

Run with ``uv run pytest -m bench -o addopts="" -q -s tests/bench``. Every benchmark
prints one ``BENCH name ...`` line (repeated in the terminal summary) with its target;
none asserts on speed, only on correctness (the session stopped, bars counted, rows
stored). All sessions run on the offline replay feed with sandbox execution.

Hooks used from outside ``kernelext`` (nothing there is changed):

- ``SessionRunner._on_client`` (the runner's capture of its clients) is extended
  in a subclass to install the client's public ``on_bar_sent`` callback, which runs on
  the node thread for every bar the feed emits, so the first/last bar times are exact.
- The bare node of the telemetry benchmark reuses ``build_node_config``,
  ``runner._capturing``, ``runner._engines_idle``, ``runner._cancel_pending`` and
  ``route_bars_to_sandbox``; only the strategy-adding loop and the run/stop sequence
  of ``SessionRunner._build_node`` / ``_main`` are repeated here, because the runner
  cannot build a node without the telemetry actor (see ``_run_bare_node``).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernelext.events import Event
from kernelext.session.hub import Hub
from kernelext.ledger import Ledger, LedgerWriter, paperlab_home
from kernelext.compat import new_node_loop  # (before any TradingNode import)
from kernelext.session.node import build_node_config
from kernelext import frames, venues
from kernelext.session.account_guard import CashGuard
from kernelext.session.flatten import ClosingOnlyGate
from kernelext.venues.sandbox.depth import DepthSandboxExecClientFactory
from kernelext.session.runner import SessionRunner, _cancel_pending, _capturing, _engines_idle
from kernelext.spec import SessionSpec, build_spec, make_sleeve, sleeve_tag
from kernelext.strategies import registry
from kernelext.venues.sandbox.config import SANDBOX_CLIENT
from kernelext.venues.sandbox.instruments import KRAKEN
from kernelext.venues.sandbox.replay import REPLAY_CLIENT, ReplayDataClient, ReplayDataClientFactory
from kernelext.venues.sandbox.routing import route_bars_to_sandbox
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import BarType
from nautilus_trader.model.identifiers import InstrumentId

ANCHOR_NS = 1_767_225_600_000_000_000  # 2026-01-01 00:00 UTC: same bars whatever the clock
KILL_SESSIONS = 20
FLATTEN_SESSIONS = 5
KILL_SESSIONS_MAX_SPEED = 5
START_RUNS = 5
OVERHEAD_BARS = int(os.environ.get("PAPERLAB_BENCH_BARS", "20000"))
OVERHEAD_REPS = int(os.environ.get("PAPERLAB_BENCH_REPS", "3"))
LEDGER_EVENTS = 100_000


# -- helpers ------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def _ema_spec(*, speed: str | float, seed: int, max_bars: int | None = None, **params: int) -> SessionSpec:
    return build_spec(
        sleeves=[make_sleeve("ema_cross", "BTC/USD", params=params or None)],
        speed=speed,
        seed=seed,
        anchor_ns=ANCHOR_NS,
        max_bars=max_bars,
    )


class _BarClock:
    """Wall and node-thread CPU time of the first and last bar the replay feed emits."""

    def __init__(self) -> None:
        self.first: float | None = None
        self.last: float | None = None
        self.cpu_first = 0.0
        self.cpu_last = 0.0
        self.count = 0

    def install(self, client: ReplayDataClient) -> None:
        client.on_bar_sent = self._on_bar  # called on the node thread after each bar

    def _on_bar(self, _bar: Any) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self.first is None:
            self.first, self.cpu_first = now, cpu
        self.last, self.cpu_last = now, cpu
        self.count += 1

    def rate(self) -> float:
        """Bars per wall second between the first and the last bar."""
        assert self.first is not None and self.last is not None and self.count > 1
        return (self.count - 1) / (self.last - self.first)

    def cpu_us_per_bar(self) -> float:
        """Node-thread CPU per bar (insensitive to other processes on the machine)."""
        return 1e6 * (self.cpu_last - self.cpu_first) / (self.count - 1)


class _TimedRunner(SessionRunner):
    """A SessionRunner whose replay feed reports bar times to a ``_BarClock``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bar_clock = _BarClock()

    def _on_client(self, client: Any) -> None:
        super()._on_client(client)
        if isinstance(client, ReplayDataClient):
            self.bar_clock.install(client)


def _wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.001) -> bool:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() >= deadline:
            return False
        time.sleep(poll)
    return True


def _run_bare_node(spec: SessionSpec, trader_id: str) -> dict[str, Any]:
    """Run ``spec`` on a TradingNode wired as ``SessionRunner`` wires it, minus telemetry,
    hub and ledger, in its own thread; return bar timings and counters.

    Copied from ``SessionRunner._build_node`` / ``_main`` / ``_thread_main``: the
    strategy loop and the run -> replay exhausted -> stop_async -> dispose sequence.
    A ``telemetry: bool`` switch on the runner (or a ``build_session_node(spec, loop,
    actors=...)`` function it calls) would make this a one-liner.
    """
    clock = _BarClock()
    out: dict[str, Any] = {"clock": clock}

    def thread_main() -> None:
        loop = new_node_loop()
        asyncio.set_event_loop(loop)
        node: TradingNode | None = None
        captured: dict[str, ReplayDataClient] = {}
        try:
            log_path = paperlab_home() / "logs" / f"nautilus-{os.getpid()}.log"  # as the runner's
            log_path.parent.mkdir(parents=True, exist_ok=True)
            plan = build_node_config(
                spec, trader_id=trader_id, log_directory=str(log_path.parent), log_file_name=log_path.stem
            )
            node = TradingNode(config=plan.config, loop=loop)
            node.add_data_client_factory(
                REPLAY_CLIENT, _capturing(ReplayDataClientFactory, lambda c: captured.setdefault("replay", c))
            )
            node.add_exec_client_factory(
                SANDBOX_CLIENT,
                _capturing(DepthSandboxExecClientFactory, lambda c: route_bars_to_sandbox(c._msgbus, c, KRAKEN)),
            )
            for i, s in enumerate(spec.sleeves):
                entry = registry.get(s.strategy_key)
                config = registry.build_config(
                    entry,
                    instrument_id=InstrumentId.from_str(s.instrument_id),
                    bar_type=BarType.from_str(s.bar_type),
                    params=s.params,
                    order_id_tag=sleeve_tag(i),
                    long_only=venues.get(spec.venue).long_only(spec),
                )
                node.trader.add_strategy(registry.build_strategy(entry, config))
            node.build()
            guard = CashGuard(node.kernel).install()  # the spot account's pre-trade check, as the runner's
            ClosingOnlyGate(node.kernel, guard.check).install()  # and the flatten's gate
            replay = captured["replay"]
            engines = (node.kernel.data_engine, node.kernel.risk_engine, node.kernel.exec_engine)
            replay.idle_check = lambda: _engines_idle(*engines)
            clock.install(replay)

            async def main() -> None:
                run_task = asyncio.ensure_future(node.run_async())
                while not node.trader.is_running:  # the runner's start poll
                    if run_task.done():
                        raise RuntimeError("bare node stopped while starting")
                    await asyncio.sleep(0.005)
                out["t_running"] = time.perf_counter()
                while not replay.exhausted.is_set():  # the runner's _watch poll
                    if run_task.done():
                        raise RuntimeError("bare node stopped unexpectedly")
                    await asyncio.sleep(0.05)
                await node.stop_async()
                run_task.cancel()
                try:
                    await run_task
                except (asyncio.CancelledError, Exception):
                    pass

            loop.run_until_complete(main())
            out["bars"] = replay.bars_sent
            out["fills"] = sum(len(o.trade_ids) for o in node.kernel.cache.orders())  # OrderFilled events
        except BaseException as e:  # noqa: BLE001  (reported by the caller)
            out["error"] = repr(e)
        finally:
            try:
                _cancel_pending(loop)
                if node is not None:
                    node.dispose()
            finally:
                if not loop.is_closed():
                    _cancel_pending(loop)
                    loop.close()
                out["t_done"] = time.perf_counter()

    thread = threading.Thread(target=thread_main, name="paperlab-bench-bare", daemon=True)
    thread.start()
    thread.join(240)
    assert not thread.is_alive(), "bare node did not finish"
    assert "error" not in out, out.get("error")
    return out


# -- 3. session start -> first bar (first: the first node of the process is built here) ----------


@pytest.mark.bench
@pytest.mark.timeout(120)
def test_bench_start_to_first_bar(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    ledger = Ledger()
    to_return, to_sent, to_seen = [], [], []
    try:
        for i in range(START_RUNS):
            runner = _TimedRunner(_ema_spec(speed="max", seed=30 + i, max_bars=2_000), ledger=ledger)
            t0 = time.perf_counter()
            runner.start()
            t_return = time.perf_counter()
            assert _wait_for(lambda: runner.bars > 0, 10), "no bar within 10 s"
            t_seen = time.perf_counter()
            runner.stop()
            assert runner.state == "stopped", runner.last_error
            assert runner.bar_clock.first is not None
            to_return.append(1e3 * (t_return - t0))
            to_sent.append(1e3 * (runner.bar_clock.first - t0))
            to_seen.append(1e3 * (t_seen - t0))
    finally:
        ledger.close()
    runs = " ".join(f"{v:.0f}" for v in to_seen)
    bench_print(
        f"start_to_first_bar_ms p50={statistics.median(to_seen):.0f} max={max(to_seen):.0f} n={START_RUNS}"
        f" (target < 2000) runs=[{runs}]"
        f" | start() returned p50={statistics.median(to_return):.0f}"
        f" first bar emitted by feed p50={statistics.median(to_sent):.0f}"
    )


# -- 1. kill latency (kill = flatten then stop) ---------------------------------------------------


def _run_until_fill(runner: SessionRunner, timeout: float = 1.0) -> None:
    runner.start()
    _wait_for(lambda: runner.fills > 0, timeout)


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_bench_kill_latency(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    ledger = Ledger()
    kill_ms: list[float] = []
    open_at_kill = 0
    incomplete = 0
    fills = 0
    try:
        for i in range(KILL_SESSIONS):
            runner = SessionRunner(_ema_spec(speed=600, seed=100 + i, fast=2, slow=5), ledger=ledger)
            view = runner.hub.subscribe(stages=frozenset({"control.flatten"}))
            _run_until_fill(runner)
            fills += runner.fills > 0
            open_at_kill += bool(runner.positions())
            t0 = time.perf_counter()
            runner.kill()
            kill_ms.append(1e3 * (time.perf_counter() - t0))
            assert runner.state == "stopped", f"session {i}: state {runner.state} ({runner.last_error})"
            assert not runner.is_alive
            incomplete += sum("incomplete" in e.message for e in view.drain())

        flatten_ms: list[float] = []
        stop_ms: list[float] = []
        flat_after = 0
        for i in range(FLATTEN_SESSIONS):
            runner = SessionRunner(_ema_spec(speed=600, seed=200 + i, fast=2, slow=5), ledger=ledger)
            _run_until_fill(runner)
            t0 = time.perf_counter()
            runner.flatten()
            t1 = time.perf_counter()
            flat_after += not runner.positions()
            runner.stop()
            t2 = time.perf_counter()
            assert runner.state == "stopped", runner.last_error
            flatten_ms.append(1e3 * (t1 - t0))
            stop_ms.append(1e3 * (t2 - t1))
        max_ms: list[float] = []
        max_open = max_incomplete = 0
        for i in range(KILL_SESSIONS_MAX_SPEED):  # margin shorts at full speed: a flip on almost every bar
            spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD")], speed="max", seed=300 + i,
                              anchor_ns=ANCHOR_NS, margin=3)
            runner = SessionRunner(spec, ledger=ledger)
            view = runner.hub.subscribe(stages=frozenset({"control.flatten"}))
            runner.start()
            _wait_for(lambda: runner.fills >= 50, 10.0)
            t0 = time.perf_counter()
            runner.kill()
            max_ms.append(1e3 * (time.perf_counter() - t0))
            assert runner.state == "stopped", runner.last_error
            max_open += bool(frames.positions(runner.session_id, ledger=ledger)["closed_ts"].null_count())
            max_incomplete += sum("incomplete" in e.message for e in view.drain())
    finally:
        ledger.close()

    bench_print(
        f"kill_latency_max_speed_ms p50={_pct(max_ms, 50):.0f} p95={_pct(max_ms, 95):.0f} max={max(max_ms):.0f}"
        f" n={KILL_SESSIONS_MAX_SPEED} (speed max, --margin 3, killed after 50 fills) left_open={max_open}"
        f" flatten_incomplete={max_incomplete} (goal: flat every time, p95 <= 100)"
    )
    bench_print(
        f"kill_latency_ms p50={_pct(kill_ms, 50):.0f} p95={_pct(kill_ms, 95):.0f} max={max(kill_ms):.0f}"
        f" n={KILL_SESSIONS} open_position_at_kill={open_at_kill}/{KILL_SESSIONS}"
        f" had_fill={fills}/{KILL_SESSIONS} flatten_incomplete={incomplete} (goal p95 <= 100; ratio p95/goal={_pct(kill_ms, 95) / 100:.2f})"
    )
    bench_print(
        f"flatten_latency_ms p50={_pct(flatten_ms, 50):.1f} max={max(flatten_ms):.1f} n={FLATTEN_SESSIONS}"
        f" flat_after={flat_after}/{FLATTEN_SESSIONS}"
        f" | stop after flatten p50={_pct(stop_ms, 50):.0f} max={max(stop_ms):.0f}"
    )


# -- 2. telemetry overhead ------------------------------------------------------------------------


def _run_session(spec: SessionSpec, ledger: Ledger, *, with_ledger: bool) -> dict[str, Any]:
    runner = _TimedRunner(spec, ledger=ledger)
    if not with_ledger:
        runner.hub = Hub()  # telemetry publishes to a hub without the ledger writer's sink
    runner.start()
    t_running = time.perf_counter()
    assert runner.wait(240), "session did not finish"
    t_done = time.perf_counter()
    status = runner.status()
    assert status.state == "stopped", status.last_error
    assert status.bars == spec.max_bars, f"telemetry counted {status.bars} bars of {spec.max_bars}"
    assert runner.bar_clock.count == spec.max_bars
    if with_ledger:
        (equity_rows,) = ledger.query("SELECT COUNT(*) FROM equity WHERE session_id = ?", (runner.session_id,))[0]
        assert equity_rows >= spec.max_bars  # an equity point per bar (plus one after each fill)
    return {
        "rate": runner.bar_clock.rate(),
        "cpu": runner.bar_clock.cpu_us_per_bar(),
        "e2e": status.bars / (t_done - t_running),
        "fills": status.fills,
    }


def _run_bare(spec: SessionSpec, n: int) -> dict[str, Any]:
    out = _run_bare_node(spec, trader_id=f"BARE-{n:06d}")
    assert out["bars"] == spec.max_bars
    clock: _BarClock = out["clock"]
    return {
        "rate": clock.rate(),
        "cpu": clock.cpu_us_per_bar(),
        "e2e": out["bars"] / (out["t_done"] - out["t_running"]),
        "fills": out["fills"],
    }


@pytest.mark.bench
@pytest.mark.timeout(280)
def test_bench_telemetry_overhead(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    spec = _ema_spec(speed="max", seed=7, max_bars=OVERHEAD_BARS, fast=10, slow=30)
    ledger = Ledger()
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "tel": [], "full": []}
    try:
        for rep in range(OVERHEAD_REPS):  # interleaved, so drifting machine load hits all three
            runs["bare"].append(_run_bare(spec, rep))
            runs["full"].append(_run_session(spec, ledger, with_ledger=True))
            runs["tel"].append(_run_session(spec, ledger, with_ledger=False))
    finally:
        ledger.close()
    fills = {k: {r["fills"] for r in v} for k, v in runs.items()}
    # Same seed, same bars, same strategy: every run, with or without telemetry, trades alike.
    assert len(fills["bare"] | fills["tel"] | fills["full"]) == 1 and next(iter(fills["full"])) > 0, fills

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[mode])

    def each(key: str) -> str:
        return "; ".join(f"{m} " + "/".join(f"{r[key]:.0f}" for r in runs[m]) for m in ("bare", "full"))

    bare, full = med("bare", "e2e"), med("full", "e2e")
    bench_print(
        f"telemetry_overhead bars={OVERHEAD_BARS} reps={OVERHEAD_REPS} (running->stopped, median)"
        f" bare={bare:.0f} bars/s full(telemetry+hub+ledger)={full:.0f} bars/s ratio={full / bare:.2f}"
        f" (goal >= 0.90) runs=[{each('e2e')}]"
    )
    f_bare, f_tel, f_full = (med(m, "rate") for m in ("bare", "tel", "full"))
    bench_print(
        f"telemetry_overhead_detail first->last bar bars/s bare={f_bare:.0f} full={f_full:.0f}"
        f" ratio={f_full / f_bare:.2f} telemetry+hub(no ledger sink)={f_tel:.0f} ratio={f_tel / f_bare:.2f}"
        f" | node-thread CPU us/bar bare={med('bare', 'cpu'):.0f} tel={med('tel', 'cpu'):.0f}"
        f" full={med('full', 'cpu'):.0f} ratio={med('bare', 'cpu') / med('full', 'cpu'):.2f} (node-thread CPU, steadier"
        f" on a busy machine; goal >= 0.90) | fills per run={next(iter(fills['full']))}"
    )


# -- 4. ledger writer throughput ------------------------------------------------------------------

_MIX = ("order.submitted", "order.filled", "position.changed", "equity.update", "equity.update") * 2


def _mixed_events(session_id: str, n: int) -> list[Event]:
    """``n`` events, per 10: 2 order.submitted, 2 order.filled, 2 position.changed, 4 equity.update."""
    events = []
    for k in range(n):
        stage = _MIX[k % len(_MIX)]
        ts = ANCHOR_NS + k * 1_000_000
        trade = k // 5  # submitted and filled of one order share its id
        if stage.startswith("order."):
            extras: dict[str, Any] = {
                "client_order_id": f"O-{trade}",
                "instrument": "BTC/USD.KRAKEN",
                "strategy_id": "EmaCross-001",
                "side": "BUY" if trade % 2 else "SELL",
                "order_type": "MARKET",
                "quantity": 0.25,
                "price": None,
                "status": "FILLED" if stage == "order.filled" else "SUBMITTED",
            }
            if stage == "order.filled":
                extras.update(
                    trade_id=f"T-{trade}",
                    venue_order_id=f"V-{trade}",
                    position_id="BTC/USD.KRAKEN-EmaCross-001",
                    last_qty=0.25,
                    last_px=90_000.0 + k % 997,
                    commission=5.6,
                    commission_currency="USD",
                    liquidity="TAKER",
                )
        elif stage == "position.changed":
            extras = {
                "position_id": "BTC/USD.KRAKEN-EmaCross-001",
                "instrument": "BTC/USD.KRAKEN",
                "side": "LONG",
                "quantity": 0.25,
                "avg_px_open": 90_000.0,
                "avg_px_close": None,
                "realized_pnl": float(k % 13),
                "unrealized_pnl": float(k % 17),
                "currency": "USD",
            }
        else:
            extras = {
                "equity": 100_000.0 + k % 1000,
                "balance": 100_000.0,
                "available": 90_000.0,
                "unrealized_pnl": float(k % 1000),
                "realized_pnl": 0.0,
                "exposure": 22_500.0,
                "currency": "USD",
            }
        events.append(Event(session_id, "ema_cross:BTC/USD", stage, f"{stage} {k}", ts, extras))
    return events


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_bench_ledger_throughput(paperlab_home: Path, bench_print: Callable[[str], None]) -> None:
    sid = "bench-ledger"
    ledger = Ledger()
    ledger.create_session(
        sid, label="bench", kind="paper", venue="sandbox", feed="replay", spec={}, sleeves=[], started_at=ANCHOR_NS
    )
    events = _mixed_events(sid, LEDGER_EVENTS)
    writer = LedgerWriter(ledger)
    try:
        t0 = time.perf_counter()
        for ev in events:
            writer.put(ev)
        t_put = time.perf_counter()
        assert writer.flush(timeout=150), "writer did not catch up"
        t1 = time.perf_counter()
    finally:
        writer.close()
    counts = {
        stage: sum(1 for e in events if e.stage == stage) for stage in ("order.filled", "equity.update")
    }
    rows = {t: ledger.query(f"SELECT COUNT(*) FROM {t} WHERE session_id = ?", (sid,))[0][0]
            for t in ("events", "fills", "equity", "orders")}
    ledger.close()
    assert writer.written == LEDGER_EVENTS and writer.errors == 0
    assert rows["events"] == LEDGER_EVENTS
    assert rows["fills"] == counts["order.filled"] and rows["equity"] == counts["equity.update"]
    bench_print(
        f"ledger_throughput events={LEDGER_EVENTS} {LEDGER_EVENTS / (t1 - t0):,.0f} events/s"
        f" (put+commit {t1 - t0:.2f}s; put() alone {LEDGER_EVENTS / (t_put - t0):,.0f} events/s)"
        f" mix=20% submitted 20% filled 20% position 40% equity; rows events={rows['events']}"
        f" orders={rows['orders']} fills={rows['fills']} equity={rows['equity']}"
    )
