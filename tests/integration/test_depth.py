"""The live sandbox fills against Kraken's book (L2), against the local protocol peer with a thin
top of book: 1.0 at the best ask, 5.0 at each deeper level, trades printing 0.01."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, registry
from tests.helpers import wait_for
from tests.peers.kraken_peer import KrakenPeer

BID, ASK, TICK = 65_000.0, 65_000.1, 0.1


class BuyOnce(PaperStrategy):
    """A market buy of ``trade_size`` on the first live bar, then nothing."""

    def _decide(self, bar) -> None:
        if not self.live_bars - 1:
            self._go_long()


@pytest.fixture(autouse=True)
def buy_once() -> Iterator[None]:
    kernelext.register("test_buy_once")(BuyOnce)
    yield
    registry.unregister("test_buy_once")


@pytest.fixture
def thin_peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[KrakenPeer]:
    with KrakenPeer(pairs=("BTC/USD",), tick_interval=0.05) as p:
        p.set_depth("BTC/USD", best=1.0, deeper=5.0, trade=0.01)
        p.set_price("BTC/USD", BID, ASK, hold=True)
        monkeypatch.setenv("PAPERLAB_KRAKEN_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_KRAKEN_WS", p.ws_url)
        yield p


def test_a_market_buy_walks_the_book_and_fills_whole(thin_peer: KrakenPeer) -> None:
    spec = build_spec(sleeves=[make_sleeve("test_buy_once", "BTC/USD", bar_spec="1-SECOND-LAST",
                                           params={"trade_size": 20, "warmup_bars": 0})],
                      feed="kraken", starting_cash="2000000 USD", max_notional_per_order=5_000_000)
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.status().fills >= 1, "the buy to fill", 40)
        wait_for(lambda: sum(frames.fills(runner.session_id, ledger=runner.ledger)["qty"]) >= 20 - 1e-9,
                 "all 20 to fill", 20)
        runner.writer.flush()
        fills = frames.fills(runner.session_id, ledger=runner.ledger).sort("ts_ns")
        orders = frames.orders(runner.session_id, ledger=runner.ledger)
    finally:
        runner.stop()
    assert orders.height == 1 and orders["status"][0] == "FILLED"
    levels = [(round(p, 1), q) for p, q in zip(fills["price"], fills["qty"])]
    # the best ask's 1.0, then 5.0 at each level above it, in price order, until 20 are filled
    assert levels[0] == (ASK, 1.0), levels
    assert levels[1:4] == [(round(ASK + k * TICK, 1), 5.0) for k in (1, 2, 3)], levels
    assert levels[4] == (round(ASK + 4 * TICK, 1), 4.0), levels
    assert sum(q for _, q in levels) == pytest.approx(20.0)
    avg = sum(p * q for p, q in levels) / 20
    assert ASK < avg < ASK + 4 * TICK


def test_ema_cross_on_second_bars_keeps_trading_on_a_thin_book(thin_peer: KrakenPeer) -> None:
    """No order is left part-filled: every order ends filled, denied, or is still working."""
    thin_peer.set_price("BTC/USD", BID, ASK, hold=False)  # let it move, so the averages cross
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", bar_spec="1-SECOND-LAST",
                                           params={"fast": 2, "slow": 4, "warmup_bars": 0, "trade_size": 3})],
                      feed="kraken", starting_cash="1000000 USD", max_notional_per_order=1_000_000)
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.status().fills >= 8, "ema_cross to trade a few times", 90)
    finally:
        runner.stop()
    runner.writer.flush()
    orders = frames.orders(runner.session_id, ledger=runner.ledger)
    fills = frames.fills(runner.session_id, ledger=runner.ledger)
    filled = fills.group_by("client_order_id").agg(qty=pl.col("qty").sum())
    by_id = dict(zip(filled["client_order_id"], filled["qty"]))
    for o in orders.iter_rows(named=True):
        if o["status"] == "FILLED":  # 3 BTC from a book with 1.0 at the top: filled whole, across levels
            assert by_id[o["client_order_id"]] == pytest.approx(o["quantity"]), (o, fills.filter(client_order_id=o["client_order_id"]).select(["qty", "price", "trade_id", "ts_ns"]).rows(), str(runner.log_path))
        else:
            assert o["status"] in ("DENIED", "CANCELED", "ACCEPTED", "SUBMITTED"), o
    assert orders.filter(status="FILLED").height >= 3
    # every order follows the signal that caused it (the last one recorded before it), in time too
    events = frames.events(runner.session_id, ledger=runner.ledger).sort("id")
    cause_ts = None
    for stage, ts in zip(events["stage"], events["ts_ns"]):
        if stage == "signal.emitted":
            cause_ts = ts
        elif stage == "order.submitted":
            assert cause_ts is not None and cause_ts <= ts, "an order.submitted is stamped before its signal"
    assert fills.height > orders.filter(status="FILLED").height  # some orders took more than one level


def test_kraken_bar_specs_are_checked_before_anything_starts(thin_peer: KrakenPeer) -> None:
    from kernelext.errors import SpecError

    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", bar_spec="3-MINUTE-LAST")], feed="kraken")
    with pytest.raises(SpecError, match=r"^bar_spec: Kraken serves bars of 1, 5, 15, 30, 60, 240, 1440, 10080, "
                                        r"21600 minutes \(or N-SECOND-LAST bars built from trades\); 3-MINUTE-LAST"):
        SessionRunner(spec).start()


def test_second_bars_start_cold_and_say_so_without_nautilus_errors(thin_peer: KrakenPeer) -> None:
    spec = build_spec(sleeves=[make_sleeve("ema_cross", "BTC/USD", bar_spec="1-SECOND-LAST",
                                           params={"fast": 2, "slow": 4})], feed="kraken")
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.status().bars >= 3, "second bars", 30)
    finally:
        runner.stop()
    assert any("1-SECOND-LAST bars are built from Kraken trades and start without warm-up" in n for n in runner.notes)
    from kernelext.session.logs import current_file

    log = current_file(runner.log_path).read_text()
    assert "Unsupported bar aggregation" not in log and "starting cold" in log


def test_the_fee_tier_is_charged_on_the_live_feed_too(thin_peer: KrakenPeer) -> None:
    spec = build_spec(sleeves=[make_sleeve("test_buy_once", "BTC/USD", bar_spec="1-SECOND-LAST",
                                           params={"trade_size": 1, "warmup_bars": 0})],
                      feed="kraken", fee_tier="10m", max_notional_per_order=1_000_000)
    runner = SessionRunner(spec).start()
    try:
        wait_for(lambda: runner.status().fills >= 1, "the buy to fill", 40)
        runner.writer.flush()
        fill = frames.fills(runner.session_id, ledger=runner.ledger).row(0, named=True)
    finally:
        runner.stop()
    assert (fill["qty"], fill["price"]) == (1.0, ASK)
    assert fill["fee"] == pytest.approx(ASK * 0.0010, abs=0.01)  # Kraken's $10M+ taker rate, not the pair's 0.40 %
