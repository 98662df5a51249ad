"""The sandbox on the live feed's order book (L2): market orders walk the levels; and the
session's Kraken fee tier (``--fee-tier``) charged on every instrument, replay or live.

Nautilus's ``SandboxExecutionClient`` runs its ``SimulatedExchange`` on L2 when told
(``book_type="L2_MBP"``): a market order fills at each level's price until the visible depth
is used up. What it leaves open is never looked at again (market orders do not rest in the
matching core), so an order larger than the visible depth would sit part-filled for the rest
of the session. ``DepthSandboxExecutionClient`` keeps filling such an order against every
later book update, as an exchange's market order keeps taking liquidity until it is done.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.model.data import OrderBookDelta, OrderBookDeltas, OrderBookDepth10
from nautilus_trader.model.enums import OrderType
from nautilus_trader.model.instruments import CurrencyPair

from kernelext.venues.sandbox.instruments import with_fees

BOOK_DATA = (OrderBookDelta, OrderBookDeltas, OrderBookDepth10)
MARKET_TYPES = (OrderType.MARKET,)


class PaperSandboxConfig(SandboxExecutionClientConfig, frozen=True):
    """The sandbox's config, plus a fee tier (``None``: the instruments' own fees)."""

    maker_fee: str | None = None
    taker_fee: str | None = None


class DepthSandboxExecutionClient(SandboxExecutionClient):
    """The sandbox, plus: open market orders keep filling as the book refills; on the live feed
    its clock is the node's when an order arrives (its events are stamped when they happen)."""

    wall_clock_commands = False  # live feed: commands advance the sandbox's clock to the node's
    fees: tuple[Decimal, Decimal] | None = None  # (maker, taker) charged instead of the instruments' own

    def connect(self) -> None:
        for instrument in self._cache.instruments(venue=self.venue):
            self._cache.add_instrument(self._priced(instrument))
        super().connect()

    def submit_order(self, command: Any) -> Any:
        self._clock_now()
        return super().submit_order(command)

    def modify_order(self, command: Any) -> Any:
        self._clock_now()
        return super().modify_order(command)

    def cancel_order(self, command: Any) -> Any:
        self._clock_now()
        return super().cancel_order(command)

    def _clock_now(self) -> None:
        """The sandbox's own clock moves only with the market data it processed, so an order sent
        between two ticks was stamped (submitted, accepted, filled) with the earlier tick's time,
        before the decision that made it."""
        if self.wall_clock_commands:
            now = self._clock.timestamp_ns()
            if now > self.test_clock.timestamp_ns():
                self.test_clock.set_time(now)

    def _priced(self, instrument: Any) -> Any:
        """The instrument with the session's fee tier (the cache gets it too: one price everywhere)."""
        if self.fees is None or not isinstance(instrument, CurrencyPair):
            return instrument
        if (instrument.maker_fee, instrument.taker_fee) == self.fees:
            return instrument
        return with_fees(instrument, *self.fees)

    def on_data(self, data: Any) -> None:
        if self.fees is not None and isinstance(data, CurrencyPair):
            data = self._priced(data)
            self._cache.add_instrument(data)
        super().on_data(data)
        if isinstance(data, BOOK_DATA):
            self._complete_market_orders(data.instrument_id)

    def _complete_market_orders(self, instrument_id: Any) -> None:
        for order in self._cache.orders_open(venue=self.venue, instrument_id=instrument_id):
            if order.order_type in MARKET_TYPES and order.filled_qty.as_double() > 0:
                engine = self.exchange.get_matching_engine(instrument_id)
                if engine is not None:
                    engine.fill_market_order(order)


class DepthSandboxExecClientFactory(SandboxLiveExecClientFactory):
    """Builds the sandbox as a ``DepthSandboxExecutionClient``."""

    @staticmethod
    def create(*args: Any, **kwargs: Any) -> DepthSandboxExecutionClient:  # type: ignore[override]
        client = SandboxLiveExecClientFactory.create(*args, **kwargs)
        client.__class__ = DepthSandboxExecutionClient  # same layout: a behaviour-only subclass
        config = kwargs.get("config", args[2] if len(args) > 2 else None)
        client.wall_clock_commands = config is not None and not config.bar_execution
        if getattr(config, "maker_fee", None) is not None:
            client.fees = (Decimal(config.maker_fee), Decimal(config.taker_fee))
        return client


# Nautilus's node builder passes the portfolio to a factory by its class name.
DepthSandboxExecClientFactory.__name__ = SandboxLiveExecClientFactory.__name__
