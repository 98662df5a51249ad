"""A local IB Gateway peer: a small simulated IB paper exchange on 127.0.0.1 (TWS API v178).

ib_async, the official ``ibapi`` client and NautilusTrader's Interactive Brokers adapter
connect to it instead of a real gateway::

    with TwsPeer(accounts=("DU1234567",), positions=()) as peer:
        InteractiveBrokersDataClientConfig(ibg_port=peer.port, ...)

Wire
----
Raw ``API\\0`` then a framed ``v100..223``; the peer answers ``178\\0<connTime>\\0``, so every
later message is the text protocol: a 4-byte big-endian length and fields each ending in
``\\0`` (field orders: ``shared/PROTOCOLS.md`` and ``ibapi/decoder.py`` at server version 178).
On startApi it sends nextValidId, managedAccounts and the farm-OK notices (2104, 2106, 2158).
A connection whose client id is held by a live connection gets error 326 and is closed, as
IB does (``client_id_takeover=True``: it replaces the older connection instead).

Public API
----------
``TwsPeer(accounts=("DU1234567",), *, positions=DEFAULT_POSITIONS, cash=73000.0,
account_values=None, contracts=DEFAULT_CONTRACTS, history_bars=60, live_bars=None,
bar_interval_s=0.25, seed=3, always_open=True, hours=None, chart_history=False, client_id_takeover=False,
logged_out=False, port=0)``

- ``positions``: ``PeerPosition`` rows every account starts with; ``cash`` each account's
  cash. Account tags are computed from cash and holdings (NetLiquidation, TotalCashValue,
  GrossPositionValue, Full/Init/MaintMarginReq = gross position value, Full/AvailableFunds,
  BuyingPower = 4 x available, ...); ``account_values`` are fixed overrides on top.
- ``contracts``: the stocks listed (``tws_market.PeerContract``; default QQQ, NASDAQ, conId
  320227571, minTick 0.01, USD, ISIN US46090E1038: Nautilus needs an ISIN for equities).
  ``reqContractDetails`` matches by conId, else symbol/localSymbol (+ secType, currency,
  SMART/primary exchange); anything else gets error 200 "No security definition has been
  found for the request". ``always_open=True``: tradingHours = liquidHours = every day of the
  current week and the next, ``YYYYMMDD:0000-YYYYMMDD+1:0000``; ``False``: the next 7 days,
  09:30-16:00 US/Eastern liquid (04:00-20:00 trading), weekends CLOSED. ``hours``:
  ``(tradingHours, liquidHours)`` strings reported as they are, and the hours orders fill in
  (liquid hours; trading hours for ``outsideRth`` orders), e.g. to be closed at any wall time.
- ``history_bars``: daily bars dated up to yesterday (UTC): a count (generated) or a list of
  ``(open, high, low, close[, volume])`` / ``DailyBar``; answered to ``reqHistoricalData``
  with ``keepUpToDate=False`` for the requested window (``durationStr`` back from
  ``endDateTime``). Bar dates are ``YYYYMMDD`` whatever ``formatDate`` says (IB does this for
  daily bars; Nautilus parses 1-DAY dates with ``%Y%m%d`` as UTC midnight). Bar sizes other
  than ``1 day`` get an empty answer.
- ``live_bars``: ``None`` (a seeded random walk around 400, see ``tws_market.BarGenerator``),
  a list of OHLC rows, or a mapping symbol -> list. One live bar per ``bar_interval_s`` is
  streamed as ``historicalDataUpdate`` to every ``keepUpToDate=True`` subscription and as a
  ``realtimeBar`` (5-second bars, times 5 s apart) to every ``reqRealTimeBars``. After a
  scripted list the peer streams one flat closing bar (O=H=L=C=last close) and stops.
- ``chart_history``: the ``keepUpToDate=True`` answer is the live bars streamed so far (empty
  at first); ``True`` puts the daily history in front, as IB's chart does (see Dates).
- Methods/properties: ``start()``, ``stop()`` (a restart keeps the port and the day's
  orders and executions), ``port``, ``requests`` (msg ids received, in order),
  ``requests_by_client`` (client id -> msg ids), ``placed_orders`` (placeOrder count),
  ``orders`` (``PeerOrder`` list), ``executions`` (``PeerExecution``: exec_id, order_id,
  perm_id, order_ref, symbol, side BOT/SLD, shares, price, commission, time, ...),
  ``positions`` (``PeerPosition`` rows of the first account), ``position(symbol, account=None)``
  (``PeerPosition`` or ``None``), ``net_position(symbol, account=None)`` (shares, 0.0 if none),
  ``account_values`` (tags of the first account), ``tape(symbol)`` (``tws_market.Tape``:
  ``history``, ``live``, ``last_price``), ``last_price(symbol)``, ``clients`` (client ids
  connected), ``connections``, ``handshakes``.
- Streaming: ``start_streaming(always=False)`` (default mode: the tape runs while any bar
  subscription exists; ``always=True``: also with nobody connected, so resting orders can fill
  during a disconnect), ``pause_streaming()``, ``step(n=1)`` (stream n bars now).
- Faults: ``logged_out=True`` (handshake, then silence), ``send_error(code, msg, req_id=-1)``
  (e.g. 1100 connectivity lost / 1102 restored), ``drop()`` (close every client socket),
  ``reject_next_order(code=201, msg=...)`` (the next placeOrder gets that error, no fill).

Orders
------
``placeOrder`` MKT fills at once at the market = the close of the last streamed bar (the
last history close before streaming starts); LMT fills at once if marketable (at the
market), else rests and fills when a later bar crosses the limit (at the limit, or the bar's
open if better). Outside liquid hours (``always_open=False``) orders without ``outsideRth``
are PreSubmitted and wait. A fill sends, to the placing client: openOrder(Submitted),
orderStatus(Submitted), execDetails(reqId -1), orderStatus(Filled, avgFillPrice),
openOrder(Filled), commissionReport (0.005 USD/share, min 1.00, max 1 % of value); then
account summary / account updates / positions to the clients subscribed. ``orderRef`` is
echoed as sent (Nautilus sends ``<client order id>:<orderId>``); permIds are unique;
execIds look like ``0000e0d5.6745a0b1.01.01``. ``cancelOrder``: orderStatus Cancelled, then
error 202 "Order Canceled - reason:" (10147 unknown id, 10148 already filled).
``reqOpenOrders``/``reqAllOpenOrders``: working orders (openOrder + orderStatus, then end);
``reqCompletedOrders``: filled/cancelled/rejected ones; ``reqExecutions``: the day's
executions matching the filter (all execDetails with the request id, then their
commissionReports, then execDetailsEnd), including fills made while the client was away.

Dates (live daily bars and Nautilus)
------------------------------------
Live bar n is dated ``today + n`` (UTC date at construction; calendar days), history ends
``today - 1``. Nautilus (``_process_bar_data``, handle_revised_bars=False) publishes a
keepUpToDate bar only when a bar with a later date arrives, with ts_event = that date's
midnight UTC and ts_init = the wall clock then (a 1-DAY completion timer of 86401 s never
fires in a test). So live bar n is published exactly once, when bar n+1 arrives
(``bar_interval_s`` later): the first published bar is today's, then tomorrow's, ... (ts_event
in the future is not rejected; ts_event and ts_init both increase). The initial keepUpToDate
answer goes through the historical path: bars with ts_init (end of their day) before the
subscription start are dropped, and the last completed one before the first live date would
be published again; that is why ``chart_history`` is off by default: with it on, Nautilus
publishes yesterday's bar (the warm-up's last) once more at subscription, as with real IB.
Live bars are never completed in the historical path (their day has not ended), so after a
reconnect the re-sent chart publishes nothing and the stream goes on with no duplicate.
By default the tape pauses while no bar subscription exists, so a reconnecting node misses no
bar; bars that complete while it is away (``start_streaming(always=True)``, ``step()``) are
never published.

Reconnects (Nautilus 1.231)
---------------------------
The connection watchdog (1 s tick) sees the closed socket, waits 5 s, resets the client and
reconnects with the same client id: 5-6 s after ``drop()``. It re-sends startApi,
reqAccountSummary and the bar subscriptions (a new keepUpToDate reqHistoricalData), not
reqMarketDataType, contract details, positions, open orders or executions: a fill missed
while away reaches the node only if something asks (the exec client's
``generate_mass_status``: reqOpenOrders, reqPositions, reqExecutions). Error 1100 is treated
like a lost socket (the same reset) unless 1102 arrives before the next watchdog tick. A
reset started by the client (1100) closes its old socket under a thread blocked in recv, so
the FIN leaves only when that recv times out (<= 1 s): the new connection finds its client id
still held and gets 326, and Nautilus then waits 15 s plus a 5-8 s back-off (~27 s in all);
``client_id_takeover=True`` avoids that (5.5 s).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from tests.peers.tws_market import (
    DEFAULT_CONTRACTS,
    ORDER_TYPES,
    UNSET_DOUBLE,
    VALID_EXCHANGES,
    OHLC,
    Book,
    DailyBar,
    Holding,
    PeerContract,
    PeerExecution,
    PeerOrder,
    Tape,
    commission,
    ib_hours,
    in_hours,
    parse_duration,
)

SERVER_VERSION = 178
# client -> peer message ids
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCT_DATA = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DATA = 9
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_CURRENT_TIME = 49
REQ_REAL_TIME_BARS = 50
CANCEL_REAL_TIME_BARS = 51
REQ_GLOBAL_CANCEL = 58
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71
REQ_ACCOUNT_UPDATES_MULTI = 76
REQ_MATCHING_SYMBOLS = 81
REQ_COMPLETED_ORDERS = 99

SIDE_ACTION = {"BOT": "BUY", "SLD": "SELL"}  # an execution filter's side may name either
NO_SECURITY = "No security definition has been found for the request"
DEFAULT_REJECT = (
    "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION "
    "YOUR EQUITY WITH LOAN VALUE MUST EXCEED THE INITIAL MARGIN"
)


@dataclass(frozen=True)
class PeerPosition:
    """One stock position an account starts with (and reports, with current values)."""

    symbol: str
    position: float
    avg_cost: float
    market_price: float
    con_id: int
    exchange: str = "NASDAQ"
    currency: str = "USD"


DEFAULT_POSITIONS: tuple[PeerPosition, ...] = (
    PeerPosition("AAPL", 100.0, 150.25, 190.0, 265598),
    PeerPosition("MSFT", 20.0, 310.5, 400.0, 272093),
)
DEFAULT_CASH = 73000.0  # with DEFAULT_POSITIONS: NetLiquidation 100000, GrossPositionValue 27000


def frame(*fields: Any) -> bytes:
    """One TWS API message: length prefix, then each field followed by NUL."""
    body = "".join(f"{_wire(f)}\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _num(x: float) -> str:
    """A quantity the way IB prints it (``100`` not ``100.0``)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


@dataclass(eq=False)
class _Conn:
    """One API connection and what it subscribed to."""

    writer: asyncio.StreamWriter
    client_id: int | None = None
    keep_up: dict[int, Tape] = field(default_factory=dict)  # keepUpToDate reqHistoricalData reqId -> tape
    realtime: dict[int, Tape] = field(default_factory=dict)  # reqRealTimeBars reqId -> tape
    summaries: dict[int, set[str]] = field(default_factory=dict)  # reqAccountSummary reqId -> tags
    account_updates: str | None = None  # reqAccountUpdates account
    positions: bool = False  # reqPositions until cancelPositions

    def send(self, *messages: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(b"".join(messages))


class TwsPeer:
    """An asyncio TWS API server and simulated paper exchange in its own thread (module docstring)."""

    def __init__(
        self,
        accounts: Iterable[str] = ("DU1234567",),
        *,
        positions: Iterable[PeerPosition] = DEFAULT_POSITIONS,
        cash: float = DEFAULT_CASH,
        account_values: Mapping[str, str] | None = None,
        contracts: Sequence[PeerContract] = DEFAULT_CONTRACTS,
        history_bars: int | Sequence[OHLC | DailyBar] = 60,
        live_bars: Sequence[OHLC | DailyBar] | Mapping[str, Sequence[OHLC | DailyBar]] | None = None,
        bar_interval_s: float = 0.25,
        seed: int = 3,
        always_open: bool = True,
        hours: tuple[str, str] | None = None,
        chart_history: bool = False,
        client_id_takeover: bool = False,
        logged_out: bool = False,
        port: int = 0,
    ) -> None:
        self.accounts: tuple[str, ...] = tuple(accounts)
        self.contracts: tuple[PeerContract, ...] = tuple(contracts)
        self.overrides: dict[str, str] = dict(account_values or {})
        self.bar_interval_s = bar_interval_s
        self.always_open = always_open
        self.hours = hours  # (tradingHours, liquidHours) to report instead of the computed ones
        self.chart_history = chart_history
        self.client_id_takeover = client_id_takeover
        self.logged_out = logged_out
        self.port = port
        self.requests: list[int] = []  # message ids received, in order
        self.requests_by_client: dict[int, list[int]] = {}
        self.connections = 0  # sockets accepted
        self.handshakes = 0  # API handshakes answered
        self.today = dt.datetime.now(dt.UTC).date()
        self._tapes: dict[str, Tape] = {}
        for c in self.contracts:
            live = live_bars.get(c.symbol) if isinstance(live_bars, Mapping) else live_bars
            self._tapes[c.symbol] = Tape.build(c, self.today, history=history_bars, live=live, seed=seed)
        self._books: dict[str, Book] = {}
        positions = tuple(positions)
        for acct in self.accounts:
            book = self._books[acct] = Book(cash)
            for p in positions:
                book.holdings[p.con_id] = Holding(p.symbol, p.con_id, p.exchange, p.currency, p.position,
                                                  p.avg_cost, p.market_price)
        self._orders: list[PeerOrder] = []
        self._executions: list[PeerExecution] = []
        self._reject: tuple[int, str] | None = None
        self._mode = "auto"  # auto: stream while a bar subscription exists; always; paused
        self._exec_stamp = int(time.time()) & 0xFFFFFFFF
        self._rt_start = int(time.time()) // 5 * 5
        self._next_perm = 1_838_402_017
        self._conns: list[_Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tape_task: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TwsPeer:
        """Bind 127.0.0.1 (a free port the first time, the same port after a stop) and serve."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="tws-peer", daemon=True)
        self._thread.start()
        if not ready.wait(5) or self._server is None:
            raise RuntimeError("TWS peer did not start")
        return self

    def stop(self) -> None:
        """Close every socket and the listener; join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> TwsPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._tape_task = asyncio.get_running_loop().create_task(self._run_tape())

    async def _shutdown(self) -> None:
        if self._tape_task is not None:
            self._tape_task.cancel()
        self._close_conns()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- state, for tests --------------------------------------------------------------

    @property
    def placed_orders(self) -> int:
        """How many placeOrder messages arrived (tests expect 0 from a probe)."""
        return self.requests.count(PLACE_ORDER)

    @property
    def orders(self) -> list[PeerOrder]:
        return list(self._orders)

    @property
    def executions(self) -> list[PeerExecution]:
        """Every fill of the day, in order."""
        return list(self._executions)

    @property
    def clients(self) -> list[int]:
        """The client ids of the live API connections."""
        return [c.client_id for c in list(self._conns) if c.client_id is not None]

    @property
    def positions(self) -> tuple[PeerPosition, ...]:
        """The first account's holdings now."""
        return tuple(_as_position(h) for h in list(self._books[self.accounts[0]].holdings.values()))

    def position(self, symbol: str, account: str | None = None) -> PeerPosition | None:
        """The holding in ``symbol`` now (position 0 once closed; ``None`` if never held)."""
        book = self._books[account or self.accounts[0]]
        return next((_as_position(h) for h in list(book.holdings.values()) if h.symbol == symbol), None)

    def net_position(self, symbol: str, account: str | None = None) -> float:
        """The number of shares held in ``symbol`` (0.0 if none)."""
        held = self.position(symbol, account)
        return held.position if held else 0.0

    @property
    def account_values(self) -> dict[str, str]:
        """The first account's tags now."""
        return self._values(self.accounts[0])

    def tape(self, symbol: str = "QQQ") -> Tape:
        """The contract's bars: ``history``, ``live`` (streamed so far), ``last_price``."""
        return self._tapes[symbol]

    def last_price(self, symbol: str = "QQQ") -> float:
        """The market: the close of the last streamed bar (what a market order fills at)."""
        return self._tapes[symbol].last_price

    # -- streaming and fault switches --------------------------------------------------

    def start_streaming(self, always: bool = False) -> None:
        """Stream while a bar subscription exists (default), or ``always`` (also with nobody there)."""
        self._call(setattr, self, "_mode", "always" if always else "auto")

    def pause_streaming(self) -> None:
        """Stop the tape (no bars, no resting-order fills) until ``start_streaming``; when this
        returns no bar is being streamed."""
        self._call(setattr, self, "_mode", "paused")

    def step(self, n: int = 1) -> list[DailyBar]:
        """Stream ``n`` bars on every tape now (whatever the mode); returns the bars streamed."""
        out: list[DailyBar] = []
        for _ in range(n):
            out += self._call(self._tick)
        return out

    def send_error(self, code: int, msg: str, req_id: int = -1) -> None:
        """Send error ``[4,2,reqId,code,msg,""]`` to every connected client."""
        self._call(self._broadcast, frame(4, 2, req_id, code, msg, ""))

    def drop(self) -> None:
        """Close every client socket (the listener stays up)."""
        self._call(self._close_conns)

    def reject_next_order(self, code: int = 201, msg: str = DEFAULT_REJECT) -> None:
        """The next placeOrder gets error ``code`` for its order id and is not filled."""
        self._reject = (code, msg)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the peer's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("TWS peer is not running")
        result: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn(*args))
            except BaseException as e:  # noqa: BLE001  (handed to the caller)
                result.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        return result.result(5)

    def _broadcast(self, data: bytes) -> None:
        for conn in self._conns:
            conn.send(data)

    def _close_conns(self) -> None:
        for conn in self._conns:
            conn.writer.close()
        self._conns.clear()

    # -- protocol ----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = _Conn(writer)
        self._conns.append(conn)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            await self._read_frame(reader)  # "v100..223"
            conn_time = dt.datetime.now(dt.UTC).strftime("%Y%m%d %H:%M:%S UTC")
            writer.write(frame(SERVER_VERSION, conn_time))
            self.handshakes += 1
            while True:
                fields = await self._read_frame(reader)
                msg_id = int(fields[0])
                self.requests.append(msg_id)
                self._dispatch(conn, msg_id, fields)
                if conn.client_id is not None:
                    self.requests_by_client.setdefault(conn.client_id, []).append(msg_id)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            if conn in self._conns:
                self._conns.remove(conn)
            writer.close()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> list[str]:
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        return (await reader.readexactly(size)).decode().split("\0")[:-1]

    def _dispatch(self, conn: _Conn, msg_id: int, f: list[str]) -> None:
        """Answer one request (anything not modelled gets no answer)."""
        if msg_id == START_API:
            self._on_start_api(conn, f)
            return
        if self.logged_out or conn.client_id is None:
            return
        handler = self._handlers().get(msg_id)
        if handler is not None:
            handler(conn, f)

    def _handlers(self) -> dict[int, Callable[[_Conn, list[str]], None]]:
        return {
            PLACE_ORDER: self._on_place_order,
            CANCEL_ORDER: self._on_cancel_order,
            REQ_OPEN_ORDERS: lambda c, f: self._on_open_orders(c, everyone=False),
            REQ_ALL_OPEN_ORDERS: lambda c, f: self._on_open_orders(c, everyone=True),
            REQ_ACCT_DATA: self._on_account_updates,
            REQ_EXECUTIONS: self._on_executions,
            REQ_IDS: lambda c, f: c.send(frame(9, 1, self._next_order_id())),
            REQ_CONTRACT_DATA: self._on_contract_details,
            REQ_MANAGED_ACCTS: lambda c, f: c.send(frame(15, 1, ",".join(self.accounts))),
            REQ_HISTORICAL_DATA: self._on_historical_data,
            CANCEL_HISTORICAL_DATA: lambda c, f: c.keep_up.pop(int(f[2]), None),
            REQ_CURRENT_TIME: lambda c, f: c.send(frame(49, 1, int(time.time()))),
            REQ_REAL_TIME_BARS: self._on_realtime_bars,
            CANCEL_REAL_TIME_BARS: lambda c, f: c.realtime.pop(int(f[2]), None),
            REQ_GLOBAL_CANCEL: self._on_global_cancel,
            REQ_POSITIONS: self._on_positions,
            REQ_ACCOUNT_SUMMARY: self._on_account_summary,
            CANCEL_ACCOUNT_SUMMARY: lambda c, f: c.summaries.pop(int(f[2]), None),
            CANCEL_POSITIONS: lambda c, f: setattr(c, "positions", False),
            REQ_ACCOUNT_UPDATES_MULTI: lambda c, f: c.send(frame(74, 1, f[2])),
            REQ_MATCHING_SYMBOLS: self._on_matching_symbols,
            REQ_COMPLETED_ORDERS: self._on_completed_orders,
        }

    def _on_start_api(self, conn: _Conn, f: list[str]) -> None:
        client_id = int(f[2])
        if self.logged_out:
            return
        holders = [c for c in self._conns if c.client_id == client_id]
        if holders and self.client_id_takeover:
            for old in holders:
                old.writer.close()
                self._conns.remove(old)
        elif holders:
            conn.send(frame(4, 2, -1, 326, "Unable to connect as the client id is already in use. "
                                           "Retry with a unique client id.", ""))
            conn.writer.close()
            return
        conn.client_id = client_id
        conn.send(
            frame(9, 1, self._next_order_id()),
            frame(15, 1, ",".join(self.accounts)),
            frame(4, 2, -1, 2104, "Market data farm connection is OK:usfarm", ""),
            frame(4, 2, -1, 2106, "HMDS data farm connection is OK:ushmds", ""),
            frame(4, 2, -1, 2158, "Sec-def data farm connection is OK:secdefnj", ""),
        )

    def _next_order_id(self) -> int:
        return max((o.order_id for o in self._orders), default=0) + 1

    # -- contracts -----------------------------------------------------------------------

    def _find(self, f: list[str], start: int) -> PeerContract | None:
        """The contract named by request fields ``conId, symbol, secType, ltd, strike, right,
        multiplier, exchange, primaryExchange, currency, localSymbol`` from index ``start``."""
        con_id = int(f[start] or 0)
        symbol, sec_type = f[start + 1], f[start + 2]
        exchange, primary, currency, local = f[start + 7], f[start + 8], f[start + 9], f[start + 10]
        for c in self.contracts:
            if c.matches(con_id, symbol or local, sec_type, exchange, primary, currency):
                return c
        return None

    def _on_contract_details(self, conn: _Conn, f: list[str]) -> None:
        # [9, 8, reqId, conId, symbol, secType, ltd, strike, right, mult, exch, primExch, cur, local,
        #  tradingClass, includeExpired, secIdType, secId, issuerId]
        req_id = int(f[2])
        contract = self._find(f, 3)
        if contract is None and f[16] == "ISIN":
            contract = next((c for c in self.contracts if c.isin == f[17]), None)
        if contract is None:
            conn.send(frame(4, 2, req_id, 200, NO_SECURITY, ""))
            return
        conn.send(self._contract_details_msg(req_id, contract), frame(52, 1, req_id))

    def _contract_details_msg(self, req_id: int, c: PeerContract) -> bytes:
        trading, liquid = self.hours or ib_hours(dt.datetime.now(dt.UTC), always_open=self.always_open)
        sec_ids = (1, "ISIN", c.isin) if c.isin else (0,)
        return frame(
            10, req_id, c.symbol, "STK", "", 0.0, "", "SMART", c.currency, c.symbol, c.market_name,
            c.market_name, c.con_id, c.min_tick, "", ORDER_TYPES, VALID_EXCHANGES, 1, 0, c.long_name,
            c.primary_exchange, "", c.industry, c.category, c.subcategory, c.time_zone_id, trading, liquid,
            "", "", *sec_ids, 1, "", "", c.market_rule_ids, "", c.stock_type, "0.0001", "0.0001", "100",
        )

    def _on_matching_symbols(self, conn: _Conn, f: list[str]) -> None:
        req_id, pattern = int(f[1]), f[2].upper()
        hits = [c for c in self.contracts if c.symbol.startswith(pattern) or pattern in c.long_name.upper()]
        rows = [x for c in hits for x in (c.con_id, c.symbol, "STK", c.primary_exchange, c.currency, 0,
                                           c.long_name, "")]
        conn.send(frame(79, req_id, len(hits), *rows))

    # -- market data ---------------------------------------------------------------------

    def _on_historical_data(self, conn: _Conn, f: list[str]) -> None:
        # [20, reqId, conId, symbol, secType, ltd, strike, right, mult, exch, primExch, cur, local,
        #  tradingClass, includeExpired, endDateTime, barSize, durationStr, useRTH, whatToShow,
        #  formatDate, (BAG legs), keepUpToDate, chartOptions]
        req_id = int(f[1])
        contract = self._find(f, 2)
        if contract is None:
            conn.send(frame(4, 2, req_id, 200, NO_SECURITY, ""))
            return
        tape = self._tapes[contract.symbol]
        end = _parse_ib_time(f[15]) or dt.datetime.now(dt.UTC)
        start = end - parse_duration(f[17])
        daily, keep_up = f[16].strip().lower() in ("1 day", "1 d"), f[-2] == "1"
        if not daily:
            bars: list[DailyBar] = []
        elif keep_up:  # the chart: live bars streamed so far (and the history with chart_history)
            bars = (tape.history if self.chart_history else []) + tape.live
            conn.keep_up[req_id] = tape
        else:
            bars = tape.history_between(start, end)
        rows = [x for b in bars for x in (f"{b.date:%Y%m%d}", b.open, b.high, b.low, b.close, b.volume, b.wap,
                                          b.bar_count)]
        conn.send(frame(17, req_id, f"{start:%Y%m%d %H:%M:%S}", f"{end:%Y%m%d %H:%M:%S}", len(bars), *rows))

    def _on_realtime_bars(self, conn: _Conn, f: list[str]) -> None:
        # [50, 3, reqId, conId, symbol, secType, ltd, strike, right, mult, exch, primExch, cur, local,
        #  tradingClass, barSize, whatToShow, useRTH, options]
        req_id = int(f[2])
        contract = self._find(f, 3)
        if contract is None:
            conn.send(frame(4, 2, req_id, 200, NO_SECURITY, ""))
            return
        conn.realtime[req_id] = self._tapes[contract.symbol]

    async def _run_tape(self) -> None:
        while True:
            await asyncio.sleep(self.bar_interval_s)
            subscribed = any(c.keep_up or c.realtime for c in self._conns)
            if self._mode == "always" or (self._mode == "auto" and subscribed):
                self._tick()

    def _tick(self) -> list[DailyBar]:
        """Stream one bar on every tape, then fill the resting orders it reaches."""
        streamed = []
        for symbol, tape in self._tapes.items():
            bar = tape.advance()
            if bar is None:
                continue
            streamed.append(bar)
            for book in self._books.values():
                book.mark(tape.contract.con_id, bar.close)
            n = len(tape.live) - 1
            rt_time = self._rt_start + 5 * n
            for conn in self._conns:
                for req_id, t in conn.keep_up.items():
                    if t is tape:
                        conn.send(frame(90, req_id, bar.bar_count, f"{bar.date:%Y%m%d}", bar.open, bar.close,
                                        bar.high, bar.low, bar.wap, bar.volume))
                for req_id, t in conn.realtime.items():
                    if t is tape:
                        conn.send(frame(50, 3, req_id, rt_time, bar.open, bar.high, bar.low, bar.close,
                                        max(1, bar.volume // 4680), bar.wap, max(1, bar.bar_count // 4680)))
            for order in [o for o in self._orders if o.is_working and o.contract.symbol == symbol]:
                self._work(order, bar)
        return streamed

    # -- orders --------------------------------------------------------------------------

    def _market_open(self, order: PeerOrder) -> bool:
        if self.hours is not None:
            trading, liquid = self.hours
            return in_hours(trading if order.outside_rth else liquid, dt.datetime.now(dt.UTC))
        if self.always_open or order.outside_rth:
            return True
        _, liquid = ib_hours(dt.datetime.now(dt.UTC), always_open=False)
        return in_hours(liquid, dt.datetime.now(dt.UTC))

    def _on_place_order(self, conn: _Conn, f: list[str]) -> None:
        # [3, orderId, conId, symbol, secType, ltd, strike, right, mult, exch, primExch, cur, local,
        #  tradingClass, secIdType, secId, action, totalQty, orderType, lmtPrice, auxPrice, tif,
        #  ocaGroup, account, openClose, origin, orderRef, transmit, parentId, blockOrder,
        #  sweepToFill, displaySize, triggerMethod, outsideRth, hidden, ...]
        order_id = int(f[1])
        assert conn.client_id is not None
        contract = self._find(f, 2)
        if contract is None:
            conn.send(frame(4, 2, order_id, 200, NO_SECURITY, ""))
            return
        account = f[23] if f[23] in self.accounts else self.accounts[0]
        self._next_perm += 1
        order = PeerOrder(
            order_id=order_id, client_id=conn.client_id, perm_id=self._next_perm, account=account,
            contract=contract, action=f[16], quantity=float(f[17]), order_type=f[18],
            lmt_price=float(f[19]) if f[19] else None, tif=f[21] or "DAY", order_ref=f[26],
            outside_rth=f[33] == "1",
        )
        self._orders.append(order)
        if self._reject is not None or order.order_type not in ("MKT", "LMT") or (
            order.order_type == "LMT" and order.lmt_price is None
        ):
            code, msg = self._reject or (201, f"Order rejected - reason:order type {order.order_type} is not "
                                               f"supported by this gateway")
            self._reject = None
            order.status = "Inactive"
            order.completed_time = _completed_time()
            conn.send(frame(4, 2, order_id, code, msg, ""))
            return
        order.status = "Submitted" if self._market_open(order) else "PreSubmitted"
        conn.send(self._open_order_msg(order), self._order_status_msg(order))
        self._work(order, None)

    def _work(self, order: PeerOrder, bar: DailyBar | None) -> None:
        """Fill ``order`` if it can fill now (``bar``: the bar just streamed, for limits)."""
        if not self._market_open(order):
            return
        if order.status == "PreSubmitted":
            order.status = "Submitted"
            self._to_client(order.client_id, self._open_order_msg(order), self._order_status_msg(order))
        market = self._tapes[order.contract.symbol].last_price
        if order.order_type == "MKT":
            price: float | None = market
        elif bar is None:  # at placement: marketable limits fill at the market
            assert order.lmt_price is not None
            marketable = market <= order.lmt_price if order.action == "BUY" else market >= order.lmt_price
            price = market if marketable else None
        else:
            price = order.limit_fill(bar)
        if price is not None:
            self._fill(order, price)

    def _fill(self, order: PeerOrder, price: float) -> None:
        qty = order.remaining
        fee = commission(qty, price)
        signed = qty if order.action == "BUY" else -qty
        before = self._values(order.account)
        realized = self._books[order.account].apply_fill(order.contract, signed, price, fee)
        order.avg_fill_price = (order.avg_fill_price * order.filled + price * qty) / (order.filled + qty)
        order.filled += qty
        order.last_fill_price = price
        order.status = "Filled"
        order.completed_time = _completed_time()
        n = len(self._executions) + 1
        execution = PeerExecution(
            exec_id=f"0000e0d5.{self._exec_stamp:08x}.{n:02d}.01", order_id=order.order_id,
            perm_id=order.perm_id, client_id=order.client_id, account=order.account, order_ref=order.order_ref,
            symbol=order.contract.symbol, con_id=order.contract.con_id,
            side="BOT" if order.action == "BUY" else "SLD", shares=qty, price=price, commission=fee,
            currency=order.contract.currency, time=dt.datetime.now(dt.UTC), cum_qty=order.filled,
            avg_price=order.avg_fill_price, realized_pnl=realized, exchange=order.contract.primary_exchange,
        )
        self._executions.append(execution)
        self._to_client(
            order.client_id,
            self._exec_details_msg(-1, execution),
            self._order_status_msg(order),
            self._open_order_msg(order),
            self._commission_msg(execution),
        )
        self._push_account(order.account, order.contract.con_id, before)

    def _to_client(self, client_id: int, *messages: bytes) -> None:
        for conn in self._conns:
            if conn.client_id == client_id:
                conn.send(*messages)

    def _on_cancel_order(self, conn: _Conn, f: list[str]) -> None:
        order_id = int(f[2])
        order = next((o for o in self._orders if o.order_id == order_id and o.client_id == conn.client_id), None)
        if order is None:
            conn.send(frame(4, 2, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.", ""))
        elif not order.is_working:
            conn.send(frame(4, 2, order_id, 10148, f"OrderId {order_id} that needs to be cancelled cannot be "
                                                   f"cancelled, state: {order.status}.", ""))
        else:
            self._cancel(order)

    def _cancel(self, order: PeerOrder) -> None:
        order.status = "Cancelled"
        order.completed_time = _completed_time()
        self._to_client(order.client_id, self._order_status_msg(order),
                        frame(4, 2, order.order_id, 202, "Order Canceled - reason:", ""))

    def _on_global_cancel(self, conn: _Conn, f: list[str]) -> None:
        for order in [o for o in self._orders if o.is_working]:
            self._cancel(order)

    def _on_open_orders(self, conn: _Conn, *, everyone: bool) -> None:
        working = [o for o in self._orders if o.is_working and (everyone or o.client_id == conn.client_id)]
        for order in working:
            conn.send(self._open_order_msg(order), self._order_status_msg(order))
        conn.send(frame(53, 1))

    def _on_completed_orders(self, conn: _Conn, f: list[str]) -> None:
        done = [o for o in self._orders if o.status in ("Filled", "Cancelled", "Inactive")]
        conn.send(*(self._completed_order_msg(o) for o in done), frame(102))

    def _on_executions(self, conn: _Conn, f: list[str]) -> None:
        # [7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side]
        req_id, client_id, acct, since, symbol, sec_type, _, side = int(f[2]), int(f[3] or 0), *f[4:10]
        after = _parse_ib_time(since)
        rows = [
            e for e in self._executions
            if (not client_id or e.client_id == client_id) and acct in ("", e.account)
            and symbol in ("", e.symbol) and sec_type in ("", "STK") and side in ("", e.side, SIDE_ACTION[e.side])
            and (after is None or e.time >= after)
        ]
        conn.send(*(self._exec_details_msg(req_id, e) for e in rows), *(self._commission_msg(e) for e in rows),
                  frame(55, 1, req_id))

    # -- account -------------------------------------------------------------------------

    def _values(self, account: str) -> dict[str, str]:
        return {**self._books[account].values(), **self.overrides}

    def _on_positions(self, conn: _Conn, f: list[str]) -> None:
        conn.positions = True
        rows = [self._position_msg(acct, h) for acct in self.accounts for h in self._books[acct].holdings.values()]
        conn.send(*rows, frame(62, 1))

    def _on_account_updates(self, conn: _Conn, f: list[str]) -> None:
        subscribe, acct = f[2], f[3] or self.accounts[0]
        if subscribe != "1" or acct not in self._books:
            conn.account_updates = None
            return
        conn.account_updates = acct
        values = [frame(6, 2, key, val, "USD", acct) for key, val in self._values(acct).items()]
        portfolio = [self._portfolio_msg(acct, h) for h in self._books[acct].holdings.values() if h.position]
        conn.send(*values, *portfolio, frame(8, 1, dt.datetime.now().strftime("%H:%M")), frame(54, 1, acct))

    def _on_account_summary(self, conn: _Conn, f: list[str]) -> None:
        req_id, tags = int(f[2]), set(f[4].split(","))
        conn.summaries[req_id] = tags
        rows = [
            frame(63, 1, req_id, acct, tag, val, "USD")
            for acct in self.accounts
            for tag, val in self._values(acct).items()
            if tag in tags
        ]
        conn.send(*rows, frame(64, 1, req_id))

    def _push_account(self, account: str, con_id: int, before: dict[str, str]) -> None:
        """After a fill: the changed tags, the holding and the position to the clients subscribed."""
        values = {k: v for k, v in self._values(account).items() if before.get(k) != v}
        holding = self._books[account].holdings[con_id]
        for conn in self._conns:
            for req_id, tags in conn.summaries.items():
                rows = [frame(63, 1, req_id, account, t, v, "USD") for t, v in values.items() if t in tags]
                if rows:
                    conn.send(*rows, frame(64, 1, req_id))
            if conn.account_updates == account:
                conn.send(*(frame(6, 2, k, v, "USD", account) for k, v in values.items()),
                          self._portfolio_msg(account, holding), frame(8, 1, dt.datetime.now().strftime("%H:%M")))
            if conn.positions:
                conn.send(self._position_msg(account, holding))

    # -- messages --------------------------------------------------------------------------

    @staticmethod
    def _position_msg(account: str, h: Holding) -> bytes:
        return frame(61, 3, account, h.con_id, h.symbol, "STK", "", 0.0, "", "", h.exchange, h.currency,
                     h.symbol, h.symbol, _num(h.position), h.avg_cost)

    @staticmethod
    def _portfolio_msg(account: str, h: Holding) -> bytes:
        return frame(7, 8, h.con_id, h.symbol, "STK", "", 0.0, "", "", h.exchange, h.currency, h.symbol,
                     h.symbol, _num(h.position), h.market_price, h.market_value, h.avg_cost, h.unrealized_pnl,
                     h.realized_pnl, account)

    @staticmethod
    def _order_status_msg(o: PeerOrder) -> bytes:
        return frame(3, o.order_id, o.status, _num(o.filled), _num(o.remaining), o.avg_fill_price, o.perm_id, 0,
                     o.last_fill_price, o.client_id, "", 0.0)

    @staticmethod
    def _contract_fields(o: PeerOrder) -> list[Any]:
        c = o.contract
        return [c.con_id, c.symbol, "STK", "", 0.0, "", "", "SMART", c.currency, c.symbol, c.market_name]

    def _open_order_msg(self, o: PeerOrder) -> bytes:
        """openOrder at server version 178, in ``ibapi.decoder.processOpenOrder``'s order."""
        lmt = o.lmt_price if o.lmt_price is not None else ""
        return frame(
            5, o.order_id, *self._contract_fields(o),
            o.action, _num(o.quantity), o.order_type, lmt, "", o.tif, "", o.account, "", 0, o.order_ref,
            o.client_id, o.perm_id, o.outside_rth, False, 0.0, "", "",  # ... goodAfterTime, sharesAllocation
            "", "", "", "", "", "", "", "",  # faGroup, faMethod, faPercentage, modelCode, goodTillDate, rule80A,
            # percentOffset, settlingFirm
            0, "", -1, 0,  # shortSaleSlot, designatedLocation, exemptCode, auctionStrategy
            "", "", "", "", "", "",  # startingPrice, stockRefPrice, delta, stockRangeLower/Upper, displaySize
            False, False, False, "", 0,  # blockOrder, sweepToFill, allOrNone, minQty, ocaType
            False, False, "", 0, 0,  # eTradeOnly, firmQuoteOnly, nbboPriceCap, parentId, triggerMethod
            "", 0, "", "",  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
            False, 0, "", "", "", "",  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent,
            # basisPoints, basisPointsType
            "", 0, 0, 0,  # comboLegsDescrip, comboLegs, orderComboLegs, smartComboRoutingParams
            "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
            "", False, "", "", False, False,  # hedgeType, optOutSmartRouting, clearingAccount, clearingIntent,
            # notHeld, deltaNeutralContract present
            "", False, False, o.status,  # algoStrategy, solicited, whatIf, status
            "", "", "", "", "", "",  # initMargin/maintMargin/equityWithLoan Before, Change
            "", "", "",  # ... After
            "", "", "", "", "",  # commission, minCommission, maxCommission, commissionCurrency, warningText
            False, False, 0,  # randomizeSize, randomizePrice, conditions
            "", UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE, 0,
            # adjustedOrderType, triggerPrice, trailStopPrice, lmtPriceOffset, adjustedStopPrice,
            # adjustedStopLimitPrice, adjustedTrailingAmount, adjustableTrailingUnit
            "", "", "", UNSET_DOUBLE,  # softDollarTier name, value, displayName; cashQty
            False, False, False, False,  # dontUseAutoPriceForHedge, isOmsContainer,
            # discretionaryUpToLimitPrice, usePriceMgmtAlgo
            "", "", False,  # duration, postToAts, autoCancelParent
            "", "", "", "", "",  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
        )

    def _completed_order_msg(self, o: PeerOrder) -> bytes:
        """completedOrder at server version 178 (``ibapi.decoder.processCompletedOrderMsg``'s order)."""
        lmt = o.lmt_price if o.lmt_price is not None else ""
        return frame(
            101, *self._contract_fields(o),
            o.action, _num(o.quantity), o.order_type, lmt, "", o.tif, "", o.account, "", 0, o.order_ref,
            o.perm_id, o.outside_rth, False, 0.0, "",  # permId, outsideRth, hidden, discretionaryAmt, goodAfterTime
            "", "", "", "", "", "", "", "",  # faGroup, faMethod, faPercentage, modelCode, goodTillDate, rule80A,
            # percentOffset, settlingFirm
            0, "", -1,  # shortSaleSlot, designatedLocation, exemptCode
            "", "", "", "", "", "",  # startingPrice, stockRefPrice, delta, stockRangeLower/Upper, displaySize
            False, False, "", 0, 0,  # sweepToFill, allOrNone, minQty, ocaType, triggerMethod
            "", 0, "", "",  # volatility, volatilityType, deltaNeutralOrderType, deltaNeutralAuxPrice
            False, 0, "", "",  # continuousUpdate, referencePriceType, trailStopPrice, trailingPercent
            "", 0, 0, 0,  # comboLegsDescrip, comboLegs, orderComboLegs, smartComboRoutingParams
            "", "", "",  # scaleInitLevelSize, scaleSubsLevelSize, scalePriceIncrement
            "", "", "", False, False,  # hedgeType, clearingAccount, clearingIntent, notHeld, dnc present
            "", False, o.status, False, False, 0,  # algoStrategy, solicited, status, randomizeSize/Price, conditions
            UNSET_DOUBLE, UNSET_DOUBLE, UNSET_DOUBLE,  # trailStopPrice, lmtPriceOffset, cashQty
            False, False, "", _num(o.filled), 0,  # dontUseAutoPriceForHedge, isOmsContainer, autoCancelDate,
            # filledQuantity, refFuturesConId
            False, "", False, False, 0,  # autoCancelParent, shareholder, imbalanceOnly,
            # routeMarketableToBbo, parentPermId
            o.completed_time, o.status if o.status != "Inactive" else "Rejected",  # completedTime, completedStatus
            "", "", "", "", "",  # minTradeQty, minCompeteSize, competeAgainstBestOffset, midOffsetAtWhole/Half
        )

    @staticmethod
    def _exec_details_msg(req_id: int, e: PeerExecution) -> bytes:
        return frame(
            11, req_id, e.order_id, e.con_id, e.symbol, "STK", "", 0.0, "", "", e.exchange, e.currency, e.symbol,
            "NMS", e.exec_id, e.ib_time, e.account, e.exchange, e.side, _num(e.shares), e.price, e.perm_id,
            e.client_id, 0, _num(e.cum_qty), e.avg_price, e.order_ref, "", "", "", 1, False,
        )

    @staticmethod
    def _commission_msg(e: PeerExecution) -> bytes:
        pnl = UNSET_DOUBLE if e.realized_pnl is None else round(e.realized_pnl, 4)
        return frame(59, 1, e.exec_id, e.commission, e.currency, pnl, UNSET_DOUBLE, 0)


def _as_position(h: Holding) -> PeerPosition:
    return PeerPosition(h.symbol, h.position, h.avg_cost, h.market_price, h.con_id, h.exchange, h.currency)


def _parse_ib_time(text: str) -> dt.datetime | None:
    """``YYYYMMDD HH:MM:SS [TZ]`` or ``YYYYMMDD-HH:MM:SS`` (UTC) as an aware datetime; ``None`` if empty."""
    text = text.strip()
    if not text:
        return None
    if "-" in text and " " not in text:
        return dt.datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=dt.UTC)
    parts = text.split(" ")
    stamp = dt.datetime.strptime(" ".join(parts[:2]), "%Y%m%d %H:%M:%S")
    tz = parts[2] if len(parts) > 2 else "UTC"
    return stamp.replace(tzinfo=dt.UTC if tz in ("UTC", "GMT", "Universal") else ZoneInfo(tz))


def _completed_time() -> str:
    return f"{dt.datetime.now(dt.UTC):%Y%m%d %H:%M:%S} UTC"
