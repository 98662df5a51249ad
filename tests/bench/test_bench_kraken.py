"""Live-Kraken-path benchmarks against the local Kraken protocol peer (127.0.0.1 only).

Run with ``uv run pytest -m bench -o addopts="" -q -s tests/bench/test_bench_kraken.py``.
Each benchmark prints ``BENCH ...`` lines (repeated in the terminal summary); none
asserts on speed, only on correctness (fills happened, the session stopped cleanly).

1. ``kraken_tick_to_fill_ms``: one resting LIMIT order at a time (a buy a few ticks
   under the held bid; after its fill, a sell a few ticks over the ask). The peer holds
   its level (``set_price(..., hold=True)``), so nothing fills until the test moves the
   quote across the limit. Start of the interval: the wall time (``time.time_ns``) at
   which the peer hands the first frame whose prices cross the limit (ticker ask/bid,
   trade price, or a book level) to its WebSocket writer, recorded in a ``_send``
   override of a ``KrakenPeer`` subclass defined here (the peer keeps send times for
   trades only). End: ``time.time_ns`` in a handler subscribed (on the node's loop, at a
   priority above every other subscriber) to ``events.order.*`` on the node's message
   bus, at the first ``OrderFilled`` of that order. Both clocks are the same host's
   wall clock. The same figure from just before ``set_price`` is printed as well (it
   adds the hop onto the peer's loop).
   Measured twice in one run: with the book (the default: an L2 sandbox, the ``book``
   channel subscribed) and without it (L1: ticker and trades only); the ratio is printed.
1b. ``kraken_market_orders_filled_whole`` / ``kraken_market_slippage_bps``: 3 BTC market
   orders against a thin book (1.0 at the best level, 5.0 deeper, trades of 0.01).
2. ``kraken_cpu_per_1k_updates``: the peer ticks every 10 ms; the adapter subscribes
   ``ticker``, ``trade`` and ``book``, so each step reaches the node as one trade, one
   quote and book deltas. An ``ema_cross`` session on 1-SECOND-LAST internal bars
   runs for ~20 s. Market updates are the telemetry actor's count (quote + trade ticks
   the node received). CPU: the node thread's utime+stime from
   ``/proc/self/task/<tid>/stat``, the whole process's ``time.process_time`` (the peer
   runs in this process), and a per-thread breakdown, because the adapter's WebSocket
   and JSON work runs on Rust (tokio) threads, not on the node's Python thread.

Hooks used from outside ``kernelext`` (nothing there is changed): ``runner._loop``
(to subscribe on the node's loop), ``runner._thread.native_id``, ``runner.node``,
``runner.strategies``, ``runner.telemetry``; on the peer, ``KrakenPeer._send`` (the one
place every frame is written) and ``peer._thread.native_id``.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import kernelext
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, PaperStrategyConfig
from nautilus_trader.model.enums import OrderSide, TimeInForce
from nautilus_trader.model.events import OrderFilled
from tests.peers.kraken_peer import KrakenPeer

SYMBOL = "BTC/USD"
BID, ASK = 65_000.0, 65_000.1
TICK = 0.1
OFFSET_TICKS = 5
LATENCY_WARMUP = 3  # first fills of the session are not counted (first-call costs)
LATENCY_FILLS = 30
CPU_WINDOW_S = 20.0
CPU_TICK_INTERVAL = 0.01
CLK_TCK = os.sysconf("SC_CLK_TCK")
HANDLER_FIRST = 1_000_000  # above telemetry's and the sandbox's subscriptions


def _pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.001) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


# -- the strategy: one resting limit order at a time ---------------------------------------------


class BenchLimitFlipConfig(PaperStrategyConfig, frozen=True):
    offset_ticks: int = OFFSET_TICKS
    qty: str = "0.01"


class BenchLimitFlip(PaperStrategy):
    """Keeps one resting LIMIT order: flat -> buy ``offset_ticks`` under the bid; long ->
    sell ``offset_ticks`` over the ask. A new order goes in on the first quote after the
    previous one closed. ``resting`` (read by the test thread) is the accepted order."""

    def __init__(self, config: BenchLimitFlipConfig) -> None:
        super().__init__(config)
        self.working: Any = None  # client order id of the open order
        self.resting: tuple[str, OrderSide, float] | None = None  # (coid, side, price) once accepted

    def on_start(self) -> None:
        super().on_start()
        if self.instrument is not None:
            self.subscribe_quote_ticks(self.config.instrument_id)

    def on_quote_tick(self, tick: Any) -> None:
        if self.working is not None or self.instrument is None:
            return
        tick_size = float(self.instrument.price_increment)
        if self._net_decimal() <= 0:
            side, px = OrderSide.BUY, tick.bid_price.as_double() - self.config.offset_ticks * tick_size
        else:
            side, px = OrderSide.SELL, tick.ask_price.as_double() + self.config.offset_ticks * tick_size
        order = self.order_factory.limit(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(Decimal(self.config.qty)),
            price=self.instrument.make_price(px),
            time_in_force=TimeInForce.GTC,
        )
        self.working = order.client_order_id
        self.submit_order(order)

    def on_order_accepted(self, event: Any) -> None:
        if event.client_order_id == self.working:
            order = self.cache.order(event.client_order_id)
            self.resting = (event.client_order_id.value, order.side, order.price.as_double())

    def _closed(self, event: Any) -> None:
        if event.client_order_id == self.working:
            order = self.cache.order(event.client_order_id)
            if order is None or order.is_closed:
                self.working = None

    on_order_filled = _closed
    on_order_canceled = _closed
    on_order_rejected = _closed
    on_order_denied = _closed
    on_order_expired = _closed


# -- the peer, with send times for crossing frames ---------------------------------------------


class _TimedPeer(KrakenPeer):
    """Records the wall time of the first frame written after ``arm`` whose prices cross
    a limit order (ticker bid/ask, trade price, or a book level of non-zero size)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._crosses: Callable[[dict[str, Any]], bool] | None = None
        self.cross_ns: int | None = None
        self.cross_channel: str | None = None

    def arm(self, side: OrderSide, limit: float) -> None:
        eps = TICK / 10
        if side == OrderSide.BUY:  # fills once someone offers at or under the limit
            at = lambda p: float(p) <= limit + eps  # noqa: E731
            book_side, quote_key = "asks", "ask"
        else:
            at = lambda p: float(p) >= limit - eps  # noqa: E731
            book_side, quote_key = "bids", "bid"

        def crosses(frame: dict[str, Any]) -> bool:
            channel, data = frame.get("channel"), frame.get("data") or [{}]
            if channel == "ticker":
                return at(data[0][quote_key])
            if channel == "trade":
                return any(at(t["price"]) for t in data)
            if channel == "book":
                return any(at(lv["price"]) and lv["qty"] > 0 for lv in data[0][book_side])
            return False

        self.cross_ns, self.cross_channel = None, None
        self._crosses = crosses

    def _send(self, conn: Any, frame: dict[str, Any] | str) -> None:
        now = time.time_ns()
        crosses = self._crosses
        if crosses is not None and self.cross_ns is None and isinstance(frame, dict) and crosses(frame):
            self.cross_ns, self.cross_channel = now, frame["channel"]
            self._crosses = None
        super()._send(conn, frame)



@pytest.fixture(autouse=True)
def _bench_strategy():
    """Registered for this module's benchmarks only (the registry is process-wide)."""
    from kernelext.strategies import registry

    kernelext.register("bench_limit_flip")(BenchLimitFlip)
    yield
    registry.unregister("bench_limit_flip")

@pytest.fixture
def env_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[KrakenPeer], None]:
    def point(peer: KrakenPeer) -> None:
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", peer.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", peer.ws_url)

    return point


@pytest.fixture
def timed_peer(paperlab_home: Path, env_for: Callable[[KrakenPeer], None]) -> Iterator[_TimedPeer]:
    with _TimedPeer(pairs=(SYMBOL,), tick_interval=0.05) as p:
        env_for(p)
        yield p


def _subscribe_on_node(runner: SessionRunner, topic: str, handler: Callable[[Any], None]) -> None:
    """Subscribe ``handler`` on the node's message bus, from the node's own loop."""
    assert runner._loop is not None and runner.node is not None
    done = threading.Event()

    def sub() -> None:
        runner.node.kernel.msgbus.subscribe(topic, handler, HANDLER_FIRST)
        done.set()

    runner._loop.call_soon_threadsafe(sub)
    assert done.wait(5), "subscription did not run on the node loop"


# -- 1. tick-to-fill latency ----------------------------------------------------------------------


def _tick_to_fill(peer: _TimedPeer) -> tuple[list[float], list[float], dict[str, int]]:
    """One session of ``LATENCY_WARMUP + LATENCY_FILLS`` resting orders filled by a quote move:
    (peer send -> fill ms, set_price -> fill ms, crossing frames by channel)."""
    peer.set_price(SYMBOL, BID, ASK, hold=True)
    spec = build_spec(
        sleeves=[make_sleeve("bench_limit_flip", SYMBOL, params={"warmup_bars": 0}, bar_spec="1-SECOND-LAST")],
        feed="kraken",
    )
    filled_at: dict[str, int] = {}

    def on_order_event(event: Any) -> None:  # node thread
        if isinstance(event, OrderFilled):
            filled_at.setdefault(event.client_order_id.value, time.time_ns())

    runner = SessionRunner(spec).start()
    from_send: list[float] = []
    from_set: list[float] = []
    channels: dict[str, int] = {}
    try:
        _subscribe_on_node(runner, "events.order.*", on_order_event)
        strategy: BenchLimitFlip = runner.strategies[0]
        last_coid = None
        for i in range(LATENCY_WARMUP + LATENCY_FILLS):
            _wait_for(lambda: strategy.resting is not None and strategy.resting[0] != last_coid, 10, f"order {i}")
            coid, side, limit = strategy.resting
            assert coid not in filled_at, "the order filled before the quote moved"
            time.sleep(0.02)  # off the heels of the acceptance
            peer.arm(side, limit)
            t_set = time.time_ns()
            if side == OrderSide.BUY:  # offer at the limit
                peer.set_price(SYMBOL, limit - TICK, limit, hold=True)
            else:  # bid at the limit
                peer.set_price(SYMBOL, limit, limit + TICK, hold=True)
            _wait_for(lambda: coid in filled_at, 10, f"fill {i}")
            _wait_for(lambda: strategy.working != coid, 10, f"order {i} closed")
            assert peer.cross_ns is not None, "no crossing frame recorded"
            if i >= LATENCY_WARMUP:
                from_send.append((filled_at[coid] - peer.cross_ns) / 1e6)
                from_set.append((filled_at[coid] - t_set) / 1e6)
                channels[peer.cross_channel] = channels.get(peer.cross_channel, 0) + 1
            last_coid = coid
        fills = runner.fills
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    assert fills >= LATENCY_WARMUP + LATENCY_FILLS
    return from_send, from_set, channels


@pytest.mark.bench
@pytest.mark.timeout(180)
def test_bench_kraken_tick_to_fill(timed_peer: _TimedPeer, bench_print: Callable[[str], None],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the book (the default: L2 sandbox, book channel subscribed) and without it (L1,
    ticker and trades only), in one run: the ratio is the book's cost."""
    from kernelext.venues.sandbox import config

    runs = {"book": _tick_to_fill(timed_peer)}
    monkeypatch.setattr(config, "BOOK_DEPTH", 0)
    runs["no_book"] = _tick_to_fill(timed_peer)

    def fig(v: list[float]) -> str:
        return f"p50={_pct(v, 50):.2f} p95={_pct(v, 95):.2f} max={max(v):.2f} mean={statistics.fmean(v):.2f}"

    for name, (from_send, from_set, channels) in runs.items():
        by = " ".join(f"{k}={n}" for k, n in sorted(channels.items()))
        bench_print(
            f"kraken_tick_to_fill_ms[{name}] {fig(from_send)} n={len(from_send)}"
            f" (peer send of first crossing frame -> OrderFilled on node msgbus; crossing frame: {by})"
        )
        bench_print(
            f"kraken_set_price_to_fill_ms[{name}] {fig(from_set)} n={len(from_set)}"
            f" (time.time_ns() before set_price -> OrderFilled; adds the hop onto the peer loop)"
            f" | warm-up fills dropped={LATENCY_WARMUP}"
        )
    on, off = runs["book"][0], runs["no_book"][0]
    bench_print(f"kraken_tick_to_fill_book_ratio p50={_pct(on, 50) / _pct(off, 50):.2f}x"
                f" p95={_pct(on, 95) / _pct(off, 95):.2f}x (book on / book off; goal <= 2x)")


# -- 1b. market orders against a thin book ----------------------------------------------------------


class BenchMarketFlip(PaperStrategy):
    """A market order of ``trade_size`` each live bar: buy when flat, sell when long. Records
    the mid (the node's last quote) at each submit, for slippage."""

    def __init__(self, config: PaperStrategyConfig) -> None:
        super().__init__(config)
        self.mids: dict[str, float] = {}

    def _decide(self, bar: Any) -> None:
        quote = self.cache.quote_tick(self.config.instrument_id)
        before = set(self._pending)
        self._go_flat() if self._net_decimal() > 0 else self._go_long()
        for coid in set(self._pending) - before:
            if quote is not None:
                self.mids[coid.value] = (quote.bid_price.as_double() + quote.ask_price.as_double()) / 2


MARKET_ORDERS = 20


@pytest.mark.bench
@pytest.mark.timeout(120)
def test_bench_kraken_market_orders_on_a_thin_book(paperlab_home: Path, env_for: Callable[[KrakenPeer], None],
                                                   bench_print: Callable[[str], None]) -> None:
    """Market orders of 3 BTC against 1.0 at the best level and 5.0 deeper, trades of 0.01:
    the share filled whole (goal 100%) and the average slippage against the mid."""
    from kernelext import frames
    from kernelext.strategies import registry

    kernelext.register("bench_market_flip")(BenchMarketFlip)
    try:
        with KrakenPeer(pairs=(SYMBOL,), tick_interval=0.05) as peer:
            env_for(peer)
            peer.set_depth(SYMBOL, best=1.0, deeper=5.0, trade=0.01)
            spec = build_spec(sleeves=[make_sleeve("bench_market_flip", SYMBOL, bar_spec="1-SECOND-LAST",
                                                   params={"warmup_bars": 0, "trade_size": 3})],
                              feed="kraken", starting_cash="1000000 USD", max_notional_per_order=1_000_000)
            runner = SessionRunner(spec).start()
            try:
                _wait_for(lambda: runner.status().orders >= MARKET_ORDERS, 120, "market orders", poll=0.1)
                time.sleep(1.0)
            finally:
                runner.stop()
    finally:
        registry.unregister("bench_market_flip")
    runner.writer.flush()
    orders = frames.orders(runner.session_id, ledger=runner.ledger)
    fills = frames.fills(runner.session_id, ledger=runner.ledger)
    mids = runner.strategies[0].mids
    whole = orders.filter((orders["filled_qty"] - orders["quantity"]).abs() < 1e-9).height
    slips, levels = [], []
    for o in orders.iter_rows(named=True):
        f = fills.filter(client_order_id=o["client_order_id"])
        if not f.height or o["client_order_id"] not in mids:
            continue
        avg = float((f["price"] * f["qty"]).sum() / f["qty"].sum())
        mid = mids[o["client_order_id"]]
        sign = 1 if o["side"] == "BUY" else -1
        slips.append(sign * (avg - mid) / mid * 1e4)
        levels.append(f.height)
    assert orders.height >= MARKET_ORDERS and slips
    bench_print(f"kraken_market_orders_filled_whole {whole}/{orders.height} = {100 * whole / orders.height:.0f}%"
                f" (3 BTC market orders; book 1.0 best, 5.0 deeper; trades 0.01; goal 100%)")
    bench_print(f"kraken_market_slippage_bps mean={statistics.fmean(slips):.2f} p95={_pct(slips, 95):.2f}"
                f" n={len(slips)} (average fill price vs the mid at submit; levels per order"
                f" mean={statistics.fmean(levels):.1f})")


# -- 2. CPU per 1,000 market updates --------------------------------------------------------------


def _thread_cpu_s(tid: int) -> float:
    """utime + stime of one thread of this process, in seconds."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def _threads_cpu() -> dict[int, tuple[str, float]]:
    """tid -> (comm, CPU s) for every thread of this process."""
    out = {}
    for name in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{name}/comm") as f:
                comm = f.read().strip()
            out[int(name)] = (comm, _thread_cpu_s(int(name)))
        except (OSError, IndexError, ValueError):
            continue
    return out


@pytest.mark.bench
@pytest.mark.timeout(90)
def test_bench_kraken_cpu_per_1k_updates(
    paperlab_home: Path, env_for: Callable[[KrakenPeer], None], bench_print: Callable[[str], None]
) -> None:
    with KrakenPeer(pairs=(SYMBOL,), tick_interval=CPU_TICK_INTERVAL) as peer:
        env_for(peer)
        spec = build_spec(
            sleeves=[
                make_sleeve("ema_cross", SYMBOL, params={"fast": 2, "slow": 4, "warmup_bars": 0},
                            bar_spec="1-SECOND-LAST")
            ],
            feed="kraken",
        )
        runner = SessionRunner(spec).start()
        try:
            assert runner._thread is not None and runner._thread.native_id is not None
            assert peer._thread is not None and peer._thread.native_id is not None
            node_tid, peer_tid = runner._thread.native_id, peer._thread.native_id
            tel = runner.telemetry
            assert tel is not None
            _wait_for(lambda: tel.market_updates > 50, 15, "market data from the peer", poll=0.01)
            time.sleep(1.0)  # past subscriptions and first bars

            steps0 = len(peer.sent_trades(SYMBOL))
            upd0, bars0, fills0 = tel.market_updates, tel.bars, tel.fills
            threads0 = _threads_cpu()
            node0, proc0, wall0 = _thread_cpu_s(node_tid), time.process_time(), time.perf_counter()
            time.sleep(CPU_WINDOW_S)
            node1, proc1, wall1 = _thread_cpu_s(node_tid), time.process_time(), time.perf_counter()
            threads1 = _threads_cpu()
            upd1, bars1, fills1 = tel.market_updates, tel.bars, tel.fills
            steps1 = len(peer.sent_trades(SYMBOL))
            subs = sorted(peer.subscriptions)
            assert runner.state == "running", runner.last_error
        finally:
            runner.stop()
    assert runner.state == "stopped", runner.last_error

    updates, wall = upd1 - upd0, wall1 - wall0
    steps = steps1 - steps0
    assert updates > 0 and bars1 > bars0
    node_cpu, proc_cpu = node1 - node0, proc1 - proc0
    by_thread: dict[str, float] = {}
    for tid, (comm, cpu1) in threads1.items():
        cpu0 = threads0.get(tid, (comm, 0.0))[1]
        key = "node" if tid == node_tid else "peer" if tid == peer_tid else comm
        by_thread[key] = by_thread.get(key, 0.0) + cpu1 - cpu0
    peer_cpu = by_thread.get("peer", 0.0)
    per_k = lambda s: 1e3 * s / updates * 1e3  # noqa: E731  (CPU ms per 1,000 updates)
    breakdown = " ".join(f"{k}={1e3 * v:.0f}" for k, v in sorted(by_thread.items(), key=lambda kv: -kv[1]) if v > 0)
    bench_print(
        f"kraken_cpu_per_1k_updates node_thread={per_k(node_cpu):.1f}ms"
        f" process={per_k(proc_cpu):.1f}ms process_minus_peer_thread={per_k(proc_cpu - peer_cpu):.1f}ms"
        f" | updates={updates} ({updates / wall:.0f}/s; quotes+trades) over {wall:.1f}s wall,"
        f" peer steps={steps} ({steps / wall:.0f}/s, tick_interval={CPU_TICK_INTERVAL}s)"
        f" bars={bars1 - bars0} fills={fills1 - fills0}"
    )
    bench_print(
        f"kraken_cpu_detail node_thread={node_cpu * 1e3:.0f}ms ({100 * node_cpu / wall:.1f}% of a core)"
        f" process={proc_cpu * 1e3:.0f}ms ({100 * proc_cpu / wall:.1f}%) per-thread CPU ms: {breakdown}"
        f" | /proc resolution {1e3 / CLK_TCK:.0f}ms; peer subscriptions={subs}"
    )
