"""The matching side of the local Binance Spot peer: markets, one account, orders and trades.

Pure state, no I/O: ``BinancePeer`` (``binance_peer.py``) holds the lock, calls these methods
and turns what they return into Binance's wire messages (REST bodies, ``executionReport`` and
``outboundAccountPosition`` events, market stream frames). Field names are Binance's own.

Fills: a MARKET order takes the touch (ask for a buy, bid for a sell); a LIMIT order that
crosses fills at once at the touch (taker), otherwise it rests and fills at its price (maker)
when the quote reaches it. Commission is ``fee_rate`` of the quote amount, charged in the
quote asset (as with Binance's "pay fees in quote" models; real spot charges the received
asset unless BNB pays: in quote both sides of a round trip stay whole-lot).
"""

from __future__ import annotations

import random
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

FEE_RATE = Decimal("0.001")  # Binance spot's standard 0.1% maker and taker


class RestError(Exception):
    """A Binance error body ``{"code": .., "msg": ..}`` with its HTTP status."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol as ``/api/v3/exchangeInfo`` lists it, plus its simulated start."""

    symbol: str
    base: str
    quote: str
    tick_size: str
    step_size: str
    start_mid: float
    min_notional: str = "5.00000000"

    @property
    def tick(self) -> Decimal:
        return Decimal(self.tick_size)

    def symbol_info(self) -> dict[str, Any]:
        """The ``symbols[]`` entry with Binance's real field set."""
        return {
            "symbol": self.symbol, "status": "TRADING", "baseAsset": self.base, "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": self.tick_size, "maxPrice": "1000000.00000000",
                 "tickSize": self.tick_size},
                {"filterType": "LOT_SIZE", "minQty": self.step_size, "maxQty": "9000.00000000",
                 "stepSize": self.step_size},
                {"filterType": "NOTIONAL", "minNotional": self.min_notional, "applyMinToMarket": True,
                 "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            ],
            "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


CATALOG: tuple[SymbolSpec, ...] = (
    SymbolSpec("BTCUSDT", "BTC", "USDT", "0.01000000", "0.00001000", 65000.0),
    SymbolSpec("ETHUSDT", "ETH", "USDT", "0.01000000", "0.00010000", 3200.0),
)


def fmt(value: Decimal | float) -> str:
    """Binance's 8-decimal number strings: ``"65000.10000000"``."""
    return f"{Decimal(str(value)):.8f}"


@dataclass
class PublicTrade:
    trade_id: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool
    ts_ms: int


class Market:
    """One symbol's quote (integer ticks, a seeded walk pulled to its start) and tape."""

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(f"{seed}:{spec.symbol}")
        self.start = round(Decimal(str(spec.start_mid)) / spec.tick)
        self.bid_t, self.ask_t = self.start, self.start + 10
        self.hold = False
        self.update_id = 1000
        self.trade_id = self.rng.randint(1_000_000, 9_000_000)
        self.tape: deque[PublicTrade] = deque(maxlen=2000)

    @property
    def bid(self) -> Decimal:
        return self.bid_t * self.spec.tick

    @property
    def ask(self) -> Decimal:
        return self.ask_t * self.spec.tick

    def set_quote(self, bid: float, ask: float, hold: bool) -> None:
        self.bid_t = round(Decimal(str(bid)) / self.spec.tick)
        self.ask_t = round(Decimal(str(ask)) / self.spec.tick)
        self.hold = hold
        self.update_id += 1

    def step(self, now_ms: int) -> PublicTrade:
        """Move the quote one step (unless held) and print one public trade at the touch."""
        if not self.hold:
            pull = (self.start - self.bid_t) * 0.02
            move = round(self.rng.gauss(pull, 60))
            spread = self.ask_t - self.bid_t
            self.bid_t += move
            self.ask_t = self.bid_t + spread
            self.update_id += 1
        buyer_maker = self.rng.random() < 0.5  # a sell hits the bid
        self.trade_id += 1
        qty = Decimal(self.rng.randint(1, 500)) * Decimal(self.spec.step_size)
        trade = PublicTrade(self.trade_id, self.bid if buyer_maker else self.ask, qty, buyer_maker, now_ms)
        self.tape.append(trade)
        return trade


@dataclass
class Order:
    """One order as the account holds it."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT
    time_in_force: str
    orig_qty: Decimal
    price: Decimal  # 0 for MARKET
    time_ms: int
    executed: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    status: str = "NEW"
    update_ms: int = 0
    parts_left: int = 1  # executions this order is split into (partial-fill switch)
    locked: Decimal = Decimal(0)  # what it holds of the account (quote for a buy, base for a sell)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed

    def as_rest(self) -> dict[str, Any]:
        """``GET /api/v3/order`` and ``openOrders``/``allOrders`` rows."""
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1, "clientOrderId": self.client_order_id,
            "price": fmt(self.price), "origQty": fmt(self.orig_qty), "executedQty": fmt(self.executed),
            "cummulativeQuoteQty": fmt(self.cum_quote), "status": self.status, "timeInForce": self.time_in_force,
            "type": self.type, "side": self.side, "stopPrice": fmt(0), "icebergQty": fmt(0), "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms, "isWorking": self.status in ("NEW", "PARTIALLY_FILLED"),
            "workingTime": self.time_ms, "origQuoteOrderQty": fmt(0), "selfTradePreventionMode": "EXPIRE_MAKER",
        }


@dataclass
class Execution:
    """One fill of one order: the account trade (``myTrades``) and its report."""

    trade_id: int
    order: Order
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    maker: bool
    time_ms: int

    def as_rest(self) -> dict[str, Any]:
        """A ``GET /api/v3/myTrades`` row."""
        return {
            "symbol": self.order.symbol, "id": self.trade_id, "orderId": self.order.order_id, "orderListId": -1,
            "price": fmt(self.price), "qty": fmt(self.qty), "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission), "commissionAsset": self.commission_asset, "time": self.time_ms,
            "isBuyer": self.order.side == "BUY", "isMaker": self.maker, "isBestMatch": True,
        }


@dataclass
class Account:
    """Balances (free, locked), orders by id, executions in order."""

    balances: dict[str, list[Decimal]]
    orders: dict[int, Order] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    next_order_id: int = 4_000_001
    next_trade_id: int = 700_001

    def balance_rows(self, assets: set[str] | None = None) -> list[dict[str, str]]:
        return [{"asset": a, "free": fmt(f), "locked": fmt(lk)}
                for a, (f, lk) in sorted(self.balances.items()) if assets is None or a in assets]

    def by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        return next((o for o in self.orders.values()
                     if o.symbol == symbol and o.client_order_id == client_order_id), None)


class Exchange:
    """Markets and one account; every method is called under the peer's lock."""

    def __init__(self, balances: dict[str, float], seed: int, fee_rate: Decimal = FEE_RATE) -> None:
        self.markets = {s.symbol: Market(s, seed) for s in CATALOG}
        self.account = Account({a: [Decimal(str(v)), Decimal(0)] for a, v in balances.items()})
        self.fee_rate = fee_rate
        self.split_next = 1  # the next order executes in this many parts

    def market(self, symbol: str) -> Market:
        m = self.markets.get(symbol)
        if m is None:
            raise RestError(400, -1121, "Invalid symbol.")
        return m

    # -- orders -----------------------------------------------------------------------------------

    def new_order(self, args: dict[str, str], now_ms: int) -> Order:
        """Check and accept an order (``RestError`` as Binance answers); executions follow via ``match``."""
        m = self.market(args.get("symbol", ""))
        side, kind = args.get("side", ""), args.get("type", "")
        if side not in ("BUY", "SELL"):
            raise RestError(400, -1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if kind not in ("MARKET", "LIMIT"):
            raise RestError(400, -1116, "Invalid orderType.")
        cid = args.get("newClientOrderId") or f"peer-{self.account.next_order_id}"
        if self.account.by_client_id(m.spec.symbol, cid) is not None:
            raise RestError(400, -2010, "Duplicate order sent.")
        qty = Decimal(args.get("quantity", "0"))
        step = Decimal(m.spec.step_size)
        if qty <= 0 or qty % step:
            raise RestError(400, -1013, "Filter failure: LOT_SIZE")
        price = Decimal(args["price"]) if kind == "LIMIT" else Decimal(0)
        if kind == "LIMIT" and (price <= 0 or price % m.spec.tick):
            raise RestError(400, -1013, "Filter failure: PRICE_FILTER")
        reference = price if kind == "LIMIT" else (m.ask if side == "BUY" else m.bid)
        if reference * qty < Decimal(m.spec.min_notional):
            raise RestError(400, -1013, "Filter failure: NOTIONAL")
        locked = self._lock_funds(m.spec, side, qty, reference)
        order = Order(self.account.next_order_id, cid, m.spec.symbol, side, kind,
                      args.get("timeInForce", "GTC") if kind == "LIMIT" else "GTC", qty, price, now_ms,
                      parts_left=self.split_next, locked=locked)
        self.split_next = 1
        self.account.next_order_id += 1
        self.account.orders[order.order_id] = order
        return order

    def _lock_funds(self, spec: SymbolSpec, side: str, qty: Decimal, price: Decimal) -> Decimal:
        asset, amount = (spec.quote, price * qty * (1 + self.fee_rate)) if side == "BUY" else (spec.base, qty)
        free = self.account.balances.setdefault(asset, [Decimal(0), Decimal(0)])
        if free[0] < amount:
            raise RestError(400, -2010, "Account has insufficient balance for requested action.")
        free[0] -= amount
        free[1] += amount
        return amount

    def cancel(self, symbol: str, order_id: int | None, client_order_id: str | None, now_ms: int) -> Order:
        order = self.find(symbol, order_id, client_order_id)
        if order is None or order.status not in ("NEW", "PARTIALLY_FILLED"):
            raise RestError(400, -2011, "Unknown order sent.")
        self._release(order)
        order.status, order.update_ms = "CANCELED", now_ms
        return order

    def find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> Order | None:
        if order_id is not None:
            order = self.account.orders.get(order_id)
            return order if order is not None and order.symbol == symbol else None
        return self.account.by_client_id(symbol, client_order_id or "")

    def _release(self, order: Order) -> None:
        """Give back what a finished or canceled order still holds."""
        spec = self.markets[order.symbol].spec
        bal = self.account.balances[spec.quote if order.side == "BUY" else spec.base]
        bal[1] -= order.locked
        bal[0] += order.locked
        order.locked = Decimal(0)

    # -- matching ---------------------------------------------------------------------------------

    def match(self, order: Order, now_ms: int) -> Execution | None:
        """One execution of ``order`` if the market lets it fill now (a part under the split switch)."""
        if order.status not in ("NEW", "PARTIALLY_FILLED"):
            return None
        m = self.markets[order.symbol]
        touch = m.ask if order.side == "BUY" else m.bid
        if order.type == "MARKET":
            price, maker = touch, False
        elif (order.side == "BUY" and touch <= order.price) or (order.side == "SELL" and touch >= order.price):
            resting = order.update_ms > 0 or order.executed > 0  # it rested on the book before
            price, maker = (order.price, True) if resting else (touch, False)
        else:
            return None
        qty = order.remaining
        if order.parts_left > 1:
            step = Decimal(m.spec.step_size)
            qty = (order.remaining / order.parts_left).quantize(step, rounding=ROUND_DOWN) or qty
            order.parts_left -= 1
        return self._execute(order, price, qty, maker, now_ms)

    def _execute(self, order: Order, price: Decimal, qty: Decimal, maker: bool, now_ms: int) -> Execution:
        spec = self.markets[order.symbol].spec
        quote = price * qty
        fee = (quote * self.fee_rate).quantize(Decimal("0.00000001"))
        bal = self.account.balances
        base_b, quote_b = bal.setdefault(spec.base, [Decimal(0)] * 2), bal.setdefault(spec.quote, [Decimal(0)] * 2)
        if order.side == "BUY":
            used = min(quote + fee, order.locked)
            order.locked -= used
            quote_b[1] -= used
            quote_b[0] -= quote + fee - used  # a market buy's second part may cost more than was held
            base_b[0] += qty
        else:
            order.locked -= qty
            base_b[1] -= qty
            quote_b[0] += quote - fee
        order.executed += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        order.update_ms = now_ms
        if order.status == "FILLED":
            self._release(order)
        execution = Execution(self.account.next_trade_id, order, price, qty, fee, spec.quote, maker, now_ms)
        self.account.next_trade_id += 1
        self.account.executions.append(execution)
        return execution

    def rest(self, order: Order, now_ms: int) -> None:
        """The order is on the book now (later fills are maker fills)."""
        order.update_ms = order.update_ms or now_ms

    def working(self) -> list[Order]:
        return [o for o in self.account.orders.values() if o.status in ("NEW", "PARTIALLY_FILLED")]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
