"""A Binance session's hooks: the market data client it watches (stale / reconnected) and a
cold start for second bars (Binance serves 1s klines, but the internal bars are built from trades)."""

from __future__ import annotations

import asyncio
from typing import Any

from nautilus_trader.adapters.binance.data import BinanceCommonDataClient
from nautilus_trader.adapters.binance.execution import BinanceCommonExecutionClient

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient

from kernelext.venues.base import FeedReport, VenueSession
from kernelext.venues.binance.constants import BINANCE
from kernelext.venues.sandbox.routing import route_bars_to_sandbox
from kernelext.venues.sandbox.session import SandboxSession


class BinanceSession(VenueSession):
    """Keeps the data and execution clients; reports the user data stream going down and back."""

    def __init__(self) -> None:
        self.exec_client: BinanceCommonExecutionClient | None = None

    def add_client(self, client: Any) -> None:
        if isinstance(client, BinanceCommonDataClient):
            self.market_client = client
        elif isinstance(client, BinanceCommonExecutionClient):
            self.exec_client = client

    def configure_strategy(self, strategy: Any) -> None:
        """Bars are built in the node from trades: no history to warm up on."""
        if hasattr(strategy, "history_available"):
            strategy.history_available = False

    async def watch(self, report: FeedReport, interval_s: float = 0.25) -> None:
        """The user data stream (orders' events) went down or came back; Nautilus reconnects,
        logs on again, resubscribes and reconciles by itself: this only reports it."""
        if self.exec_client is None:
            return
        stream = self.exec_client._ws_client
        up = _connected(stream)
        while True:
            await asyncio.sleep(interval_s)
            now = _connected(stream)
            if now != up:
                up = now
                if now:
                    report("feed.reconnected", "Binance user data stream back; orders and balances reconciled", False)
                else:
                    report("feed.stale", "Binance connection lost; reconnecting", True)


def _connected(stream: Any) -> bool:
    """The WebSocket API socket is up and logged on."""
    client = stream._client
    return bool(client is not None and client.is_active() and stream.is_authenticated)


class SimSession(SandboxSession):
    """binance-sim: the sandbox's hooks, with the replay's bars routed to the sandbox on BINANCE."""

    def add_client(self, client: Any) -> None:
        if isinstance(client, SandboxExecutionClient):
            self.sandbox = client
            if self.route_bars:
                route_bars_to_sandbox(client._msgbus, client, BINANCE)
        else:
            super().add_client(client)
