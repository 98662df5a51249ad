"""A Binance session's hooks: the clients it keeps and the user data stream it watches (stale /
reconnected). Warm-up history comes from Binance's klines (spot serves 1s bars too)."""

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
            # its account's issuer is the client's name, not the venue's: say which venue it is
            client._cache.set_account_id_for_venue(BINANCE, client.account_id)

    async def watch(self, report: FeedReport, interval_s: float = 0.1) -> None:
        """The user data stream (orders' events) went down or came back. Nautilus reconnects,
        logs on again, resubscribes and reconciles (mass status) by itself; its reconciliation
        hook is wrapped to say so once it is done, and the socket is polled for going down."""
        if self.exec_client is None:
            return
        stream = self.exec_client._ws_client
        reconcile = stream._on_resubscribe

        async def reconciled() -> None:
            if reconcile is not None:
                await reconcile()
            report("feed.reconnected", "Binance user data stream back; orders and balances reconciled", False)

        stream._on_resubscribe = reconciled  # read at each resubscribe (not bound at connect)
        up = _connected(stream)
        while True:
            await asyncio.sleep(interval_s)
            now = _connected(stream)
            if up and not now:
                report("feed.stale", "Binance connection lost; reconnecting", True)
            up = now


def _connected(stream: Any) -> bool:
    """The WebSocket API socket is up (not reconnecting: Nautilus's client stays "active" then) and logged on."""
    client = stream._client
    return bool(client is not None and client.is_active() and not client.is_reconnecting()
                and stream.is_authenticated)


class SimSession(SandboxSession):
    """binance-sim: the sandbox's hooks, with the replay's bars routed to the sandbox on BINANCE."""

    def add_client(self, client: Any) -> None:
        if isinstance(client, SandboxExecutionClient):
            self.sandbox = client
            if self.route_bars:
                route_bars_to_sandbox(client._msgbus, client, BINANCE)
        else:
            super().add_client(client)
