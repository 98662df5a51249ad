"""The simulated market behind ``TwsPeer``: contracts, trading hours, daily bars, fills, books.

Nothing here speaks the wire; ``tws_peer`` turns it into TWS API messages.

- ``PeerContract``: one stock as IB's contract details describe it (``QQQ`` by default).
- ``ib_hours``: IB's ``tradingHours``/``liquidHours`` strings (``YYYYMMDD:HHMM-YYYYMMDD:HHMM;...``).
- ``BarGenerator``: a seeded random walk pulled back towards a centre (400), daily OHLCV with a
  0.8-2 % range and the close uniform inside it, so IBS = (close-low)/(high-low) is uniform on
  0..1: an IBS strategy (buy < 0.2, exit > 0.8) trades several times in 40 bars.
- ``Tape``: one contract's history (dated up to yesterday) and its live bars (today, tomorrow, ...).
- ``Book``: one account's cash and holdings; ``apply_fill`` books a fill IB's way (average
  cost includes commissions) and ``values`` gives IB's account tags.
- ``commission``: IB fixed/tiered-like 0.005 USD a share, at least 1.00 USD, at most 1 % of value.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UNSET_DOUBLE = "1.7976931348623157E308"  # IB's "no value" for doubles on the wire
EXCHANGE_TZ = ZoneInfo("America/New_York")
ORDER_TYPES = (
    "ACTIVETIM,AD,ADJUST,ALERT,ALGO,ALLOC,AVGCOST,BASKET,BENCHPX,COND,CONDORDER,DARKONLY,DARKPOLL,"
    "DAY,DEACT,DEACTDIS,DEACTEOD,DIS,DUR,GAT,GTC,GTD,GTT,HID,IBKRATS,ICE,IMB,IOC,LIT,LMT,LOC,MIDPX,"
    "MIT,MKT,MOC,MTL,NGCOMB,NODARK,NONALGO,OCA,OPG,OPGREROUT,PEGBENCH,PEGMID,POSTATS,POSTONLY,"
    "PREOPGRTH,PRICECHK,REL,REL2MID,RELPCTOFS,RPI,RTH,SCALE,SCALEODD,SCALERST,SIZECHK,SNAPMID,"
    "SNAPMKT,SNAPREL,STP,STPLMT,SWEEP,TRAIL,TRAILLIT,TRAILLMT,TRAILMIT,WHATIF"
)
VALID_EXCHANGES = (
    "SMART,AMEX,NYSE,CBOE,PHLX,ISE,CHX,ARCA,NASDAQ,DRCTEDGE,BEX,BATS,EDGEA,BYX,IEX,EDGX,FOXRIVER,"
    "PEARL,NYSENAT,LTSE,MEMX,IBEOS,OVERNIGHT,TPLUS0,PSX"
)


@dataclass(frozen=True)
class PeerContract:
    """One stock the peer lists, as IB's ``contractDetails`` describes it."""

    symbol: str
    con_id: int
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"
    min_tick: float = 0.01
    long_name: str = ""
    isin: str = ""
    stock_type: str = "COMMON"
    industry: str = ""
    category: str = ""
    subcategory: str = ""
    market_name: str = "NMS"
    time_zone_id: str = "US/Eastern"
    market_rule_ids: str = "26"
    start_price: float = 400.0  # where the generated walk starts and is pulled back to

    def matches(self, con_id: int, symbol: str, sec_type: str, exchange: str, primary: str, currency: str) -> bool:
        """Whether a request's contract fields (IB's matching: conId, else symbol/localSymbol) mean us."""
        if con_id:
            return con_id == self.con_id
        return (
            symbol.upper() == self.symbol
            and sec_type in ("", "STK")
            and currency in ("", self.currency)
            and exchange in ("", "SMART", self.primary_exchange)
            and primary in ("", self.primary_exchange)
        )


QQQ = PeerContract(
    "QQQ",
    320227571,
    long_name="INVESCO QQQ TRUST SERIES 1",
    isin="US46090E1038",
    stock_type="ETF",
    market_rule_ids="26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26,26",
)
AAPL = PeerContract("AAPL", 265598, long_name="APPLE INC", isin="US0378331005", industry="Technology",
                    start_price=190.0)
MSFT = PeerContract("MSFT", 272093, long_name="MICROSOFT CORP", isin="US5949181045", industry="Technology",
                    start_price=400.0)
# QQQ to trade; AAPL and MSFT because the default account holds them (a real gateway knows every
# contract, and Nautilus's reconciliation asks for the contract of every position it is told of)
DEFAULT_CONTRACTS: tuple[PeerContract, ...] = (QQQ, AAPL, MSFT)


# -- trading hours -----------------------------------------------------------------------------


def ib_hours(now: dt.datetime, *, always_open: bool) -> tuple[str, str]:
    """``(tradingHours, liquidHours)`` in IB's format, in exchange time (US/Eastern).

    ``always_open``: every day from Monday of the current week to a week ahead is one session
    ``YYYYMMDD:0000-YYYYMMDD+1:0000`` (contiguous, no gap at midnight), both strings alike.
    Otherwise: the next seven days from today, weekdays 04:00-20:00 trading and 09:30-16:00
    liquid (regular) hours, weekends ``YYYYMMDD:CLOSED`` (no holiday calendar).
    """
    today = now.astimezone(EXCHANGE_TZ).date()
    if always_open:
        monday = today - dt.timedelta(days=today.weekday())
        days = [monday + dt.timedelta(days=i) for i in range((today - monday).days + 8)]
        text = ";".join(f"{d:%Y%m%d}:0000-{d + dt.timedelta(days=1):%Y%m%d}:0000" for d in days)
        return text, text
    days = [today + dt.timedelta(days=i) for i in range(7)]

    def spans(open_: str, close: str) -> str:
        return ";".join(
            f"{d:%Y%m%d}:{open_}-{d:%Y%m%d}:{close}" if d.weekday() < 5 else f"{d:%Y%m%d}:CLOSED" for d in days
        )

    return spans("0400", "2000"), spans("0930", "1600")


def in_hours(hours: str, now: dt.datetime) -> bool:
    """Whether ``now`` falls in one of the sessions of an IB hours string (exchange time)."""
    local = now.astimezone(EXCHANGE_TZ).replace(tzinfo=None)
    for part in hours.split(";"):
        if "CLOSED" in part or "-" not in part:
            continue
        start, end = part.split("-", 1)
        if dt.datetime.strptime(start, "%Y%m%d:%H%M") <= local < dt.datetime.strptime(end, "%Y%m%d:%H%M"):
            return True
    return False


# -- bars --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyBar:
    """One daily bar; ``date`` is the trading day (IB sends it as ``YYYYMMDD``)."""

    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: int = 35_000_000

    @property
    def wap(self) -> float:
        return round((self.high + self.low + self.close) / 3, 4)

    @property
    def bar_count(self) -> int:
        return max(1, self.volume // 150)

    @property
    def ibs(self) -> float | None:
        """Internal bar strength (close-low)/(high-low); ``None`` for a flat bar."""
        rng = self.high - self.low
        return None if rng <= 0 else (self.close - self.low) / rng


OHLC = tuple[float, float, float, float] | tuple[float, float, float, float, int]


def _ohlcv(bar: OHLC | DailyBar) -> tuple[float, float, float, float, int]:
    if isinstance(bar, DailyBar):
        return bar.open, bar.high, bar.low, bar.close, bar.volume
    o, h, lo, c, *v = bar
    if not lo <= min(o, c) <= max(o, c) <= h:
        raise ValueError(f"bar {bar}: need low <= open, close <= high")
    return float(o), float(h), float(lo), float(c), int(v[0]) if v else 35_000_000


class BarGenerator:
    """Deterministic daily OHLCV: a random walk pulled back towards ``center``.

    Each day the close moves by N(0, 1.1 %) plus 10 % of the gap back to ``center``; the
    day's range is 0.8-2 % of the previous close with the close uniform inside it (so IBS
    is uniform on 0..1); the open gaps by N(0, 0.3 %) from the previous close, clipped
    into the range; volume 20-60 M shares.
    """

    def __init__(self, seed: int, start: float = 400.0, center: float = 400.0, tick: float = 0.01) -> None:
        self._rng = random.Random(seed)
        self._close = start
        self._center = center
        self._tick = tick

    def _round(self, x: float) -> float:
        return round(round(x / self._tick) * self._tick, 10)

    def next(self) -> tuple[float, float, float, float, int]:
        rng, prev = self._rng, self._close
        close = prev + 0.1 * (self._center - prev) + rng.gauss(0.0, 0.011) * prev
        width = prev * rng.uniform(0.008, 0.02)
        low = close - rng.random() * width
        high = low + width
        opened = min(max(prev * (1 + rng.gauss(0.0, 0.003)), low), high)
        o, h, lo, c = (self._round(x) for x in (opened, high, low, close))
        h, lo = max(o, h, lo, c), min(o, h, lo, c)
        self._close = c
        return o, h, lo, c, rng.randrange(20_000_000, 60_000_000)

    def __iter__(self) -> Iterator[tuple[float, float, float, float, int]]:
        while True:
            yield self.next()


@dataclass
class Tape:
    """One contract's bars: the history (ending yesterday) and the live tape (from today on).

    ``advance()`` appends the next live bar (dated ``today + n``) to ``live``; once a scripted
    list is used up it appends one closing flat bar (O=H=L=C=last close, so that Nautilus
    publishes the last scripted bar) and then returns ``None`` for good.
    """

    contract: PeerContract
    today: dt.date
    history: list[DailyBar]
    source: Iterator[tuple[float, float, float, float, int]]
    scripted: bool
    live: list[DailyBar] = field(default_factory=list)
    exhausted: bool = False

    @classmethod
    def build(
        cls,
        contract: PeerContract,
        today: dt.date,
        *,
        history: int | Sequence[OHLC | DailyBar],
        live: Sequence[OHLC | DailyBar] | None,
        seed: int,
    ) -> Tape:
        gen = BarGenerator(seed * 1_000_003 + contract.con_id, start=contract.start_price,
                           center=contract.start_price, tick=contract.min_tick)
        rows = [gen.next() for _ in range(history)] if isinstance(history, int) else [_ohlcv(b) for b in history]
        first = today - dt.timedelta(days=len(rows))
        bars = [DailyBar(first + dt.timedelta(days=i), *row) for i, row in enumerate(rows)]
        source = iter(gen) if live is None else iter([_ohlcv(b) for b in live])
        return cls(contract, today, bars, source, scripted=live is not None)

    @property
    def current(self) -> DailyBar | None:
        """The bar in progress: the last live bar streamed."""
        return self.live[-1] if self.live else None

    @property
    def last_price(self) -> float:
        """The market: the close of the last streamed bar (the last history close before that)."""
        if self.live:
            return self.live[-1].close
        return self.history[-1].close if self.history else self.contract.start_price

    def advance(self) -> DailyBar | None:
        """Stream the next live bar (see class docstring); ``None`` once a script is used up."""
        if self.exhausted:
            return None
        row = next(self.source, None)
        if row is None:
            self.exhausted = True
            if not self.live:
                return None
            p = self.live[-1].close
            row = (p, p, p, p, 0)
        bar = DailyBar(self.today + dt.timedelta(days=len(self.live)), *row)
        self.live.append(bar)
        return bar

    def history_between(self, start: dt.datetime, end: dt.datetime) -> list[DailyBar]:
        """History bars whose day lies in ``[start's day, end)`` (day = midnight UTC, as Nautilus reads it)."""
        out = []
        for bar in self.history:
            midnight = dt.datetime.combine(bar.date, dt.time(), tzinfo=dt.UTC)
            if start.date() <= bar.date and midnight < end:
                out.append(bar)
        return out


def parse_duration(text: str) -> dt.timedelta:
    """IB's ``durationStr`` (``"30 S"``, ``"5 D"``, ``"2 W"``, ``"1 M"``, ``"1 Y"``) as a timedelta."""
    n, unit = text.split()
    days = {"D": 1, "W": 7, "M": 30, "Y": 365}
    if unit == "S":
        return dt.timedelta(seconds=int(n))
    return dt.timedelta(days=int(n) * days[unit])


# -- orders, fills, accounts --------------------------------------------------------------------


def commission(shares: float, price: float) -> float:
    """IB-like per-share commission: 0.005 USD a share, min 1.00 USD, max 1 % of the trade value."""
    return round(min(max(0.005 * shares, 1.0), 0.01 * shares * price), 4)


@dataclass
class PeerOrder:
    """One order the peer received (``status`` in IB's words)."""

    order_id: int
    client_id: int
    perm_id: int
    account: str
    contract: PeerContract
    action: str  # BUY / SELL
    quantity: float
    order_type: str  # MKT / LMT
    lmt_price: float | None
    tif: str
    order_ref: str
    outside_rth: bool
    status: str = "PendingSubmit"  # PreSubmitted, Submitted, Filled, Cancelled, Inactive
    filled: float = 0.0
    avg_fill_price: float = 0.0
    last_fill_price: float = 0.0
    completed_time: str = ""

    @property
    def remaining(self) -> float:
        return self.quantity - self.filled

    @property
    def is_working(self) -> bool:
        return self.status in ("PreSubmitted", "Submitted")

    def limit_fill(self, bar: DailyBar) -> float | None:
        """The price a limit order fills at on ``bar`` (the open if better), ``None`` if not crossed."""
        assert self.lmt_price is not None
        if self.action == "BUY":
            return min(bar.open, self.lmt_price) if bar.low <= self.lmt_price else None
        return max(bar.open, self.lmt_price) if bar.high >= self.lmt_price else None


@dataclass(frozen=True)
class PeerExecution:
    """One fill as IB reports it (``execDetails`` + ``commissionReport``)."""

    exec_id: str
    order_id: int
    perm_id: int
    client_id: int
    account: str
    order_ref: str
    symbol: str
    con_id: int
    side: str  # BOT / SLD
    shares: float
    price: float
    commission: float
    currency: str
    time: dt.datetime  # UTC
    cum_qty: float
    avg_price: float
    realized_pnl: float | None  # None: the fill opened or added
    exchange: str = "NASDAQ"

    @property
    def ib_time(self) -> str:
        """``YYYYMMDD HH:MM:SS US/Eastern``, as IB sends execution times."""
        return f"{self.time.astimezone(EXCHANGE_TZ):%Y%m%d %H:%M:%S} US/Eastern"


@dataclass
class Holding:
    """One position in an account (IB's average cost includes commissions)."""

    symbol: str
    con_id: int
    exchange: str
    currency: str
    position: float
    avg_cost: float
    market_price: float
    realized_pnl: float = 0.0

    @property
    def market_value(self) -> float:
        return self.position * self.market_price

    @property
    def unrealized_pnl(self) -> float:
        return self.position * (self.market_price - self.avg_cost)


@dataclass
class Book:
    """One account: cash and holdings by conId."""

    cash: float
    holdings: dict[int, Holding] = field(default_factory=dict)

    def apply_fill(self, contract: PeerContract, signed_qty: float, price: float, fee: float) -> float | None:
        """Book a fill (``signed_qty`` > 0 buys); the realized PnL after the fee if it reduced a
        position, ``None`` if it opened or added (the fee then goes into the average cost)."""
        h = self.holdings.get(contract.con_id)
        if h is None:
            h = self.holdings[contract.con_id] = Holding(
                contract.symbol, contract.con_id, contract.primary_exchange, contract.currency, 0.0, 0.0, price
            )
        self.cash -= signed_qty * price + fee
        old = h.position
        new = old + signed_qty
        realized: float | None = None
        if old == 0 or math.copysign(1, old) == math.copysign(1, signed_qty):  # opening / adding
            h.avg_cost = (h.avg_cost * abs(old) + price * abs(signed_qty) + fee) / abs(new)
        else:  # reducing, closing or flipping
            closed = min(abs(signed_qty), abs(old))
            realized = closed * (price - h.avg_cost) * math.copysign(1, old) - fee
            h.realized_pnl += realized
            if abs(signed_qty) > abs(old):
                h.avg_cost = price
            elif new == 0:
                h.avg_cost = 0.0
        h.position = new
        h.market_price = price
        return realized

    def mark(self, con_id: int, price: float) -> None:
        if (h := self.holdings.get(con_id)) is not None:
            h.market_price = price

    def values(self) -> dict[str, str]:
        """IB account tags (cash-account-like: initial = maintenance margin = gross position value)."""
        gross = sum(abs(h.market_value) for h in self.holdings.values())
        net = self.cash + sum(h.market_value for h in self.holdings.values())
        available = net - gross
        money = {
            "NetLiquidation": net,
            "TotalCashValue": self.cash,
            "SettledCash": self.cash,
            "CashBalance": self.cash,
            "BuyingPower": 4 * available,
            "GrossPositionValue": gross,
            "EquityWithLoanValue": net,
            "InitMarginReq": gross,
            "MaintMarginReq": gross,
            "FullInitMarginReq": gross,
            "FullMaintMarginReq": gross,
            "AvailableFunds": available,
            "FullAvailableFunds": available,
            "ExcessLiquidity": available,
            "FullExcessLiquidity": available,
            "RealizedPnL": sum(h.realized_pnl for h in self.holdings.values()),
            "UnrealizedPnL": sum(h.unrealized_pnl for h in self.holdings.values()),
        }
        return {k: f"{v:.2f}" for k, v in money.items()}
