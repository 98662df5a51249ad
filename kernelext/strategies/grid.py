"""grid: resting buy and sell limits at fixed steps around the price, re-placed after fills."""

from __future__ import annotations

from decimal import Decimal

from nautilus_trader.config import PositiveFloat, PositiveInt
from nautilus_trader.model.data import Bar
from nautilus_trader.model.enums import OrderSide
from nautilus_trader.model.events import OrderFilled

from kernelext.strategies.base import PaperStrategy
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.registry import register


class GridConfig(PaperStrategyConfig, frozen=True):
    """
    Parameters
    ----------
    step_pct : float, default 0.5
        Distance between grid levels, in percent of the price the grid was laid around.
    levels : int, default 2
        Resting orders on each side of the price.
    """

    step_pct: PositiveFloat = 0.5
    levels: PositiveInt = 2


@register("grid")
class Grid(PaperStrategy):
    """
    A price grid that keeps resting orders: on the first live bar it lays ``levels``
    buy limits below the close and ``levels`` sell limits above it, ``step_pct`` apart.
    Each fill re-places the opposite order one step away from the fill price (a buy
    filled at P rests a sell at P + step, and the other way round), so the grid keeps
    its size and the position stays within ``levels`` orders either way. On a spot
    (long-only) account, as grid bots do there, it first buys the inventory its sells
    need (``levels`` orders' worth, at market) and lays the grid around that fill: the
    resting sells then only ever sell what was bought. Its state (the step) is saved,
    so a relaunched session keeps its grid and its resting orders.
    """

    def __init__(self, config: GridConfig) -> None:
        super().__init__(config)
        self.step: Decimal | None = None  # price distance between levels, fixed when the grid is laid
        self.laid = False
        self._stock_order = None  # the spot grid's inventory buy, until it fills

    def _decide(self, bar: Bar) -> None:
        if self.laid or self._stock_order is not None:
            return
        qty = self._order_qty()
        if qty is None:
            return
        close = Decimal(repr(bar.close.as_double()))
        self.step = close * Decimal(repr(self.config.step_pct)) / 100
        stock = self.config.levels * qty.as_decimal() - max(self._net_decimal(), Decimal(0))
        if self.config.long_only and stock > 0:
            self._signal("grid_stock", float(close), f"buying {stock} to sell from its {self.config.levels} sell levels")
            before = set(self._pending)
            self._submit_qty(OrderSide.BUY, stock)
            self._stock_order = next(iter(set(self._pending) - before), None)
            return
        self._lay(close, qty.as_decimal())

    def _lay(self, center: Decimal, qty: Decimal) -> None:
        """``levels`` buys below ``center`` and ``levels`` sells above it."""
        assert self.step is not None
        self._signal("grid_laid", float(center), f"{self.config.levels} levels each side, {self.config.step_pct}% apart")
        for k in range(1, self.config.levels + 1):
            self._rest(OrderSide.BUY, center - k * self.step, qty)
            self._rest(OrderSide.SELL, center + k * self.step, qty)
        self.laid = True

    def on_save(self) -> dict[str, bytes]:
        """The grid's step once laid (a restored session keeps its grid, never lays a second)."""
        if not self.laid or self.step is None:
            return {}
        return {"step": str(self.step).encode()}

    def on_load(self, state: dict[str, bytes]) -> None:
        if "step" in state:
            self.step = Decimal(state["step"].decode())
            self.laid = True

    def on_start(self) -> None:
        super().on_start()
        if self.laid and not self.cache.orders_open(strategy_id=self.id):
            self.laid = False  # resumed after a stop canceled its orders: lay the grid again at the price

    def on_order_filled(self, event: OrderFilled) -> None:
        if self.step is None or event.strategy_id != self.id:
            return
        if event.client_order_id == self._stock_order:  # the spot grid's inventory: lay around its price
            order = self.cache.order(event.client_order_id)
            if order is not None and order.is_closed:
                self._stock_order = None
                qty = order.quantity.as_decimal() / self.config.levels
                self._lay(event.last_px.as_decimal(), self.instrument.make_qty(qty, round_down=True).as_decimal())
            return
        price = event.last_px.as_decimal()
        qty = event.last_qty.as_decimal()
        if event.order_side == OrderSide.BUY:
            self._rest(OrderSide.SELL, price + self.step, qty)
        else:
            self._rest(OrderSide.BUY, price - self.step, qty)

    def _rest(self, side: OrderSide, price: Decimal, qty: Decimal) -> None:
        """A resting limit order (GTC, or the venue's time in force) at ``price``."""
        if price <= 0 or qty <= 0:
            return
        order = self.order_factory.limit(
            instrument_id=self.config.instrument_id,
            order_side=side,
            quantity=self.instrument.make_qty(qty),
            price=self.instrument.make_price(price),
            time_in_force=self.order_time_in_force,
            tags=self.order_tags,
        )
        self.submit_order(order)
