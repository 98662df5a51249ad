"""ib_async and raw TWS API messages against the local TWS peer: handshake, accounts, summary,
positions, faults, contract details, bars, orders, executions."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from ib_async import IB, LimitOrder, MarketOrder, Stock, util

from tests.peers.tws_market import QQQ, BarGenerator, Book, DailyBar, Tape, commission, ib_hours, in_hours
from tests.peers.tws_peer import PLACE_ORDER, TwsPeer, frame

T = TypeVar("T")
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def peer() -> Iterator[TwsPeer]:
    with TwsPeer(accounts=("DU1234567",)) as p:
        yield p


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run for ib_async: its ``util.getLoop`` caches ONE loop per process, so a
    fresh loop must be re-registered (PaperLab's probe keeps one dedicated loop instead)."""

    async def main() -> T:
        util.getLoop.cache_clear()
        util.getLoop()
        return await coro

    return asyncio.run(main())


async def _connect(port: int, readonly: bool = False) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=7, timeout=3, readonly=readonly, raiseSyncErrors=True)
    return ib


def test_full_connect_syncs_accounts_and_positions(peer: TwsPeer) -> None:
    async def go() -> tuple[list[str], list, list, float]:
        ib = await _connect(peer.port)
        try:
            now = await asyncio.wait_for(ib.reqCurrentTimeAsync(), 3)
            return ib.managedAccounts(), ib.positions(), ib.portfolio(), now.timestamp()
        finally:
            ib.disconnect()

    accounts, positions, portfolio, now = _run(go())
    assert accounts == ["DU1234567"]
    assert {(p.contract.symbol, p.position, p.avgCost) for p in positions} == {
        ("AAPL", 100.0, 150.25),
        ("MSFT", 20.0, 310.5),
    }
    assert {i.contract.symbol: i.marketValue for i in portfolio} == {"AAPL": 19000.0, "MSFT": 8000.0}
    assert now > 1.7e9
    # everything connectAsync awaits was asked for and answered (raiseSyncErrors=True)
    assert {71, 61, 5, 99, 6, 76, 7, 49} <= set(peer.requests)
    assert PLACE_ORDER not in peer.requests


def test_account_summary_values(peer: TwsPeer) -> None:
    async def go() -> dict[str, tuple[str, str]]:
        ib = await _connect(peer.port, readonly=True)
        try:
            rows = await asyncio.wait_for(ib.accountSummaryAsync("DU1234567"), 3)
            return {r.tag: (r.value, r.currency) for r in rows}
        finally:
            ib.disconnect()

    summary = _run(go())
    assert summary["NetLiquidation"] == ("100000.00", "USD")
    assert summary["TotalCashValue"] == ("73000.00", "USD")
    assert summary["BuyingPower"] == ("292000.00", "USD")
    assert summary["GrossPositionValue"] == ("27000.00", "USD")
    assert summary["AvailableFunds"] == ("73000.00", "USD")
    assert 62 in peer.requests and PLACE_ORDER not in peer.requests


def test_logged_out_peer_never_gets_ready() -> None:
    async def go(port: int) -> None:
        await _connect(port)

    with TwsPeer(logged_out=True) as peer:
        with pytest.raises(TimeoutError):
            _run(go(peer.port))
        assert peer.handshakes == 1 and peer.requests == [71]


def test_errors_and_drop_reach_the_client(peer: TwsPeer) -> None:
    async def go() -> tuple[list[int], bool]:
        ib = await _connect(peer.port, readonly=True)
        codes: list[int] = []
        ib.errorEvent += lambda req_id, code, msg, contract: codes.append(code)
        peer.send_error(1100, "Connectivity between IB and Trader Workstation has been lost.")
        peer.send_error(1102, "Connectivity between IB and Trader Workstation has been restored - data maintained.")
        await asyncio.sleep(0.2)
        peer.drop()
        for _ in range(50):
            if not ib.isConnected():
                break
            await asyncio.sleep(0.05)
        return codes, ib.isConnected()

    codes, connected = _run(go())
    assert codes == [1100, 1102]
    assert not connected


def test_restart_rebinds_same_port() -> None:
    peer = TwsPeer().start()
    port = peer.port
    peer.stop()
    peer.start()
    try:
        assert peer.port == port
    finally:
        peer.stop()


# -- the simulated exchange: raw TWS API messages ---------------------------------------------------


class RawClient:
    """A bare TWS API client: handshake, startApi, send fields, read messages as string lists."""

    def __init__(self, port: int, client_id: int = 3) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(b"API\0" + struct.pack(">I", 9) + b"v100..178")
        self.buf = b""
        self.server_version = int(self._next()[0])
        self.send(71, 2, client_id, "")
        self.messages: list[list[str]] = []

    def send(self, *fields: Any) -> None:
        self.sock.sendall(frame(*fields))

    def _next(self) -> list[str]:
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack(">I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the socket")
            self.buf += chunk
        size = struct.unpack(">I", self.buf[:4])[0]
        body, self.buf = self.buf[4 : 4 + size], self.buf[4 + size :]
        return body.decode().split("\0")[:-1]

    def until(self, predicate: Callable[[list[str]], bool], timeout: float = 3.0) -> list[list[str]]:
        """Read until a message matches; returns every message read (also kept in ``messages``)."""
        deadline, got = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            msg = self._next()
            got.append(msg)
            self.messages.append(msg)
            if predicate(msg):
                return got
        raise AssertionError(f"no matching message in {timeout}s; got {got[-5:]}")

    def close(self) -> None:
        self.sock.close()


def contract_fields(symbol: str = "QQQ", con_id: int = 0, primary: str = "NASDAQ") -> list[Any]:
    """conId, symbol, secType, ltd, strike, right, multiplier, exchange, primaryExchange, currency,
    localSymbol, tradingClass: how Nautilus names a stock (localSymbol, SMART, primary exchange)."""
    return [con_id, "", "STK", "", "", "", "", "SMART", primary, "USD", symbol, ""]


def test_contract_details_hours_and_unknown_symbols() -> None:
    with TwsPeer(positions=(), always_open=False) as peer:
        c = RawClient(peer.port)
        assert c.server_version == 178
        c.until(lambda m: m[0] == "15")  # managedAccounts after nextValidId
        c.send(9, 8, 5, *contract_fields(), False, "", "", "")
        got = c.until(lambda m: m[:3] == ["52", "1", "5"])
        details = next(m for m in got if m[0] == "10")
        assert details[1:4] == ["5", "QQQ", "STK"] and details[12:14] == ["320227571", "0.01"]
        assert details[20] == "NASDAQ" and details[25] == "US/Eastern"
        assert details[30:33] == ["1", "ISIN", "US46090E1038"]  # Nautilus needs an ISIN for an Equity
        trading, liquid = details[26], details[27]
        assert "0930-" in liquid and ":1600" in liquid and "0400-" in trading and ":2000" in trading
        assert ("CLOSED" in liquid) == any(
            (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=i)).weekday() >= 5 for i in range(7))
        c.send(9, 8, 6, *contract_fields(con_id=320227571, symbol=""), False, "", "", "")  # by conId
        assert c.until(lambda m: m[0] in ("10", "4"))[-1][:3] == ["10", "6", "QQQ"]
        for req_id, fields in ((7, contract_fields("NOPE")), (8, contract_fields(primary="ARCA"))):
            c.send(9, 8, req_id, *fields, False, "", "", "")
            error = c.until(lambda m: m[0] == "4")[-1]
            assert error[2:5] == [str(req_id), "200", "No security definition has been found for the request"]
        c.send(81, 9, "QQ")  # reqMatchingSymbols
        samples = c.until(lambda m: m[0] == "79")[-1]
        assert samples[1:6] == ["9", "1", "320227571", "QQQ", "STK"]
        c.close()


def test_duplicate_client_id_is_refused_with_326() -> None:
    with TwsPeer() as peer:
        first = RawClient(peer.port, client_id=5)
        first.until(lambda m: m[0] == "15")
        second = RawClient(peer.port, client_id=5)
        error = second.until(lambda m: m[0] == "4")[-1]
        assert error[3] == "326" and peer.clients == [5]
        first.close()
        second.close()


def test_history_window_keep_up_stream_and_realtime_bars() -> None:
    with TwsPeer(positions=(), bar_interval_s=0.05, history_bars=20) as peer:
        c = RawClient(peer.port)
        c.until(lambda m: m[0] == "15")
        yesterday = peer.today - dt.timedelta(days=1)
        # keepUpToDate=False, formatDate=2 (epoch seconds): daily bars are still YYYYMMDD, ending yesterday
        c.send(20, 1, *contract_fields(), False, "", "1 day", "5 D", 0, "TRADES", 2, False, "")
        hist = c.until(lambda m: m[0] == "17")[-1]
        assert hist[4] == "5" and [hist[5 + 8 * i] for i in range(5)] == [
            f"{yesterday - dt.timedelta(days=4 - i):%Y%m%d}" for i in range(5)]
        assert float(hist[5 + 8 * 4 + 4]) == peer.tape().history[-1].close
        # keepUpToDate=True: the chart (empty before streaming), then one update per interval, a day apart
        c.send(20, 2, *contract_fields(), False, "", "1 day", "300 D", 0, "TRADES", 2, True, "")
        chart = c.until(lambda m: m[0] == "17")[-1]
        assert (chart[1], chart[4]) == ("2", "0")
        c.send(50, 3, 3, *contract_fields(), 5, "TRADES", 0, "")  # reqRealTimeBars
        c.until(lambda m: len([x for x in c.messages if x[0] == "90"]) >= 3, 5)
        updates = [m for m in c.messages if m[0] == "90"]
        assert [m[3] for m in updates[:3]] == [f"{peer.today + dt.timedelta(days=i):%Y%m%d}" for i in range(3)]
        live = peer.tape().live
        assert [float(m[5]) for m in updates[:3]] == [b.close for b in live[:3]]  # reqId, count, date, open, close
        realtime = [m for m in c.messages if m[0] == "50"]
        assert len(realtime) >= 2 and int(realtime[1][3]) - int(realtime[0][3]) == 5  # [50, 3, reqId, time, ...]
        c.send(25, 1, 2)  # cancelHistoricalData
        c.send(51, 1, 3)  # cancelRealTimeBars
        time.sleep(0.2)
        streamed = len(peer.tape().live)
        time.sleep(0.2)  # no subscription left: the tape pauses
        assert len(peer.tape().live) == streamed
        c.close()


def test_ib_async_market_and_limit_orders_executions_and_completed_orders() -> None:
    async def go(peer: TwsPeer) -> dict[str, Any]:
        ib = await _connect(peer.port)
        try:
            contract = Stock("QQQ", "SMART", "USD", primaryExchange="NASDAQ")
            [qualified] = await ib.qualifyContractsAsync(contract)
            trade = ib.placeOrder(qualified, MarketOrder("BUY", 150, orderRef="ref-1"))
            for _ in range(100):
                if trade.isDone() and trade.fills and trade.fills[0].commissionReport.commission:
                    break
                await asyncio.sleep(0.02)
            resting = ib.placeOrder(qualified, LimitOrder("SELL", 150, 999.0))
            await asyncio.sleep(0.2)
            open_orders = await asyncio.wait_for(ib.reqOpenOrdersAsync(), 3)
            ib.cancelOrder(resting.order)
            await asyncio.sleep(0.2)
            completed = await asyncio.wait_for(ib.reqCompletedOrdersAsync(apiOnly=False), 3)
            fills = await asyncio.wait_for(ib.reqExecutionsAsync(), 3)
            return {"trade": trade, "resting": resting, "open": open_orders, "completed": completed, "fills": fills,
                    "positions": ib.positions()}
        finally:
            ib.disconnect()

    with TwsPeer(positions=()) as peer:
        out = _run(go(peer))
        [e] = peer.executions
    trade = out["trade"]
    assert trade.orderStatus.status == "Filled" and trade.orderStatus.avgFillPrice == e.price
    [fill] = trade.fills
    assert fill.execution.execId == e.exec_id and fill.execution.orderRef == "ref-1" and fill.execution.side == "BOT"
    assert fill.commissionReport.commission == 1.0 and fill.commissionReport.currency == "USD"  # 150 sh: min 1.00
    assert [t.order.orderType for t in out["open"]] == ["LMT"]
    assert out["resting"].orderStatus.status == "Cancelled"
    assert {(t.order.permId, t.orderStatus.status) for t in out["completed"]} == {
        (e.perm_id, "Filled"), (out["resting"].order.permId, "Cancelled")}
    assert [f.execution.execId for f in out["fills"]] == [e.exec_id]
    assert [(p.contract.symbol, p.position) for p in out["positions"]] == [("QQQ", 150.0)]


def test_market_generator_hours_commission_book_and_tape() -> None:
    gen = BarGenerator(3)
    bars = [gen.next() for _ in range(400)]
    again = BarGenerator(3)
    assert bars[:40] == [again.next() for _ in range(40)]  # deterministic
    for o, h, lo, c, _ in bars:
        assert lo <= min(o, c) <= max(o, c) <= h and 0.007 < (h - lo) / c < 0.021
    assert 300 < min(b[3] for b in bars) and max(b[3] for b in bars) < 500  # around 400
    ibs = [(c - lo) / (h - lo) for _, h, lo, c, _ in bars[:40]]
    assert sum(x < 0.2 for x in ibs) >= 4 and sum(x > 0.8 for x in ibs) >= 4  # an IBS strategy trades

    wednesday = dt.datetime(2026, 11, 25, 15, 0, tzinfo=dt.UTC)  # 10:00 in New York
    trading, liquid = ib_hours(wednesday, always_open=True)
    assert trading == liquid and liquid.startswith("20261123:0000-20261124:0000;")  # from Monday
    assert liquid.endswith("20261202:0000-20261203:0000")  # to a week ahead
    assert in_hours(liquid, dt.datetime(2026, 11, 30, 4, 59, tzinfo=dt.UTC))  # Sunday 23:59 New York
    trading, liquid = ib_hours(wednesday, always_open=False)
    assert liquid.split(";")[:2] == ["20261125:0930-20261125:1600", "20261126:0930-20261126:1600"]
    assert "20261128:CLOSED" in liquid and trading.startswith("20261125:0400-20261125:2000")
    assert in_hours(liquid, wednesday) and not in_hours(liquid, wednesday.replace(hour=22))

    assert [commission(q, 400.0) for q in (1, 100, 200, 300)] == [1.0, 1.0, 1.0, 1.5]
    assert commission(10, 5.0) == 0.5  # at most 1 % of the value

    book = Book(10_000.0)
    assert book.apply_fill(QQQ, 10, 400.0, 1.0) is None  # opening: the fee goes into the average cost
    assert book.holdings[QQQ.con_id].avg_cost == pytest.approx(400.1)
    assert book.apply_fill(QQQ, -10, 410.0, 1.0) == pytest.approx(10 * (410 - 400.1) - 1)
    assert book.cash == pytest.approx(10_000 - 4_001 + 4_099) and book.values()["NetLiquidation"] == "10098.00"

    tape = Tape.build(QQQ, dt.date(2026, 1, 10), history=[(1, 2, 0.5, 1.5)], live=[(1.5, 3, 1, 2)], seed=1)
    assert tape.history[0].date == dt.date(2026, 1, 9) and tape.last_price == 1.5
    assert tape.advance() == DailyBar(dt.date(2026, 1, 10), 1.5, 3, 1, 2, 35_000_000)
    assert tape.advance() == DailyBar(dt.date(2026, 1, 11), 2, 2, 2, 2, 0)  # the closing flat bar
    assert tape.advance() is None and tape.exhausted
