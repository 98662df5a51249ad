"""NautilusTrader's real Kraken adapter against the local Kraken peer (127.0.0.1 only).

A ``TradingNode`` with just the Kraken data client runs in its own thread and loop (as
``kernelext.session.runner`` does); a small actor counts the quotes and trades it receives.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import kernelext.compat  # noqa: F401  (first: puts back the host's loop policy)
import pytest
from kernelext.compat import new_node_loop
from kernelext.session.node import process_logging
from nautilus_trader.adapters.kraken import KrakenDataClientConfig, KrakenLiveDataClientFactory
from nautilus_trader.common.actor import Actor
from nautilus_trader.config import ActorConfig, InstrumentProviderConfig, TradingNodeConfig
from nautilus_trader.core.nautilus_pyo3 import KrakenProductType
from nautilus_trader.live.node import TradingNode
from nautilus_trader.model.data import Bar, BarType, QuoteTick, TradeTick
from nautilus_trader.model.identifiers import InstrumentId
from tornado.websocket import websocket_connect

from tests.peers.kraken_peer import KrakenPeer

BTC = InstrumentId.from_str("BTC/USD.KRAKEN")
BARS_1M = BarType.from_str("BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


class Counter(Actor):
    """Subscribes to BTC/USD quotes and trades; keeps (bid, ask) and (price, qty, id, ts_init) tuples.

    Prices go through ``str``: ``Price.as_double()`` is off in the last bits (65001.40000000001).
    """

    def __init__(self) -> None:
        super().__init__(ActorConfig(component_id="PeerCounter"))
        self.quotes: list[tuple[float, float]] = []
        self.trades: list[tuple[float, float, str, int]] = []
        self.history: list[Bar] = []

    def on_start(self) -> None:
        self.subscribe_quote_ticks(BTC)
        self.subscribe_trade_ticks(BTC)

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quotes.append((float(str(tick.bid_price)), float(str(tick.ask_price))))

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.trades.append((float(str(tick.price)), float(str(tick.size)), tick.trade_id.value, tick.ts_init))

    def on_historical_data(self, data: Any) -> None:
        if isinstance(data, Bar):
            self.history.append(data)


class NodeThread:
    """A TradingNode with the Kraken data client, built and run on its own thread and loop."""

    def __init__(self, peer: KrakenPeer) -> None:
        self.peer, self.actor = peer, Counter()
        self.node: TradingNode | None = None
        self.loop = new_node_loop()
        self.thread = threading.Thread(target=self._main, name="kraken-peer-node", daemon=True)
        self.error: BaseException | None = None

    def _config(self) -> TradingNodeConfig:
        kraken = KrakenDataClientConfig(
            base_url_http_spot=self.peer.http_url,
            base_url_ws_spot=self.peer.ws_url,
            base_url_ws_l3_spot=self.peer.ws_url,
            product_types=(KrakenProductType.SPOT,),
            instrument_provider=InstrumentProviderConfig(load_ids=frozenset({BTC.value})),
        )
        return TradingNodeConfig(
            trader_id="PEER-001",
            logging=process_logging("PEER-001"),
            data_clients={"KRAKEN": kraken},
            timeout_connection=15.0,
            timeout_disconnection=2.0,
            timeout_post_stop=0.1,
            timeout_shutdown=2.0,
        )

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            node = TradingNode(config=self._config(), loop=self.loop)
            node.add_data_client_factory("KRAKEN", KrakenLiveDataClientFactory)
            node.trader.add_actor(self.actor)
            node.build()
            self.node = node
            self.loop.run_until_complete(node.run_async())
        except BaseException as e:  # noqa: BLE001  (reported to the test)
            self.error = e

    def start(self) -> NodeThread:
        self.thread.start()
        wait_for(lambda: self.error is not None or (self.node is not None and self.node.trader.is_running),
                 30, "the node to run")
        if self.error:
            raise self.error
        return self

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        if self.node is not None and not self.loop.is_closed():
            asyncio.run_coroutine_threadsafe(self.node.stop_async(), self.loop).result(15)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if self.node is not None:
            self.node.dispose()


@pytest.fixture(scope="module")
def peer() -> Iterator[KrakenPeer]:
    with KrakenPeer() as p:
        yield p


@pytest.fixture(scope="module")
def node(peer: KrakenPeer) -> Iterator[NodeThread]:
    n = NodeThread(peer).start()
    try:
        yield n
    finally:
        n.stop()


# -- the peer on its own (raw HTTP / WebSocket) ---------------------------------------------------


def get_json(peer: KrakenPeer, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(peer.http_url + path, timeout=5) as r:
        return json.loads(r.read())


def test_rest_envelopes(peer: KrakenPeer) -> None:
    pairs = get_json(peer, "/0/public/AssetPairs")
    assert pairs["error"] == [] and {"XXBTZUSD", "XETHZUSD", "SOLUSD", "XXBTZEUR"} <= set(pairs["result"])
    assert pairs["result"]["XXBTZUSD"]["wsname"] == "XBT/USD"
    assert get_json(peer, "/0/public/AssetPairs?aclass_base=tokenized_asset") == {"error": [], "result": {}}
    assert get_json(peer, "/0/public/OHLC?pair=NOPE&interval=1") == {"error": ["EQuery:Unknown asset pair"], "result": {}}
    ohlc = get_json(peer, "/0/public/OHLC?pair=XXBTZUSD&interval=1&since=0")["result"]
    assert len(ohlc["XXBTZUSD"]) == 720 and isinstance(ohlc["last"], int)
    depth = get_json(peer, "/0/public/Depth?pair=XXBTZUSD&count=5")["result"]["XXBTZUSD"]
    assert len(depth["bids"]) == 5 and float(depth["bids"][0][0]) < float(depth["asks"][0][0])


def test_ws_acks_ping_heartbeat_and_silence(peer: KrakenPeer) -> None:
    async def session() -> list[dict[str, Any]]:
        ws = await websocket_connect(peer.ws_url)
        await ws.write_message('{"method":"subscribe","params":{"channel":"ticker","symbol":["ETH/USD"]},"req_id":7}')
        await ws.write_message('{"method":"ping","req_id":8}')
        frames, deadline = [], time.monotonic() + 1.5
        while time.monotonic() < deadline:
            frames.append(json.loads(await ws.read_message()))
        peer.go_silent(0.6)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(ws.read_message(), 0.4)
        frames.append(json.loads(await asyncio.wait_for(ws.read_message(), 2)))
        ws.close()
        return frames

    frames = asyncio.run(session())
    assert frames[0]["channel"] == "status"
    ack = next(f for f in frames if f.get("method") == "subscribe")
    assert ack["success"] and ack["req_id"] == 7 and ack["result"]["symbol"] == "ETH/USD"
    assert ack["time_in"].endswith("Z") and ack["time_out"].endswith("Z")
    assert any(f.get("method") == "pong" and f["req_id"] == 8 for f in frames)
    assert {"channel": "heartbeat"} in frames
    tickers = [f for f in frames if f.get("channel") == "ticker"]
    assert tickers[0]["type"] == "snapshot" and tickers[-1]["type"] == "update"
    assert set(tickers[-1]["data"][0]) == {"symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap",
                                           "low", "high", "change", "change_pct", "timestamp"}
    assert frames[-1].get("channel") in ("ticker", "heartbeat")  # the stream comes back after silence


# -- NautilusTrader's Kraken adapter against the peer ---------------------------------------------


def test_instruments_load_from_asset_pairs(peer: KrakenPeer, node: NodeThread) -> None:
    instrument = node.node.kernel.cache.instrument(BTC)
    assert instrument is not None
    assert instrument.raw_symbol.value == "XXBTZUSD"
    assert (instrument.base_currency.code, instrument.quote_currency.code) == ("XXBT", "ZUSD")
    assert (instrument.price_precision, instrument.size_precision) == (1, 8)
    assert (float(instrument.maker_fee), float(instrument.taker_fee)) == (0.0025, 0.004)
    assert any(r.startswith("/0/public/AssetPairs") for r in peer.http_requests)


def test_quotes_and_trades_carry_the_peers_prices(peer: KrakenPeer, node: NodeThread) -> None:
    actor = node.actor
    wait_for(lambda: len(actor.quotes) >= 20 and len(actor.trades) >= 20, 10, "quotes and trades")
    sent = {(p, q) for p, q, _ in peer.sent_trades("BTC/USD")}
    assert all((p, q) in sent for p, q, _, _ in actor.trades)
    assert all(round(ask - bid, 1) >= 0.1 for bid, ask in actor.quotes)

    peer.set_price("BTC/USD", 64000.0, 64000.5, hold=True)
    try:
        wait_for(lambda: actor.quotes[-1] == (64000.0, 64000.5), 5, "the scripted quote")
        n = len(actor.trades)
        wait_for(lambda: len(actor.trades) >= n + 5, 5, "trades at the scripted quote")
        assert {p for p, _, _, _ in actor.trades[n:]} <= {64000.0, 64000.5}
        # Tick-to-adapter latency: the trade's send time at the peer vs its ts_init in the node.
        sent_ts = {(p, q): ts for p, q, ts in peer.sent_trades("BTC/USD")}
        lags = sorted(ts_init - sent_ts[(p, q)] for p, q, _, ts_init in actor.trades[n:])
        assert lags[len(lags) // 2] < 50_000_000, f"median peer->node latency {lags[len(lags) // 2] / 1e6:.1f} ms"
    finally:
        peer.set_price("BTC/USD", *peer.quote("BTC/USD"))


def test_bar_request_returns_the_peers_ohlc_rows(peer: KrakenPeer, node: NodeThread) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    node.call(node.actor.request_bars, BARS_1M, start)
    wait_for(lambda: len(node.actor.history) >= 30, 10, "the bar request's answer")
    rows = get_json(peer, f"/0/public/OHLC?pair=XXBTZUSD&interval=1&since={int(start.timestamp())}")["result"]
    by_time = {r[0]: r for r in rows["XXBTZUSD"][:-1]}  # the last row is still forming
    matched = 0
    for bar in node.actor.history:
        row = by_time.get(bar.ts_event // 1_000_000_000)
        if row is not None:
            assert row[1:5] == [str(bar.open), str(bar.high), str(bar.low), str(bar.close)]
            assert float(row[6]) == float(str(bar.volume))
            matched += 1
    assert matched >= 29


def test_adapter_reconnects_after_dropped_connections(peer: KrakenPeer, node: NodeThread) -> None:
    reconnects = peer.reconnects
    peer.drop_connections()  # the adapter may be back within milliseconds: no check for 0 here
    dropped_at = len(node.actor.quotes), len(node.actor.trades)
    wait_for(lambda: peer.reconnects > reconnects and {("ticker", "BTC/USD"), ("trade", "BTC/USD")}
             <= peer.subscriptions, 15, "the adapter to reconnect and resubscribe")
    wait_for(lambda: len(node.actor.quotes) > dropped_at[0] + 10 and len(node.actor.trades) > dropped_at[1] + 10,
             10, "data after the reconnect")


def test_malformed_frames_do_not_stop_the_data(peer: KrakenPeer, node: NodeThread) -> None:
    n_quotes, n_trades = len(node.actor.quotes), len(node.actor.trades)
    peer.send_malformed()
    wait_for(lambda: len(node.actor.quotes) > n_quotes + 10 and len(node.actor.trades) > n_trades + 10,
             10, "data after the malformed frames")
    assert (1.0, 2.0) not in node.actor.quotes[n_quotes:]  # the ticker missing fields was dropped
    # (the trade with a string price is accepted by Nautilus 1.231: the peer sends it at the last price)
    assert node.node.trader.is_running


def test_adapter_reconnects_after_silence(peer: KrakenPeer, node: NodeThread) -> None:
    attempts = peer.connection_attempts
    peer.go_silent(11.0)  # the adapter's idle timeout is 10 s without a frame
    n_quotes = len(node.actor.quotes)
    wait_for(lambda: peer.connection_attempts > attempts, 20, "the adapter to reconnect on its idle timeout")
    wait_for(lambda: not peer.silent and len(node.actor.quotes) > n_quotes + 10, 10, "data after the silence")
