"""The Binance peer on its own: its REST bodies and WebSocket events decode with NautilusTrader's
own Binance msgspec structs (real field names), signatures are checked, the switches work."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import msgspec
import pytest
import tornado.httpclient
import tornado.websocket
from nautilus_trader.adapters.binance.common.schemas.account import BinanceOrder, BinanceUserTrade
from nautilus_trader.adapters.binance.common.schemas.market import BinanceQuoteMsg
from nautilus_trader.adapters.binance.spot.schemas.account import BinanceSpotAccountInfo
from nautilus_trader.adapters.binance.spot.schemas.market import BinanceSpotExchangeInfo, BinanceSpotTradeMsg
from nautilus_trader.adapters.binance.spot.schemas.user import BinanceSpotAccountUpdateMsg, BinanceSpotOrderUpdateData

from tests.peers.binance_peer import BinancePeer, sign

KEY, SECRET = "peer-test-key", "peer-test-secret"


@pytest.fixture
def peer() -> Iterator[BinancePeer]:
    with BinancePeer(api_key=KEY, api_secret=SECRET, tick_interval=0.02) as p:
        yield p


def _call(peer: BinancePeer, method: str, path: str, *, secret: str = SECRET, **params: object) -> tuple[int, object]:
    query = urllib.parse.urlencode({**params, "timestamp": int(time.time() * 1000)})
    query += f"&signature={sign(secret, query)}"
    request = urllib.request.Request(f"{peer.http_url}/api/v3/{path}?{query}", method=method,
                                     headers={"X-MBX-APIKEY": KEY})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_rest_bodies_decode_with_nautilus_structs(peer: BinancePeer) -> None:
    with urllib.request.urlopen(f"{peer.http_url}/api/v3/exchangeInfo?symbol=BTCUSDT", timeout=5) as r:
        info = msgspec.json.decode(r.read(), type=BinanceSpotExchangeInfo)
    assert [s.symbol for s in info.symbols] == ["BTCUSDT"]
    status, account = _call(peer, "GET", "account")
    assert status == 200
    assert msgspec.convert(account, BinanceSpotAccountInfo).canTrade
    status, order = _call(peer, "POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000",
                          newClientOrderId="c-1")
    assert status == 200, order
    parsed = msgspec.convert(order, BinanceOrder)
    assert parsed.status.value == "FILLED" and parsed.executedQty == "0.01000000"
    _, trades = _call(peer, "GET", "myTrades", symbol="BTCUSDT")
    trade = msgspec.convert(trades[0], BinanceUserTrade)
    assert (trade.commissionAsset, float(trade.commission)) == ("USDT", pytest.approx(float(trade.price) * 0.01 * 0.001))


def test_signatures_and_keys_are_checked(peer: BinancePeer) -> None:
    assert _call(peer, "GET", "account", secret="wrong") == (400, {"code": -1022,
                                                                    "msg": "Signature for this request is not valid."})
    request = urllib.request.Request(f"{peer.http_url}/api/v3/openOrders", headers={"X-MBX-APIKEY": "other"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=5)
    assert e.value.code == 401


def test_switches_reject_and_split(peer: BinancePeer) -> None:
    peer.reject_next()
    status, body = _call(peer, "POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000")
    assert (status, body["code"]) == (400, -2010)
    peer.split_next(2)
    status, body = _call(peer, "POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000")
    assert body["status"] == "PARTIALLY_FILLED" and body["executedQty"] == "0.00500000"
    deadline = time.monotonic() + 5
    while peer.orders()[-1]["status"] != "FILLED" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [float(t["qty"]) for t in peer.executions()] == [0.005, 0.005]
    free_usdt = peer.balances()["USDT"]
    spent = sum(float(t["quoteQty"]) + float(t["commission"]) for t in peer.executions())
    assert free_usdt == (pytest.approx(10_000 - spent), 0.0), "nothing stays locked after the fill"


def test_user_stream_events_and_market_streams_decode_and_drop(peer: BinancePeer) -> None:
    async def run() -> None:
        api = await tornado.websocket.websocket_connect(peer.ws_api_url)
        ts = int(time.time() * 1000)
        api.write_message(json.dumps({"id": "1", "method": "session.logon", "params": {
            "apiKey": KEY, "timestamp": ts, "signature": sign(SECRET, f"apiKey={KEY}&timestamp={ts}")}}))
        assert json.loads(await api.read_message())["status"] == 200
        api.write_message(json.dumps({"id": "2", "method": "userDataStream.subscribe"}))
        sub = json.loads(await api.read_message())["result"]["subscriptionId"]
        market = await tornado.websocket.websocket_connect(f"{peer.ws_url}/stream?streams=btcusdt@trade")
        market.write_message(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 3}))
        kinds: set[str] = set()
        while kinds != {"btcusdt@trade", "btcusdt@bookTicker"}:
            frame = json.loads(await market.read_message())
            if "stream" in frame:
                kinds.add(frame["stream"])
                raw = json.dumps(frame).encode()
                decoder = BinanceSpotTradeMsg if frame["stream"].endswith("@trade") else BinanceQuoteMsg
                msgspec.json.decode(raw, type=decoder)
        await asyncio.get_running_loop().run_in_executor(None, lambda: _call(
            peer, "POST", "order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01000"))
        events = [json.loads(await api.read_message()) for _ in range(3)]
        assert {e["subscriptionId"] for e in events} == {sub}
        new, trade = (msgspec.json.decode(json.dumps(e["event"]).encode(), type=BinanceSpotOrderUpdateData)
                      for e in events[:2])
        assert (new.x.value, trade.x.value, trade.X.value) == ("NEW", "TRADE", "FILLED")
        balances = msgspec.json.decode(json.dumps(events[2]["event"]).encode(), type=BinanceSpotAccountUpdateMsg)
        assert {b.a for b in balances.B} == {"BTC", "USDT"}
        await asyncio.get_running_loop().run_in_executor(None, lambda: peer.drop_connections(refuse_for=1.0))
        for conn in (api, market):
            buffered = 0
            while await conn.read_message() is not None:  # frames sent before the reset, then the end
                buffered += 1
                assert buffered < 500
        with pytest.raises(tornado.httpclient.HTTPClientError, match="503"):
            await tornado.websocket.websocket_connect(peer.ws_api_url)

    asyncio.run(run())
    assert peer.requests.count("WS session.logon") == 1 and peer.user_streams == 0
