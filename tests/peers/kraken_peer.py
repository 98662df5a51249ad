"""A local Kraken spot peer: public REST (``/0/public/*``) and WebSocket v2 on one 127.0.0.1 port.

NautilusTrader's real Kraken adapter connects to it instead of api.kraken.com::

    with KrakenPeer() as peer:
        KrakenDataClientConfig(base_url_http_spot=peer.http_url, base_url_ws_spot=peer.ws_url, ...)

The peer runs tornado in its own thread with its own event loop. Every ``tick_interval``
each active pair takes one step of a seeded random walk (integer ticks, pulled back towards
its start price), prints one trade at the bid or the ask, and streams ticker, trade, book and
ohlc frames to the connections subscribed to that symbol (the symbol string as subscribed).

Fault switches for tests: ``drop_connections()``, ``go_silent(s)``, ``send_malformed()``.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import tornado.web
import tornado.websocket

from tests.peers.loopback import LoopbackPeer

HISTORY_MINUTES = 720  # minute bars made up before the peer starts (Kraken's OHLC answers <= 720 rows)
TAPE_SIZE = 5000  # trades kept for REST /Trades and the trade-channel snapshot
TRADE_SNAPSHOT = 50  # Kraken sends the last 50 trades on a trade subscription unless snapshot=false
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
BOOK_DEPTHS = (10, 25, 100, 500, 1000)


@dataclass(frozen=True)
class PairSpec:
    """One Kraken spot pair as ``/0/public/AssetPairs`` describes it, plus its simulated start."""

    raw: str  # the result key, e.g. "XXBTZUSD": Nautilus's raw_symbol and later `pair=`
    altname: str
    wsname: str  # "XBT/USD": Nautilus maps XBT -> BTC for the instrument id
    base: str
    quote: str
    pair_decimals: int
    tick_size: str
    ordermin: str
    start_mid: float
    lot_decimals: int = 8
    cost_decimals: int = 5
    spread_ticks: int = 1

    @property
    def symbol(self) -> str:
        """The WebSocket v2 / Nautilus symbol, e.g. "BTC/USD"."""
        return normalize_symbol(self.wsname)

    @property
    def tick(self) -> float:
        return float(self.tick_size)

    def asset_pair(self) -> dict[str, Any]:
        """The entry as Kraken's REST API returns it (real field set, real-looking values)."""
        return {
            "altname": self.altname,
            "wsname": self.wsname,
            "aclass_base": "currency",
            "base": self.base,
            "aclass_quote": "currency",
            "quote": self.quote,
            "lot": "unit",
            "cost_decimals": self.cost_decimals,
            "pair_decimals": self.pair_decimals,
            "lot_decimals": self.lot_decimals,
            "lot_multiplier": 1,
            "leverage_buy": [2, 3, 4, 5],
            "leverage_sell": [2, 3, 4, 5],
            "fees": [[0, 0.40], [10000, 0.35], [50000, 0.24]],
            "fees_maker": [[0, 0.25], [10000, 0.20], [50000, 0.14]],
            "fee_volume_currency": "ZUSD",
            "margin_call": 80,
            "margin_stop": 40,
            "ordermin": self.ordermin,
            "costmin": "0.5",
            "tick_size": self.tick_size,
            "status": "online",
        }


CATALOG: tuple[PairSpec, ...] = (
    PairSpec("XXBTZUSD", "XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1, "0.1", "0.00005", 65000.0),
    PairSpec("XETHZUSD", "ETHUSD", "ETH/USD", "XETH", "ZUSD", 2, "0.01", "0.002", 3200.0),
    PairSpec("SOLUSD", "SOLUSD", "SOL/USD", "SOL", "ZUSD", 2, "0.01", "0.02", 150.0),
    PairSpec("XXBTZEUR", "XBTEUR", "XBT/EUR", "XXBT", "ZEUR", 1, "0.1", "0.00005", 60000.0),
)


def normalize_symbol(symbol: str) -> str:
    """Kraken's legacy asset codes to the v2 ones: "XBT/USD" -> "BTC/USD", "XDG/USD" -> "DOGE/USD"."""
    return "/".join({"XBT": "BTC", "XDG": "DOGE"}.get(p, p) for p in symbol.split("/"))


def rfc3339(ns: int, digits: int = 6) -> str:
    """``2026-01-01T00:00:00.123456Z`` (``digits`` fractional digits)."""
    whole = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{ns % 1_000_000_000:09d}"[:digits - 9 or None] + "Z" if digits else whole + "Z"


def dumps(obj: Any) -> str:
    """Compact JSON, as Kraken sends it (the adapter fast-paths ``{"channel":"heartbeat"}``)."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass
class Trade:
    price: float
    qty: float
    side: str  # "buy" | "sell"
    ord_type: str  # "market" | "limit"
    trade_id: int
    ts_ns: int


@dataclass
class MinuteBar:
    """An OHLC row; ``time`` is the open time in unix seconds."""

    time: int
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0
    notional: float = 0.0
    count: int = 0

    def add(self, price: float, qty: float) -> None:
        self.high, self.low, self.close = max(self.high, price), min(self.low, price), price
        self.volume += qty
        self.notional += price * qty
        self.count += 1

    @property
    def vwap(self) -> float:
        return self.notional / self.volume if self.volume else self.close


def merge_bars(bars: list[MinuteBar], start: int) -> MinuteBar:
    """Minute bars -> one bar of a larger interval opening at ``start``."""
    return MinuteBar(
        start,
        bars[0].open,
        max(b.high for b in bars),
        min(b.low for b in bars),
        bars[-1].close,
        sum(b.volume for b in bars),
        sum(b.notional for b in bars),
        sum(b.count for b in bars),
    )


class Market:
    """One pair's price path, tape and minute bars. Callers hold the peer's lock."""

    def __init__(self, spec: PairSpec, seed: int, now_ns: int) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.raw}")
        self.start_ticks = round(spec.start_mid / spec.tick)
        self.bid_t = self.start_ticks - spec.spread_ticks // 2
        self.ask_t = self.bid_t + spec.spread_ticks
        self.sigma_ticks = max(1.0, spec.start_mid * 0.00003 / spec.tick)
        self.hold = False
        self.thin: tuple[float, float, float] | None = None  # (best level qty, deeper level qty, trade qty)
        self.trade_id = self.rng.randint(10_000_000, 90_000_000)
        self.tape: deque[Trade] = deque(maxlen=TAPE_SIZE)
        self.sent: list[tuple[float, float, int]] = []
        minute = now_ns // 1_000_000_000 // 60 * 60
        self.bars: deque[MinuteBar] = deque(self._backfill(minute, seed), maxlen=2 * HISTORY_MINUTES)
        mid = self.price(self.bid_t)
        self.current = MinuteBar(minute, mid, mid, mid, mid)
        self.last = mid

    # -- prices -----------------------------------------------------------------------------------

    def price(self, ticks: int) -> float:
        return round(ticks * self.spec.tick, self.spec.pair_decimals)

    @property
    def bid(self) -> float:
        return self.price(self.bid_t)

    @property
    def ask(self) -> float:
        return self.price(self.ask_t)

    def level_qty(self, ticks: int) -> float:
        """A stable, made-up size for the level at ``ticks`` (the same price keeps its size);
        a thin book (``set_depth``) has its own sizes: the best levels, then every deeper one."""
        if self.thin is not None:
            return self.thin[0] if ticks in (self.bid_t, self.ask_t) else self.thin[1]
        return round(0.05 + (ticks * 2654435761 % 997) / 200 * (65000.0 / self.spec.start_mid), 4)

    def set_quote(self, bid: float, ask: float, hold: bool) -> None:
        bid_t, ask_t = round(bid / self.spec.tick), round(ask / self.spec.tick)
        if ask_t <= bid_t:
            raise ValueError(f"ask {ask} must be above bid {bid} by at least one tick")
        self.bid_t, self.ask_t, self.hold = bid_t, ask_t, hold

    # -- the path ---------------------------------------------------------------------------------

    def step(self, now_ns: int) -> Trade:
        """Move the quote one random step (unless held) and print one trade at the bid or the ask."""
        if not self.hold:
            pull = -0.002 * (self.bid_t - self.start_ticks)
            move = round(self.rng.gauss(pull, self.sigma_ticks))
            self.bid_t, self.ask_t = self.bid_t + move, self.ask_t + move
        side = "buy" if self.rng.random() < 0.5 else "sell"
        price = self.ask if side == "buy" else self.bid
        qty = round(self.rng.uniform(20.0, 4000.0) / price, 6) if self.thin is None else self.thin[2]
        self.trade_id += 1
        trade = Trade(price, qty, side, "market" if self.rng.random() < 0.7 else "limit", self.trade_id, now_ns)
        self._record(trade)
        return trade

    def _record(self, trade: Trade) -> None:
        minute = trade.ts_ns // 1_000_000_000 // 60 * 60
        if minute > self.current.time:
            self.bars.append(self.current)
            self.current = MinuteBar(minute, trade.price, trade.price, trade.price, trade.price)
        self.current.add(trade.price, trade.qty)
        self.last = trade.price
        self.tape.append(trade)
        self.sent.append((trade.price, trade.qty, trade.ts_ns))

    def _backfill(self, minute: int, seed: int) -> list[MinuteBar]:
        """``HISTORY_MINUTES`` made-up minute bars ending where the live path starts."""
        rng, tick = random.Random(f"{seed}:{self.spec.raw}:history"), self.spec.tick
        close, bars = self.price(self.bid_t), []
        for i in range(1, HISTORY_MINUTES + 1):
            open_ = self.price(round(close * (1 + rng.gauss(0, 0.0006)) / tick))
            high = self.price(round(max(open_, close) / tick) + rng.randint(0, 20))
            low = self.price(round(min(open_, close) / tick) - rng.randint(0, 20))
            volume = round(rng.uniform(2000.0, 200000.0) / close, 8)
            vwap = (open_ + high + low + close) / 4
            bars.append(MinuteBar(minute - 60 * i, open_, high, low, close, volume, volume * vwap, rng.randint(5, 80)))
            close = open_
        return bars[::-1]

    # -- views ------------------------------------------------------------------------------------

    def book(self, depth: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """``depth`` levels a side, one tick apart, best first."""
        bids = [(self.price(self.bid_t - i), self.level_qty(self.bid_t - i)) for i in range(depth)]
        asks = [(self.price(self.ask_t + i), self.level_qty(self.ask_t + i)) for i in range(depth)]
        return bids, asks

    def checksum(self, bids: list[tuple[float, float]], asks: list[tuple[float, float]]) -> int:
        """Kraken's book CRC32: top ten asks ascending then top ten bids descending."""

        def fmt(value: float, decimals: int) -> str:
            return f"{value:.{decimals}f}".replace(".", "").lstrip("0") or "0"

        text = "".join(
            fmt(p, self.spec.pair_decimals) + fmt(q, self.spec.lot_decimals) for p, q in asks[:10] + bids[:10]
        )
        return zlib.crc32(text.encode())

    def minute_bars(self) -> list[MinuteBar]:
        return [*self.bars, self.current]

    def ohlc(self, interval: int) -> list[MinuteBar]:
        """Bars of ``interval`` minutes, oldest first; the last one is still forming."""
        if interval == 1:
            return self.minute_bars()
        width, groups = interval * 60, {}
        for bar in self.minute_bars():
            groups.setdefault(bar.time // width * width, []).append(bar)
        return [merge_bars(bars, start) for start, bars in groups.items()]

    def stats(self) -> dict[str, float]:
        """Rolling figures over the bars held (~24 h): volume, vwap, low, high, change, change_pct."""
        bars = self.minute_bars()[-1440:]
        volume = sum(b.volume for b in bars)
        change = self.last - bars[0].open
        return {
            "volume": round(volume, 8),
            "vwap": round(sum(b.notional for b in bars) / volume if volume else self.last, self.spec.pair_decimals),
            "low": min(b.low for b in bars),
            "high": max(b.high for b in bars),
            "change": round(change, self.spec.pair_decimals),
            "change_pct": round(100 * change / bars[0].open, 2),
        }


class ApiError(Exception):
    """A REST call answered with Kraken's error envelope."""


class _RestHandler(tornado.web.RequestHandler):
    def initialize(self, peer: KrakenPeer) -> None:
        self.peer = peer

    def get(self, scope: str, method: str) -> None:
        args = {k: self.get_argument(k) for k in self.request.arguments}
        request = self.request.path + (f"?{self.request.query}" if self.request.query else "")
        status, body = self.peer._rest(scope, method, args, request)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(dumps(body))

    post = get


class _WsHandler(tornado.websocket.WebSocketHandler):
    """One client connection; ``subs`` maps (channel, symbol as subscribed) to its state."""

    def initialize(self, peer: KrakenPeer) -> None:
        self.peer = peer
        self.subs: dict[tuple[str, str], dict[str, Any]] = {}

    def check_origin(self, origin: str) -> bool:
        return True

    def prepare(self) -> None:
        self.peer.connection_attempts += 1

    def open(self, *args: str) -> None:
        self.peer._on_open(self)

    def on_message(self, message: str | bytes) -> None:
        self.peer._on_message(self, message)

    def on_close(self) -> None:
        self.peer._on_close(self)


class KrakenPeer(LoopbackPeer):
    """Kraken spot REST + WebSocket v2 on 127.0.0.1 (a free port), in its own thread.

    ``pairs`` are the markets that move (Nautilus symbols, e.g. "BTC/USD"); every pair of
    ``CATALOG`` is listed by AssetPairs and answers REST/WS, the others at a standing quote.
    """

    def __init__(
        self,
        pairs: Iterable[str] = ("BTC/USD", "ETH/USD"),
        *,
        seed: int = 1,
        tick_interval: float = 0.05,
        heartbeat_interval: float = 1.0,
    ) -> None:
        super().__init__()
        now = time.time_ns()
        self.markets = {spec.symbol: Market(spec, seed, now) for spec in CATALOG}
        self.active = [normalize_symbol(p) for p in pairs]
        unknown = [p for p in self.active if p not in self.markets]
        if unknown:
            raise ValueError(f"pairs not in the catalog: {unknown}; known: {sorted(self.markets)}")
        self.tick_interval = tick_interval
        self.heartbeat_interval = heartbeat_interval
        self.connection_attempts = 0  # WebSocket handshakes seen (any request off /0/...)
        self.reconnects = 0  # connections opened after the peer had lost one
        self.http_requests: list[str] = []  # "path?query" of every REST call
        self._lock = threading.RLock()
        self._closed_any = False
        self._next_conn_id = 1
        self._silent_until = 0.0

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2"

    NAME = "Kraken"

    def routes(self) -> list[tuple]:
        return [(r"/0/(public|private)/(\w+)", _RestHandler, {"peer": self}), (r"/.*", _WsHandler, {"peer": self})]

    def background(self) -> list:
        return [self._tick_loop(), self._heartbeat_loop()]

    # -- state for tests (any thread) -------------------------------------------------------------

    def quote(self, symbol: str) -> tuple[float, float]:
        """The current best (bid, ask)."""
        with self._lock:
            m = self._market(symbol)
            return m.bid, m.ask

    def sent_trades(self, symbol: str) -> list[tuple[float, float, int]]:
        """Every trade the peer printed for ``symbol``: (price, qty, ts_send_ns), oldest first.

        ``ts_send_ns`` is the wall time the trade frame first went out (also its ``timestamp``);
        a trade subscription's snapshot re-sends the last 50, as Kraken does.
        """
        with self._lock:
            return list(self._market(symbol).sent)

    def set_depth(self, symbol: str, *, best: float, deeper: float, trade: float) -> None:
        """A thin book: ``best`` at the best bid and ask, ``deeper`` at every deeper level,
        and every trade printing ``trade`` (Kraken's small prints). Goes out with the next step."""
        with self._lock:
            self._market(symbol).thin = (best, deeper, trade)

    def set_price(self, symbol: str, bid: float, ask: float, *, hold: bool = False) -> None:
        """Put the best bid/ask at a level now (a ticker and book update go out at once).

        ``hold=True`` keeps the level (trades still print at it) until the next ``set_price``.
        """
        with self._lock:
            self._market(symbol).set_quote(bid, ask, hold)
        self._call_soon(self._publish_quote, normalize_symbol(symbol))

    @property
    def connections(self) -> int:
        return len(self._conns)

    @property
    def subscriptions(self) -> set[tuple[str, str]]:
        """(channel, symbol as subscribed) over every open connection."""
        with self._lock:
            return {key for conn in self._conns for key in conn.subs}

    # -- fault switches ---------------------------------------------------------------------------

    def drop_connections(self) -> None:
        """Reset every WebSocket connection (TCP RST, no close frame); returns once done."""
        self._run_on_loop(self._drop_all)

    def go_silent(self, seconds: float) -> None:
        """Send nothing (no data, acks, pongs or heartbeats) for ``seconds``; the path pauses too."""
        self._silent_until = time.monotonic() + seconds

    def send_malformed(self) -> None:
        """Send each connection an invalid-JSON frame, a ticker missing fields (bid 1.0, ask 2.0),
        an unknown channel and a trade with a string price (the last price, ``trade_id`` 1);
        returns once written. (Nautilus 1.231 accepts the string price: the trade gets through.)"""
        self._run_on_loop(self._malformed_all)

    @property
    def silent(self) -> bool:
        return time.monotonic() < self._silent_until

    # -- loop plumbing ----------------------------------------------------------------------------

    def _call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _run_on_loop(self, fn: Callable[[], Any], timeout: float = 5.0) -> None:
        async def run() -> None:
            fn()

        if self._loop is None:
            raise RuntimeError("the peer is not running")
        asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def _market(self, symbol: str) -> Market:
        try:
            return self.markets[normalize_symbol(symbol)]
        except KeyError:
            raise KeyError(f"unknown symbol {symbol!r}") from None

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            if not self.silent:
                for symbol in self.active:
                    self._step(symbol)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            for conn in list(self._conns):
                self._send(conn, '{"channel":"heartbeat"}')

    # -- REST -------------------------------------------------------------------------------------

    def _rest(self, scope: str, method: str, args: dict[str, str], request: str) -> tuple[int, dict[str, Any]]:
        self.http_requests.append(request)
        handler = getattr(self, f"_rest_{method.lower()}", None) if scope == "public" else None
        if handler is None:
            return 404, {"error": ["EGeneral:Unknown method"]}
        try:
            with self._lock:
                return 200, {"error": [], "result": handler(args)}
        except ApiError as e:
            return 200, {"error": [str(e)], "result": {}}
        except ValueError:  # a non-numeric interval/since/count
            return 200, {"error": ["EGeneral:Invalid arguments"], "result": {}}

    def _rest_market(self, args: dict[str, str]) -> Market:
        name = args.get("pair", "")
        for m in self.markets.values():
            if name in (m.spec.raw, m.spec.altname, m.spec.wsname, m.spec.symbol):
                return m
        raise ApiError("EQuery:Unknown asset pair")

    def _rest_assetpairs(self, args: dict[str, str]) -> dict[str, Any]:
        if args.get("aclass_base", "currency") != "currency":
            return {}
        wanted = set(args["pair"].split(",")) if args.get("pair") else None
        specs = [m.spec for m in self.markets.values()]
        if wanted is not None:
            specs = [s for s in specs if wanted & {s.raw, s.altname, s.wsname}]
            if not specs:
                raise ApiError("EQuery:Unknown asset pair")
        return {s.raw: s.asset_pair() for s in specs}

    def _rest_ohlc(self, args: dict[str, str]) -> dict[str, Any]:
        m = self._rest_market(args)
        interval = int(args.get("interval", 1))
        if interval not in OHLC_INTERVALS:
            raise ApiError("EGeneral:Invalid arguments")
        since = int(float(args.get("since", 0)))
        bars = [b for b in m.ohlc(interval) if b.time >= since][-720:]
        d = m.spec.pair_decimals
        rows = [
            [b.time, *(f"{p:.{d}f}" for p in (b.open, b.high, b.low, b.close, b.vwap)), f"{b.volume:.8f}", b.count]
            for b in bars
        ]
        last = bars[-2].time if len(bars) > 1 else (bars[-1].time if bars else since)
        return {m.spec.raw: rows, "last": last}

    def _rest_trades(self, args: dict[str, str]) -> dict[str, Any]:
        m = self._rest_market(args)
        since_ns = int(args.get("since", 0) or 0)
        since_ns = since_ns * 1_000_000_000 if since_ns < 10**12 else since_ns  # seconds accepted too
        count = min(int(args.get("count", 1000)), 1000)
        trades = [t for t in m.tape if t.ts_ns >= since_ns][:count]
        d = m.spec.pair_decimals
        rows = [
            [f"{t.price:.{d}f}", f"{t.qty:.8f}", t.ts_ns / 1e9, t.side[0], t.ord_type[0], "", t.trade_id]
            for t in trades
        ]
        return {m.spec.raw: rows, "last": str(trades[-1].ts_ns if trades else since_ns)}

    def _rest_depth(self, args: dict[str, str]) -> dict[str, Any]:
        m = self._rest_market(args)
        bids, asks = m.book(max(1, min(int(args.get("count", 100)), 500)))
        d, ts = m.spec.pair_decimals, time.time_ns() // 1_000_000_000
        side = lambda levels: [[f"{p:.{d}f}", f"{q:.8f}", ts] for p, q in levels]  # noqa: E731
        return {m.spec.raw: {"asks": side(asks), "bids": side(bids)}}

    # -- WebSocket: connections and requests ------------------------------------------------------

    def _on_open(self, conn: _WsHandler) -> None:
        with self._lock:
            if self._closed_any:
                self.reconnects += 1
            self._conns.add(conn)
            conn_id, self._next_conn_id = self._next_conn_id, self._next_conn_id + 1
        status = {"api_version": "v2", "connection_id": conn_id, "system": "online", "version": "2.0.10"}
        self._send(conn, {"channel": "status", "type": "update", "data": [status]})

    def _on_close(self, conn: _WsHandler) -> None:
        with self._lock:
            self._conns.discard(conn)
            conn.subs.clear()
            self._closed_any = True

    def _on_message(self, conn: _WsHandler, message: str | bytes) -> None:
        time_in = rfc3339(time.time_ns())
        try:
            msg = json.loads(message)
            method, req_id = msg.get("method"), msg.get("req_id")
        except (ValueError, AttributeError):
            return self._reply(conn, {"error": "Malformed request", "method": "", "success": False}, time_in)
        if method == "ping":
            return self._reply(conn, {"method": "pong", "req_id": req_id}, time_in)
        if method not in ("subscribe", "unsubscribe"):
            return self._reply(conn, {"error": f"Unsupported method {method}", "method": method, "success": False,
                                      "req_id": req_id}, time_in)
        params = msg.get("params") or {}
        for symbol in params.get("symbol") or []:
            if method == "subscribe":
                self._subscribe(conn, params, symbol, req_id, time_in)
            else:
                self._unsubscribe(conn, params, symbol, req_id, time_in)

    def _reply(self, conn: _WsHandler, body: dict[str, Any], time_in: str) -> None:
        self._send(conn, {**body, "time_in": time_in, "time_out": rfc3339(time.time_ns())})

    def _subscribe(self, conn: _WsHandler, params: dict[str, Any], symbol: str, req_id: Any, time_in: str) -> None:
        channel = params.get("channel")
        error = self._sub_error(channel, symbol, params)
        if error:
            body = {"error": error, "method": "subscribe", "req_id": req_id, "success": False, "symbol": symbol}
            return self._reply(conn, body, time_in)
        state: dict[str, Any] = {"params": params}
        with self._lock:
            conn.subs[(channel, symbol)] = state
        result = {"channel": channel, "symbol": symbol, "snapshot": params.get("snapshot", True)}
        result.update({k: params[k] for k in ("depth", "interval", "event_trigger") if k in params})
        if channel == "book":
            result["depth"] = params.get("depth", 10)
        self._reply(conn, {"method": "subscribe", "result": result, "success": True, "req_id": req_id}, time_in)
        self._send_snapshot(conn, channel, symbol, state)

    def _sub_error(self, channel: Any, symbol: str, params: dict[str, Any]) -> str | None:
        if channel not in ("ticker", "trade", "book", "ohlc"):
            return f"Channel {channel} not supported"
        if normalize_symbol(symbol) not in self.markets:
            return f"Currency pair not supported {symbol}"
        if channel == "book" and params.get("depth", 10) not in BOOK_DEPTHS:
            return "Invalid depth"
        if channel == "ohlc" and params.get("interval", 1) not in OHLC_INTERVALS:
            return "Invalid interval"
        return None

    def _unsubscribe(self, conn: _WsHandler, params: dict[str, Any], symbol: str, req_id: Any, time_in: str) -> None:
        channel = params.get("channel")
        with self._lock:
            found = conn.subs.pop((channel, symbol), None) is not None
        if not found:
            body = {"error": "Subscription Not Found", "method": "unsubscribe", "req_id": req_id, "success": False,
                    "symbol": symbol}
            return self._reply(conn, body, time_in)
        result = {"channel": channel, "symbol": symbol}
        self._reply(conn, {"method": "unsubscribe", "result": result, "success": True, "req_id": req_id}, time_in)

    # -- WebSocket: frames ------------------------------------------------------------------------

    def _send(self, conn: _WsHandler, frame: dict[str, Any] | str) -> None:
        """Write one frame unless silent; a closed connection is ignored."""
        if self.silent:
            return
        try:
            future = conn.write_message(frame if isinstance(frame, str) else dumps(frame))
        except tornado.websocket.WebSocketClosedError:
            return
        future.add_done_callback(lambda f: f.exception())  # reap late close errors

    def _subscribers(self, channel: str, symbol: str) -> list[tuple[_WsHandler, str, dict[str, Any]]]:
        """(connection, symbol as subscribed, state) for every subscription to ``symbol``'s market."""
        with self._lock:
            return [
                (conn, sym, state)
                for conn in self._conns
                for (ch, sym), state in list(conn.subs.items())
                if ch == channel and normalize_symbol(sym) == symbol
            ]

    def _step(self, symbol: str) -> None:
        """One step of one market: trade, ticker, book and ohlc frames to their subscribers."""
        with self._lock:
            trade = self._market(symbol).step(time.time_ns())
        for conn, sym, _ in self._subscribers("trade", symbol):
            self._send(conn, {"channel": "trade", "type": "update", "data": [self._trade_data(sym, trade)]})
        self._publish_quote(symbol)
        for conn, sym, state in self._subscribers("ohlc", symbol):
            self._send(conn, self._ohlc_frame(sym, state, "update"))

    def _publish_quote(self, symbol: str) -> None:
        """Ticker and book updates for ``symbol``'s current quote."""
        for conn, sym, _ in self._subscribers("ticker", symbol):
            self._send(conn, self._ticker_frame(sym, "update"))
        for conn, sym, state in self._subscribers("book", symbol):
            self._send_book(conn, sym, state)

    def _send_snapshot(self, conn: _WsHandler, channel: str, symbol: str, state: dict[str, Any]) -> None:
        snapshot = state["params"].get("snapshot", True)
        if channel == "ticker":
            self._send(conn, self._ticker_frame(symbol, "snapshot"))
        elif channel == "book":
            self._send_book(conn, symbol, state)
        elif channel == "trade" and snapshot:
            with self._lock:
                trades = list(self._market(symbol).tape)[-TRADE_SNAPSHOT:]
            data = [self._trade_data(symbol, t) for t in trades]
            self._send(conn, {"channel": "trade", "type": "snapshot", "data": data})
        elif channel == "ohlc" and snapshot:
            self._send(conn, self._ohlc_frame(symbol, state, "snapshot"))

    def _ticker_frame(self, symbol: str, kind: str) -> dict[str, Any]:
        with self._lock:
            m = self._market(symbol)
            data = {
                "symbol": symbol,
                "bid": m.bid,
                "bid_qty": m.level_qty(m.bid_t),
                "ask": m.ask,
                "ask_qty": m.level_qty(m.ask_t),
                "last": m.last,
                **m.stats(),
                "timestamp": rfc3339(time.time_ns()),
            }
        return {"channel": "ticker", "type": kind, "data": [data]}

    def _trade_data(self, symbol: str, t: Trade) -> dict[str, Any]:
        return {"symbol": symbol, "side": t.side, "price": t.price, "qty": t.qty, "ord_type": t.ord_type,
                "trade_id": t.trade_id, "timestamp": rfc3339(t.ts_ns)}

    def _send_book(self, conn: _WsHandler, symbol: str, state: dict[str, Any]) -> None:
        """A snapshot the first time for this subscription, then the level changes since the last frame."""
        if self.silent:  # the book state follows what the client was actually sent
            return
        depth = state["params"].get("depth", 10)
        with self._lock:
            m = self._market(symbol)
            bids, asks = m.book(depth)
            checksum = m.checksum(bids, asks)
        previous = state.get("book")
        state["book"] = (dict(bids), dict(asks))
        if previous is None:
            kind, out_bids, out_asks = "snapshot", bids, asks
        else:
            kind, out_bids, out_asks = "update", _changes(previous[0], bids), _changes(previous[1], asks)
        level = lambda levels: [{"price": p, "qty": q} for p, q in levels]  # noqa: E731
        data = {"symbol": symbol, "bids": level(out_bids), "asks": level(out_asks), "checksum": checksum,
                "timestamp": rfc3339(time.time_ns())}
        self._send(conn, {"channel": "book", "type": kind, "data": [data]})

    def _ohlc_frame(self, symbol: str, state: dict[str, Any], kind: str) -> dict[str, Any]:
        interval = state["params"].get("interval", 1)
        with self._lock:
            bars = self._market(symbol).ohlc(interval)[-10 if kind == "snapshot" else -1 :]
        data = [
            {"symbol": symbol, "open": b.open, "high": b.high, "low": b.low, "close": b.close,
             "trades": b.count, "volume": round(b.volume, 8), "vwap": round(b.vwap, 8),
             "interval_begin": rfc3339(b.time * 1_000_000_000, 9), "interval": interval,
             "timestamp": rfc3339(time.time_ns())}
            for b in bars
        ]
        return {"channel": "ohlc", "type": kind, "data": data}

    # -- faults -----------------------------------------------------------------------------------

    def _drop_all(self) -> None:
        for conn in list(self._conns):
            stream = conn.ws_connection.stream if conn.ws_connection else None
            if stream is not None and stream.socket is not None:
                stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                stream.close()
            self._on_close(conn)

    def _malformed_all(self) -> None:
        for conn in list(self._conns):
            symbol = next((sym for _, sym in conn.subs), "BTC/USD")
            ts, last = rfc3339(time.time_ns()), self._market(symbol).last
            frames: list[dict[str, Any] | str] = [
                '{"channel":"ticker","type":"update","data":[{"symbol":"' + symbol + '","bid":',
                {"channel": "ticker", "type": "update", "data": [{"symbol": symbol, "bid": 1.0, "ask": 2.0}]},
                {"channel": "bogus", "type": "update", "data": [{"symbol": symbol, "value": 1}]},
                {"channel": "trade", "type": "update", "data": [
                    {"symbol": symbol, "side": "buy", "price": str(last), "qty": 0.001, "ord_type": "market",
                     "trade_id": 1, "timestamp": ts}]},
            ]
            for frame in frames:
                self._send(conn, frame)


def _changes(old: dict[float, float], new: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Book side diff: new or resized levels, and removed levels at qty 0."""
    current = dict(new)
    changed = [(p, q) for p, q in new if old.get(p) != q]
    removed = [(p, 0.0) for p in old if p not in current]
    return changed + removed
