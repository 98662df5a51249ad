"""ib-paper benchmarks against the local TWS peer: start latency and order-to-fill time.

Run with ``uv run pytest -m bench -o addopts="" -q -s tests/bench/test_bench_ib.py``.

- ``ib_start_ms``: ``SessionRunner.start()`` for an ib-paper session, split into the
  preflight (read-only ib_async probe of the account, then IB's contract for each
  instrument) and the node (Nautilus's IB adapter connecting, loading the instrument,
  startup reconciliation) until the trader runs. Target: under 5 s on a local gateway.
- ``ib_order_to_fill_ms``: a market order from ``submit_order`` to the strategy's
  ``on_order_filled`` (IB client -> peer -> openOrder/orderStatus/execDetails back ->
  Nautilus exec engine), node-thread perf_counter both ends. Target: p95 under 100 ms
  against a local peer (a real gateway adds the exchange round trip).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator

import pytest

import kernelext
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry
from kernelext.venues.ib import session as ib_session
from tests.helpers import wait_for
from tests.peers.tws_peer import TwsPeer

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]
STARTS = 5
ORDERS = 30


class PingPong(PaperStrategy):
    """Buy on one bar, sell on the next; times each order from submit to fill."""

    def __init__(self, config: PaperStrategyConfig) -> None:
        super().__init__(config)
        self.sent: dict[object, float] = {}
        self.fill_ms: list[float] = []

    def _decide(self, bar) -> None:
        if len(self.fill_ms) >= ORDERS:
            return
        before = set(self._pending)
        self._go_flat() if self._net_decimal() else self._go_long()
        for coid in set(self._pending) - before:
            self.sent[coid] = time.perf_counter()

    def on_order_filled(self, event) -> None:
        started = self.sent.pop(event.client_order_id, None)
        if started is not None:
            self.fill_ms.append((time.perf_counter() - started) * 1000)


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[TwsPeer]:
    kernelext.register("bench_ping_pong")(PingPong)
    with TwsPeer(accounts=("DU1234567",), positions=(), bar_interval_s=0.1) as p:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(p.port))
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", "DU1234567")
        yield p
    registry.unregister("bench_ping_pong")


def _spec(strategy: str = "ibs_reversion"):
    return build_spec(sleeves=[make_sleeve(strategy, "QQQ.NASDAQ", bar_spec="1-DAY-LAST")], venue="ib-paper")


def test_bench_ib_start(peer: TwsPeer, bench_print: Callable[[str], None]) -> None:
    preflight_ms, total_ms = [], []
    for _ in range(STARTS):
        from kernelext.ledger import Ledger

        t0 = time.perf_counter()
        ib_session.preflight(_spec(), Ledger())
        preflight_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        runner = SessionRunner(_spec()).start(timeout=60)
        total_ms.append((time.perf_counter() - t0) * 1000)
        runner.stop()
        assert runner.state == "stopped", runner.last_error
    node = [t - p for t, p in zip(total_ms, preflight_ms, strict=True)]
    bench_print(
        f"ib_start_ms p50={statistics.median(total_ms):.0f} max={max(total_ms):.0f} n={STARTS} (target < 5000) "
        f"| preflight (probe + contracts) p50={statistics.median(preflight_ms):.0f} "
        f"node (adapter connect, instrument, reconciliation) p50={statistics.median(node):.0f}"
    )


def test_bench_ib_order_to_fill(peer: TwsPeer, bench_print: Callable[[str], None]) -> None:
    runner = SessionRunner(_spec("bench_ping_pong")).start(timeout=60)
    try:
        strategy = runner.strategies[0]
        wait_for(lambda: len(strategy.fill_ms) >= ORDERS, f"{ORDERS} fills", timeout=120)
    finally:
        runner.stop()
    ms = sorted(strategy.fill_ms)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    bench_print(
        f"ib_order_to_fill_ms p50={statistics.median(ms):.1f} p95={p95:.1f} max={ms[-1]:.1f} n={len(ms)} "
        f"(target p95 < 100; submit_order -> on_order_filled via Nautilus IB adapter and the local TWS peer) "
        f"| peer executions={len(peer.executions)}"
    )
    assert len(peer.executions) >= ORDERS
