"""binance-testnet sessions against the local Binance Spot peer: NautilusTrader's real Binance
adapter (REST, the WebSocket API's user data stream, market streams) fills, rejects, partial
fills, reconnects and reconciles; the ledger's fills and fees are the peer's trades."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from nautilus_trader.accounting.factory import AccountFactory
from nautilus_trader.model.identifiers import Venue

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from tests.helpers import wait_for
from tests.round_trip import round_trip_strategy  # noqa: F401  (registers test_round_trip)
from tests.peers.binance_peer import BinancePeer

KEY, SECRET = "tNk3yBINANCEdistinctKEY0123456789abcdef", "s3cr3tBINANCEdistinctSECRET9876543210zyx"
BID, ASK = 65_000.00, 65_000.10
INSTRUMENT = "BTCUSDT.BINANCE"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[BinancePeer]:
    with BinancePeer(api_key=KEY, api_secret=SECRET, tick_interval=0.05) as p:
        monkeypatch.setenv("BINANCE_TESTNET_API_KEY", KEY)
        monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SECRET)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_WS", p.ws_url)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_WS_API", p.ws_api_url)
        yield p


def _spec(strategy: str, params: dict, **kw):
    return build_spec(sleeves=[make_sleeve(strategy, INSTRUMENT, params=params, bar_spec="1-SECOND-LAST")],
                      venue="binance-testnet", **kw)


def _wait(predicate, timeout: float, what: str) -> None:
    wait_for(predicate, what, timeout, interval=0.1)


def _ledger_fills(runner: SessionRunner):
    runner.writer.flush()
    return frames.fills(runner.session_id, ledger=runner.ledger).sort("ts_ns")


def _stages(runner: SessionRunner) -> list[str]:
    runner.writer.flush()
    return frames.events(runner.session_id, ledger=runner.ledger)["stage"].to_list()


def _assert_fills_are_the_peers_trades(runner: SessionRunner, peer: BinancePeer) -> None:
    """Every trade the peer made is one ledger fill (trade id, side, price, qty, fee), nothing more."""
    fills = _ledger_fills(runner)
    ledger = sorted((r["trade_id"], r["side"], r["price"], r["qty"], r["fee"], r["fee_currency"])
                    for r in fills.iter_rows(named=True))
    trades = sorted((str(t["id"]), "BUY" if t["isBuyer"] else "SELL", float(t["price"]), float(t["qty"]),
                     float(t["commission"]), t["commissionAsset"]) for t in peer.executions())
    assert ledger == trades, f"ledger {ledger}\npeer {trades}"


def test_market_round_trip_fills_at_the_peers_quotes_with_its_fees(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    runner = SessionRunner(_spec("test_round_trip", {"hold_bars": 3, "warmup_bars": 0,
                                                             "trade_notional": 1000})).start()
    try:
        assert runner.status().feed == "testnet"
        _wait(lambda: runner.status().fills >= 2, 40, "the buy and the sell")
        fills = _ledger_fills(runner)
        assert fills["side"].to_list() == ["BUY", "SELL"]
        assert fills["price"].to_list() == [ASK, BID], "a market buy takes the ask, a sell the bid"
        assert fills["liquidity"].to_list() == ["TAKER", "TAKER"]
        assert fills["fee_currency"].to_list() == ["USDT", "USDT"]
        for row in fills.iter_rows(named=True):
            assert row["fee"] == pytest.approx(row["price"] * row["qty"] * 0.001, abs=1e-8)
        _assert_fills_are_the_peers_trades(runner, peer)
        assert peer.user_streams == 1, "one user data stream for the session"
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    assert peer.user_streams == 0, "the stream is closed at the end"


def test_rsi_rules_enters_and_takes_profit(peer: BinancePeer) -> None:
    """JSON rules with a stop loss and a take profit: enter at once, exit when the price is up 0.5%."""
    peer.set_price("BTCUSDT", BID, ASK)
    rules = {"indicators": {"rsi": {"type": "rsi", "period": 2}}, "entry": ["close > 0"], "exit": [],
             "direction": "long", "stop_loss_pct": 5.0, "take_profit_pct": 0.5, "warmup_bars": 3,
             "trade_notional": 1000}
    time.sleep(4)  # seconds of the peer's tape: the warm-up comes from its klines
    runner = SessionRunner(_spec("rsi_rules", rules)).start()
    try:
        _wait(lambda: runner.strategies[0].history_bars >= 2, 20, "warm-up bars from Binance's klines")
        assert 1 <= peer.requests.count("GET klines") <= 3, "the klines request pages to its end"
        _wait(lambda: runner.status().fills >= 1, 40, "the entry")
        peer.set_price("BTCUSDT", BID * 1.01, ASK * 1.01)
        _wait(lambda: runner.status().fills >= 2, 40, "the take-profit exit")
        fills = _ledger_fills(runner)
        assert fills["side"].to_list()[:2] == ["BUY", "SELL"]
        assert fills["price"][1] == pytest.approx(BID * 1.01, abs=0.01)
        _wait(lambda: not runner.positions(), 10, "flat after the exit")
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    _assert_fills_are_the_peers_trades(runner, peer)


def test_grid_limit_orders_rest_at_the_peer_and_fill_as_maker(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    runner = SessionRunner(_spec("grid", {"step_pct": 0.5, "levels": 1, "warmup_bars": 0,
                                          "trade_notional": 500})).start()
    try:
        _wait(lambda: len([o for o in peer.orders() if o["status"] == "NEW"]) == 2, 40, "the grid resting")
        resting = sorted((o["side"], float(o["price"])) for o in peer.orders() if o["status"] == "NEW")
        assert resting[0][0] == "BUY" and resting[0][1] < BID and resting[1][0] == "SELL" and resting[1][1] > ASK
        sell = resting[1][1]
        peer.set_price("BTCUSDT", sell + 1, sell + 1.1)
        _wait(lambda: runner.status().fills >= 2, 30, "the sell limit filled")
        fills = _ledger_fills(runner)
        limit = fills.row(1, named=True)
        assert (limit["side"], limit["price"], limit["liquidity"]) == ("SELL", sell, "MAKER")
        _wait(lambda: any(o["status"] == "NEW" and o["side"] == "BUY" and float(o["price"]) < sell
                          for o in peer.orders() if o["orderId"] > 4_000_003), 20, "the grid re-placing a buy")
        _assert_fills_are_the_peers_trades(runner, peer)
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    assert not [o for o in peer.orders() if o["status"] == "NEW"], "stopping cancels the resting orders"


def test_a_partial_fill_completes_as_one_order(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    peer.split_next(3)
    runner = SessionRunner(_spec("test_round_trip", {"hold_bars": 1000, "warmup_bars": 0,
                                                             "trade_notional": 1000})).start()
    try:
        _wait(lambda: runner.status().fills >= 3, 40, "three partial fills")
        fills = _ledger_fills(runner)
        assert fills.height == 3 and fills["client_order_id"].n_unique() == 1
        order = peer.orders()[0]
        assert order["status"] == "FILLED"
        assert sum(fills["qty"].to_list()) == pytest.approx(float(order["origQty"]))
        _wait(lambda: runner.positions() and runner.positions()[0]["quantity"] == float(order["origQty"]), 10,
              "one position of the whole order")
        _assert_fills_are_the_peers_trades(runner, peer)
    finally:
        runner.stop()
    stages = _stages(runner)
    assert stages.count("order.filled") == 3 and stages.count("order.submitted") >= 1


def test_a_rejection_is_one_event_and_no_fill(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    peer.reject_next()
    runner = SessionRunner(_spec("test_round_trip", {"hold_bars": 1000, "warmup_bars": 0,
                                                             "trade_notional": 1000})).start()
    try:
        _wait(lambda: "order.rejected" in _stages(runner), 30, "the rejection")
        runner.writer.flush()
        events = frames.events(runner.session_id, ledger=runner.ledger)
        rejected = events.filter(events["stage"] == "order.rejected")
        assert rejected.height == 1
        assert "insufficient balance" in rejected["message"][0]
        assert runner.status().fills == 0 and not peer.executions()
        assert runner.state == "running", runner.last_error
    finally:
        runner.stop()
    assert [r for r in peer.requests if r == "POST order"] == ["POST order"], "no retry of a rejected order"


def test_a_dropped_connection_reconnects_and_reconciles_nothing_doubled(peer: BinancePeer) -> None:
    """The grid rests a sell; every WebSocket drops and stays refused while the sell fills at the
    peer (its execution report is lost); after the reconnect the fill arrives once, from
    reconciliation, and the grid re-places its buy."""
    peer.set_price("BTCUSDT", BID, ASK)
    runner = SessionRunner(_spec("grid", {"step_pct": 0.5, "levels": 1, "warmup_bars": 0,
                                          "trade_notional": 500})).start()
    try:
        _wait(lambda: len([o for o in peer.orders() if o["status"] == "NEW"]) == 2, 40, "the grid resting")
        sell = max(float(o["price"]) for o in peer.orders() if o["status"] == "NEW")
        peer.drop_connections(refuse_for=3.0)
        peer.set_price("BTCUSDT", sell + 1, sell + 1.1)
        assert len(peer.executions()) == 2, "the sell filled at the peer while the client was away"
        _wait(lambda: runner.status().fills >= 2, 40, "the reconciled fill")
        _wait(lambda: peer.user_streams == 1 and peer.reconnects >= 1, 20, "the user data stream back")
        _wait(lambda: "feed.reconnected" in _stages(runner), 20, "feed.reconnected")
        stages = _stages(runner)
        assert "feed.stale" in stages and stages.index("feed.stale") < stages.index("feed.reconnected")
        _wait(lambda: any(o["status"] == "NEW" and o["side"] == "BUY" and o["orderId"] > 4_000_003
                          for o in peer.orders()), 20, "the grid re-placing a buy after the fill")
        bars = runner.status().bars
        _wait(lambda: runner.status().bars > bars + 2, 20, "bars after the reconnect")
        assert runner.state == "running", runner.last_error
    finally:
        runner.stop()
    _assert_fills_are_the_peers_trades(runner, peer)
    assert runner.status().fills == 2


def test_backtest_like_a_testnet_session_uses_binances_fees(peer: BinancePeer) -> None:
    """``backtest --like`` re-runs the session's bars on BINANCE with Binance's 0.1% schedule; compare works."""
    runner = SessionRunner(_spec("ema_cross", {"fast": 1, "slow": 2, "warmup_bars": 0, "trade_notional": 1000})).start()
    try:
        _wait(lambda: runner.status().fills >= 3 and runner.status().bars >= 12, 60, "a few trades and bars")
    finally:
        runner.stop()
    backtest_id = kernelext.backtest(like=runner.session_id)
    bt = frames.fills(backtest_id)
    assert bt.height > 0 and set(bt["fee_currency"]) == {"USDT"}
    assert bt["instrument"].unique().to_list() == [INSTRUMENT]
    for row in bt.iter_rows(named=True):
        assert row["fee"] == pytest.approx(row["price"] * row["qty"] * 0.001, rel=1e-3)
    assert kernelext.compare(backtest_id, runner.session_id).assessment


def test_a_relaunched_session_continues_with_the_testnets_orders(peer: BinancePeer) -> None:
    """The first run dies with its grid resting at the venue (its cancels fail, as after a crash);
    the relaunch (same session, restored) claims those orders instead of laying a second grid,
    and one of them filling is recorded once, the grid re-placing its buy. In a process where a
    simulated exchange ran on BINANCE (a backtest, binance-sim), the testnet's account stays the
    venue's own (reported), so the fill is not counted twice (AccountBalanceNegative)."""
    AccountFactory.register_calculated_account("BINANCE")  # as a backtest on BINANCE does, process-wide
    peer.set_price("BTCUSDT", BID, ASK)
    spec = _spec("grid", {"step_pct": 0.5, "levels": 1, "warmup_bars": 0, "trade_notional": 500})
    first = SessionRunner(spec).start()
    _wait(lambda: len([o for o in peer.orders() if o["status"] == "NEW"]) == 2, 40, "the grid resting")
    peer.refuse_cancels = True
    first.stop()
    peer.refuse_cancels = False
    resting = [o["clientOrderId"] for o in peer.orders() if o["status"] == "NEW"]
    assert len(resting) == 2
    again = SessionRunner(spec, session_id=first.session_id, existing=True, restore=True).start()
    try:
        _wait(lambda: again.status().bars >= 3, 30, "the relaunch trading")
        assert len(peer.orders()) == 3, "no second grid: the relaunch continues with the venue's orders"
        cache = again.node.kernel.cache
        claimed = {o.client_order_id.value: o.strategy_id.value for o in cache.orders_open()}
        assert claimed == dict.fromkeys(resting, "Grid-001"), "the grid's own orders again"
        account = cache.account_for_venue(Venue("BINANCE"))
        assert account is not None and not account.calculate_account_state, "the venue's reported account"
        sell = max(float(o["price"]) for o in peer.orders() if o["status"] == "NEW")
        peer.set_price("BTCUSDT", sell + 1, sell + 1.1)
        _wait(lambda: any(o["side"] == "BUY" and o["status"] == "NEW" and o["clientOrderId"] not in resting
                          for o in peer.orders()), 30, "the grid re-placing its buy after the fill")
        assert again.state == "running", again.last_error
    finally:
        again.stop()
    assert again.state == "stopped", again.last_error
    _assert_fills_are_the_peers_trades(again, peer)
