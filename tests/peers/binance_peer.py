"""A local Binance Spot peer on 127.0.0.1 (a free port): REST ``/api/v3/*``, the WebSocket API
(``/ws-api/v3``: ``session.logon``, ``userDataStream.subscribe``) and combined market streams
(``/stream?streams=...``), speaking Binance's own wire format so NautilusTrader's real Binance
adapter runs against it::

    with BinancePeer(api_key=K, api_secret=S) as peer:
        BinanceExecClientConfig(base_url_http=peer.http_url, base_url_ws=peer.ws_api_url, ...)
        BinanceDataClientConfig(base_url_http=peer.http_url, base_url_ws=peer.ws_url, ...)

Signed REST calls and ``session.logon`` are checked (API key header, HMAC-SHA256 signature):
wrong keys get Binance's ``-2015`` / ``-1022``. Every REST request and WebSocket API method is
logged in ``requests``. The matching is in ``binance_exchange.py``.

Fault switches for tests: ``drop_connections(refuse_for=s)`` (every WebSocket reset, new ones
refused for ``s``), ``reject_next()`` (the next new order answered with ``-2010``),
``split_next(parts)`` (the next order fills in ``parts`` executions, one per tick).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import tornado.escape
import tornado.web
import tornado.websocket

from tests.peers.loopback import LoopbackPeer
from tests.peers.binance_exchange import Exchange, Execution, Order, RestError, fmt, now_ms

KLINE_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
SIGNED = {"account", "order", "openOrders", "allOrders", "myTrades", "account/commission"}
KEYED = {"userDataStream"}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def sign(secret: str, payload: str) -> str:
    """Binance's HMAC-SHA256 signature (hex) of ``payload``."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class _Rest(tornado.web.RequestHandler):
    def initialize(self, peer: BinancePeer) -> None:
        self.peer = peer

    def _answer(self, path: str) -> None:
        status, body = self.peer._rest(self.request.method or "GET", path, self.request.query,
                                       self.request.headers.get("X-MBX-APIKEY"))
        self.set_status(status)
        self.set_header("Content-Type", "application/json;charset=UTF-8")
        self.finish(dumps(body))

    get = post = put = delete = _answer


class _Ws(tornado.websocket.WebSocketHandler):
    """One WebSocket: market streams (``kind`` "market") or the WebSocket API ("api")."""

    def initialize(self, peer: BinancePeer, kind: str) -> None:
        self.peer, self.kind = peer, kind
        self.streams: set[str] = set()
        self.subscription: int | None = None  # the user data stream subscription (WebSocket API)
        self.logged_on = False

    def check_origin(self, origin: str) -> bool:
        return True

    def prepare(self) -> None:
        if time.monotonic() < self.peer._refuse_until:
            raise tornado.web.HTTPError(503)

    def open(self, *args: str) -> None:
        self.peer._on_open(self)

    def on_message(self, message: str | bytes) -> None:
        self.peer._on_message(self, message)

    def on_close(self) -> None:
        self.peer._on_close(self)


class BinancePeer(LoopbackPeer):
    """Binance Spot REST, WebSocket API and market streams, in its own thread and loop.

    ``active`` symbols move every ``tick_interval`` (a public trade, a book ticker, and any
    working order that the new quote reaches fills); the others stand at their start quote.
    """

    def __init__(self, *, api_key: str = "peer-key", api_secret: str = "peer-secret",
                 balances: dict[str, float] | None = None, active: tuple[str, ...] = ("BTCUSDT",),
                 seed: int = 1, tick_interval: float = 0.05) -> None:
        super().__init__()
        self.api_key, self._secret = api_key, api_secret
        self.exchange = Exchange(balances or {"USDT": 10_000.0, "BTC": 0.0, "ETH": 0.0}, seed)
        self.active = active
        self.tick_interval = tick_interval
        self.requests: list[str] = []  # "METHOD path" of every REST call, "WS method" of every WS API call
        self.reconnects = 0  # WebSocket API connections opened after one was lost
        self._rejects: list[tuple[int, str]] = []
        self.refuse_cancels = False  # cancels answered -2011 (orders stay, as after a crash)
        self._refuse_until = 0.0
        self._lock = threading.RLock()
        self._lost_api = False
        self._next_sub = 0

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """Market streams: the adapter appends ``/stream?streams=...``."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def ws_api_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws-api/v3"

    NAME = "Binance"

    def routes(self) -> list[tuple]:
        return [
            (r"/api/v3/(.+)", _Rest, {"peer": self}),
            (r"/stream", _Ws, {"peer": self, "kind": "market"}),
            (r"/ws-api/v3", _Ws, {"peer": self, "kind": "api"}),
        ]

    def background(self) -> list:
        return [self._tick_loop()]

    # -- state and switches for tests (any thread) -------------------------------------------------

    def quote(self, symbol: str = "BTCUSDT") -> tuple[float, float]:
        with self._lock:
            m = self.exchange.market(symbol)
            return float(m.bid), float(m.ask)

    def set_price(self, symbol: str, bid: float, ask: float, *, hold: bool = True) -> None:
        """Put the touch at ``bid``/``ask`` now (held until the next call unless ``hold=False``);
        resting orders it reaches fill at once."""
        def move() -> None:
            with self._lock:
                self.exchange.market(symbol).set_quote(bid, ask, hold)
            self._publish_quote(symbol)
            self._match_working(symbol)

        self._run_on_loop(move)

    def executions(self) -> list[dict[str, Any]]:
        """Every account trade, as ``myTrades`` rows, oldest first."""
        with self._lock:
            return [e.as_rest() for e in self.exchange.account.executions]

    def orders(self) -> list[dict[str, Any]]:
        with self._lock:
            return [o.as_rest() for o in self.exchange.account.orders.values()]

    def balances(self) -> dict[str, tuple[float, float]]:
        with self._lock:
            return {a: (float(f), float(lk)) for a, (f, lk) in self.exchange.account.balances.items()}

    def reject_next(self, code: int = -2010, msg: str = "Account has insufficient balance for requested action.") -> None:
        """The next new order is answered with this Binance error (HTTP 400)."""
        with self._lock:
            self._rejects.append((code, msg))

    def split_next(self, parts: int = 2) -> None:
        """The next new order fills in ``parts`` executions, one a tick."""
        with self._lock:
            self.exchange.split_next = parts

    def drop_connections(self, refuse_for: float = 0.0) -> None:
        """Reset every WebSocket (TCP RST, no close frame) and refuse new ones for ``refuse_for`` s."""
        self._refuse_until = time.monotonic() + refuse_for
        self._run_on_loop(self._drop_all)

    @property
    def user_streams(self) -> int:
        """WebSocket API connections subscribed to the user data stream now."""
        return sum(1 for c in list(self._conns) if c.subscription is not None)

    @property
    def market_streams(self) -> set[str]:
        return {s for c in list(self._conns) for s in c.streams}

    # -- loop plumbing ----------------------------------------------------------------------------

    def _run_on_loop(self, fn: Callable[[], Any], timeout: float = 5.0) -> None:
        async def run() -> None:
            fn()

        if self._loop is None:
            raise RuntimeError("the peer is not running")
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            for symbol in self.active:
                with self._lock:
                    trade = self.exchange.market(symbol).step(now_ms())
                self._publish(symbol, "trade", {
                    "e": "trade", "E": now_ms(), "s": symbol, "t": trade.trade_id, "p": fmt(trade.price),
                    "q": fmt(trade.qty), "T": trade.ts_ms, "m": trade.buyer_maker, "M": True})
                self._publish_quote(symbol)
                self._match_working(symbol)

    # -- REST -------------------------------------------------------------------------------------

    def _rest(self, method: str, path: str, query: str, key: str | None) -> tuple[int, Any]:
        self.requests.append(f"{method} {path}")
        args = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)
        args = {k: tornado.escape.url_unescape(v) for k, v in args.items()}
        try:
            if path in SIGNED or path in KEYED:
                self._check_key(key)
            if path in SIGNED:
                self._check_signature(query)
            handler = getattr(self, f"_{method.lower()}_{path.replace('/', '_')}", None)
            if handler is None:
                return 404, {"code": -1000, "msg": f"peer: no {method} /api/v3/{path}"}
            with self._lock:
                return 200, handler(args)
        except RestError as e:
            return e.status, e.body()

    def _check_key(self, key: str | None) -> None:
        if key != self.api_key:
            raise RestError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _check_signature(self, query: str) -> None:
        payload, _, signature = query.rpartition("&signature=")
        if not signature or not hmac.compare_digest(signature, sign(self._secret, payload)):
            raise RestError(400, -1022, "Signature for this request is not valid.")

    def _get_ping(self, args: dict[str, str]) -> dict[str, Any]:
        return {}

    def _get_time(self, args: dict[str, str]) -> dict[str, Any]:
        return {"serverTime": now_ms()}

    def _get_exchangeInfo(self, args: dict[str, str]) -> dict[str, Any]:
        wanted = {args["symbol"]} if "symbol" in args else set(json.loads(args.get("symbols", "null")) or [])
        symbols = [m.spec.symbol_info() for m in self.exchange.markets.values()
                   if not wanted or m.spec.symbol in wanted]
        if wanted and not symbols:
            raise RestError(400, -1121, "Invalid symbol.")
        return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": RATE_LIMITS, "exchangeFilters": [],
                "symbols": symbols}

    def _get_depth(self, args: dict[str, str]) -> dict[str, Any]:
        m = self.exchange.market(args.get("symbol", ""))
        return {"lastUpdateId": m.update_id, "bids": [[fmt(m.bid), "1.00000000"]], "asks": [[fmt(m.ask), "1.00000000"]]}

    def _get_ticker_bookTicker(self, args: dict[str, str]) -> dict[str, Any]:
        m = self.exchange.market(args.get("symbol", ""))
        return {"symbol": m.spec.symbol, "bidPrice": fmt(m.bid), "bidQty": "1.00000000", "askPrice": fmt(m.ask),
                "askQty": "1.00000000"}

    def _get_klines(self, args: dict[str, str]) -> list[Any]:
        """Klines of the peer's own tape (its printed trades), oldest first, as Binance's rows."""
        m = self.exchange.market(args.get("symbol", ""))
        step = KLINE_MS.get(args.get("interval", ""))
        if step is None:
            raise RestError(400, -1120, "Invalid interval.")
        start, end = int(args.get("startTime", 0)), int(args.get("endTime", now_ms()))
        bars: dict[int, list[Any]] = {}
        for t in m.tape:
            if start <= t.ts_ms <= end:
                bar = bars.setdefault(t.ts_ms // step * step, [t.price, t.price, t.price, t.price, 0, 0, 0])
                bar[1], bar[2], bar[3] = max(bar[1], t.price), min(bar[2], t.price), t.price
                bar[4], bar[5], bar[6] = bar[4] + t.qty, bar[5] + t.qty * t.price, bar[6] + 1
        rows = [[o, fmt(b[0]), fmt(b[1]), fmt(b[2]), fmt(b[3]), fmt(b[4]), o + step - 1, fmt(b[5]), b[6], fmt(0),
                 fmt(0), "0"] for o, b in sorted(bars.items())
                if start <= o <= end and o + step <= now_ms()]  # opening in the window, closed
        return rows[-int(args.get("limit", 500)):]

    def _get_account(self, args: dict[str, str]) -> dict[str, Any]:
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                    "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms(),
                "accountType": "SPOT", "balances": self.exchange.account.balance_rows(), "permissions": ["SPOT"],
                "uid": 1}

    def _post_order(self, args: dict[str, str]) -> dict[str, Any]:
        if self._rejects:
            code, msg = self._rejects.pop(0)
            raise RestError(400, code, msg)
        order = self.exchange.new_order(args, now_ms())
        self._report(order, "NEW")
        execution = self.exchange.match(order, now_ms())
        fills = []
        if execution is not None:
            self._report_execution(execution)
            fills.append({"price": fmt(execution.price), "qty": fmt(execution.qty),
                          "commission": fmt(execution.commission), "commissionAsset": execution.commission_asset,
                          "tradeId": execution.trade_id})
        if order.status in ("NEW", "PARTIALLY_FILLED") and order.type == "LIMIT":
            self.exchange.rest(order, now_ms())
        return {**order.as_rest(), "transactTime": now_ms(), "fills": fills}

    def _delete_order(self, args: dict[str, str]) -> dict[str, Any]:
        if self.refuse_cancels:
            raise RestError(400, -2011, "Unknown order sent.")
        order = self.exchange.cancel(args.get("symbol", ""), _int(args.get("orderId")),
                                     args.get("origClientOrderId"), now_ms())
        self._report(order, "CANCELED")
        self._send_balances(order.symbol)
        return {**order.as_rest(), "origClientOrderId": order.client_order_id, "transactTime": now_ms()}

    def _delete_openOrders(self, args: dict[str, str]) -> list[dict[str, Any]]:
        if self.refuse_cancels:
            raise RestError(400, -2011, "Unknown order sent.")
        symbol = args.get("symbol", "")
        self.exchange.market(symbol)
        canceled = [self.exchange.cancel(symbol, o.order_id, None, now_ms())
                    for o in self.exchange.working() if o.symbol == symbol]
        for order in canceled:
            self._report(order, "CANCELED")
        if canceled:
            self._send_balances(symbol)
        return [{**o.as_rest(), "origClientOrderId": o.client_order_id} for o in canceled]

    def _get_order(self, args: dict[str, str]) -> dict[str, Any]:
        order = self.exchange.find(args.get("symbol", ""), _int(args.get("orderId")), args.get("origClientOrderId"))
        if order is None:
            raise RestError(400, -2013, "Order does not exist.")
        return order.as_rest()

    def _get_openOrders(self, args: dict[str, str]) -> list[dict[str, Any]]:
        symbol = args.get("symbol")
        return [o.as_rest() for o in self.exchange.working() if symbol in (None, o.symbol)]

    def _get_allOrders(self, args: dict[str, str]) -> list[dict[str, Any]]:
        symbol = args.get("symbol", "")
        self.exchange.market(symbol)
        return [o.as_rest() for o in self.exchange.account.orders.values() if o.symbol == symbol]

    def _get_myTrades(self, args: dict[str, str]) -> list[dict[str, Any]]:
        symbol = args.get("symbol", "")
        self.exchange.market(symbol)
        start = int(args.get("startTime", 0))
        return [e.as_rest() for e in self.exchange.account.executions
                if e.order.symbol == symbol and e.time_ms >= start]

    def _post_userDataStream(self, args: dict[str, str]) -> dict[str, Any]:
        return {"listenKey": "pqia91ma19a5s61cv6a81va65sdf19v8a65a1a5s61cv6a81va65sdf19v8a65a1"}

    def _put_userDataStream(self, args: dict[str, str]) -> dict[str, Any]:
        return {}

    def _delete_userDataStream(self, args: dict[str, str]) -> dict[str, Any]:
        return {}

    # -- WebSocket: connections -------------------------------------------------------------------

    def _on_open(self, conn: _Ws) -> None:
        with self._lock:
            self._conns.add(conn)
            if conn.kind == "api" and self._lost_api:
                self.reconnects += 1
        if conn.kind == "market":
            streams = conn.get_query_argument("streams", "")
            conn.streams.update(s for s in streams.split("/") if s)

    def _on_close(self, conn: _Ws) -> None:
        with self._lock:
            self._conns.discard(conn)
            if conn.kind == "api":
                self._lost_api = True

    def _on_message(self, conn: _Ws, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
        except ValueError:
            return self._send(conn, {"id": None, "status": 400, "error": {"code": -1100, "msg": "Malformed request."}})
        if conn.kind == "market":
            return self._market_request(conn, msg)
        method, req_id, params = msg.get("method"), msg.get("id"), msg.get("params") or {}
        self.requests.append(f"WS {method}")
        try:
            result = self._api_request(conn, method, params)
        except RestError as e:
            return self._send(conn, {"id": req_id, "status": e.status, "error": e.body()})
        self._send(conn, {"id": req_id, "status": 200, "result": result, "rateLimits": []})

    def _market_request(self, conn: _Ws, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params") or []
        if method == "SUBSCRIBE":
            conn.streams.update(params)
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
        elif method == "LIST_SUBSCRIPTIONS":
            return self._send(conn, {"result": sorted(conn.streams), "id": msg.get("id")})
        self._send(conn, {"result": None, "id": msg.get("id")})

    def _api_request(self, conn: _Ws, method: Any, params: dict[str, Any]) -> dict[str, Any]:
        if method == "session.logon":
            payload = f"apiKey={params.get('apiKey')}&timestamp={params.get('timestamp')}"
            if params.get("apiKey") != self.api_key:
                raise RestError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            if not hmac.compare_digest(str(params.get("signature", "")), sign(self._secret, payload)):
                raise RestError(400, -1022, "Signature for this request is not valid.")
            conn.logged_on = True
            return {"apiKey": self.api_key, "authorizedSince": now_ms(), "connectedSince": now_ms(),
                    "returnRateLimits": False, "serverTime": now_ms(), "userDataStream": False}
        if method in ("session.status", "session.logout"):
            conn.logged_on = conn.logged_on and method == "session.status"
            return {"apiKey": self.api_key if conn.logged_on else None, "serverTime": now_ms()}
        if method == "userDataStream.subscribe":
            if not conn.logged_on:
                raise RestError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            with self._lock:
                conn.subscription, self._next_sub = self._next_sub, self._next_sub + 1
            return {"subscriptionId": conn.subscription}
        if method == "userDataStream.unsubscribe":
            conn.subscription = None
            return {}
        raise RestError(400, -1100, f"Unknown method {method!r}.")

    def _send(self, conn: _Ws, frame: dict[str, Any]) -> None:
        try:
            future = conn.write_message(dumps(frame))
        except tornado.websocket.WebSocketClosedError:
            return
        future.add_done_callback(lambda f: f.exception())

    # -- WebSocket: market streams and user events ------------------------------------------------

    def _publish(self, symbol: str, kind: str, data: dict[str, Any]) -> None:
        stream = f"{symbol.lower()}@{kind}"
        for conn in list(self._conns):
            if stream in conn.streams:
                self._send(conn, {"stream": stream, "data": data})

    def _publish_quote(self, symbol: str) -> None:
        with self._lock:
            m = self.exchange.market(symbol)
            data = {"u": m.update_id, "s": symbol, "b": fmt(m.bid), "B": "1.50000000", "a": fmt(m.ask),
                    "A": "1.20000000"}
        self._publish(symbol, "bookTicker", data)

    def _match_working(self, symbol: str) -> None:
        with self._lock:
            done = [e for o in self.exchange.working() if o.symbol == symbol
                    if (e := self.exchange.match(o, now_ms())) is not None]
        for execution in done:
            self._report_execution(execution)

    def _user_event(self, event: dict[str, Any]) -> None:
        for conn in list(self._conns):
            if conn.kind == "api" and conn.subscription is not None:
                self._send(conn, {"subscriptionId": conn.subscription, "event": event})

    def _report(self, order: Order, kind: str, execution: Execution | None = None) -> None:
        """An ``executionReport`` for ``order`` (``kind``: NEW, TRADE, CANCELED)."""
        t = now_ms()
        cancel = kind == "CANCELED"
        event = {
            "e": "executionReport", "E": t, "s": order.symbol,
            "c": f"web_{order.order_id}" if cancel else order.client_order_id, "S": order.side, "o": order.type,
            "f": order.time_in_force, "q": fmt(order.orig_qty), "p": fmt(order.price), "P": fmt(0), "F": fmt(0),
            "g": -1, "C": order.client_order_id if cancel else "", "x": kind, "X": order.status, "r": "NONE",
            "i": order.order_id, "l": fmt(execution.qty if execution else 0), "z": fmt(order.executed),
            "L": fmt(execution.price if execution else 0),
            "n": fmt(execution.commission if execution else 0),
            "N": execution.commission_asset if execution else None,
            "T": execution.time_ms if execution else t, "t": execution.trade_id if execution else -1,
            "I": order.order_id * 2, "w": order.status in ("NEW", "PARTIALLY_FILLED"),
            "m": execution.maker if execution else False, "M": execution is not None, "O": order.time_ms,
            "Z": fmt(order.cum_quote), "Y": fmt(execution.price * execution.qty if execution else 0),
            "Q": fmt(0), "W": order.time_ms, "V": "EXPIRE_MAKER",
        }
        self._user_event(event)

    def _report_execution(self, execution: Execution) -> None:
        self._report(execution.order, "TRADE", execution)
        self._send_balances(execution.order.symbol)

    def _send_balances(self, symbol: str) -> None:
        with self._lock:
            spec = self.exchange.market(symbol).spec
            rows = self.exchange.account.balance_rows({spec.base, spec.quote})
        t = now_ms()
        self._user_event({"e": "outboundAccountPosition", "E": t, "u": t,
                          "B": [{"a": r["asset"], "f": r["free"], "l": r["locked"]} for r in rows]})

    def _drop_all(self) -> None:
        for conn in list(self._conns):
            stream = conn.ws_connection.stream if conn.ws_connection else None
            if stream is not None and stream.socket is not None:
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                stream.close()
            self._on_close(conn)


def _int(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None


