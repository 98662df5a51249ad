"""A sandbox session's hooks: the clients it keeps, bar routing, lock-step replay and the
replay's cache purges."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.model.enums import BarAggregation

from kernelext.venues.base import VenueSession
from kernelext.venues.sandbox.instruments import KRAKEN
from kernelext.venues.sandbox.purge import ReplayPurge
from kernelext.venues.sandbox.replay import ReplayDataClient
from kernelext.venues.sandbox.routing import route_bars_to_sandbox


class SandboxSession(VenueSession):
    """Keeps the replay client (lock-step, end of replay) and the live feed's client; routes
    bars to the sandbox on replay (on the live feed it fills against quotes and trades)."""

    restores_from_ledger = True

    def __init__(self, *, route_bars: bool) -> None:
        self.route_bars = route_bars  # replay: bars are the market; live: Kraken's book and trades
        self.replay: ReplayDataClient | None = None
        self.sandbox: SandboxExecutionClient | None = None

    def configure_strategy(self, strategy: Any) -> None:
        """On the live feed, second bars have no Kraken history: the strategy starts cold."""
        if not self.route_bars and hasattr(strategy, "history_available"):
            if strategy.config.bar_type.spec.aggregation == BarAggregation.SECOND:
                strategy.history_available = False

    def add_client(self, client: Any) -> None:
        if isinstance(client, ReplayDataClient):
            self.replay = client
        elif isinstance(client, SandboxExecutionClient):
            self.sandbox = client
            if self.route_bars:
                route_bars_to_sandbox(client._msgbus, client, KRAKEN)
        else:
            self.market_client = client

    def built(self, idle: Callable[[], bool]) -> None:
        if self.replay is not None:
            self.replay.idle_check = idle  # lock-step: the next bar once the engines are idle
            self.replay.before_bar = ReplayPurge(self.replay._cache, self.replay._clock)  # flat memory

    def restore_resting(self, orders: list[Any], cache: Any) -> list[str]:
        """Back into the sandbox's matching engine, as accepted orders (no new event): they
        fill when the market crosses them, with their remaining quantity."""
        if self.sandbox is None:
            return []
        exchange = self.sandbox.exchange
        rested = []
        for order in orders:
            engine = exchange.get_matching_engine(order.instrument_id)
            if engine is None:
                exchange.add_instrument(cache.instrument(order.instrument_id))
                engine = exchange.get_matching_engine(order.instrument_id)
            engine.accept_order(order)
            rested.append(order.client_order_id.value)
        return rested

    def finished(self) -> str | None:
        if self.replay is not None and self.replay.exhausted.is_set():
            return "replay finished"
        return None
