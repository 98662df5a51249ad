"""Sandbox execution wiring: Nautilus's ``SandboxExecutionClient`` on the feed's venue.

The sandbox subscribes to ``data.*.{venue}.*``: quotes, trades and books reach its
simulated exchange, but bar topics (``data.bars.BTC/USD.KRAKEN-1-MINUTE-...``) do not
match, so with bars only it rejects every order with "no market". We route the
venue's bars to it with a priority above every strategy, so, as in a
``BacktestEngine``, the exchange has seen a bar before any strategy reacts to it.
"""

from __future__ import annotations

import kernelext.compat  # noqa: F401  (before any Nautilus engine import: keeps the host loop policy)

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.common.component import MessageBus
from nautilus_trader.model.identifiers import Venue

EXCHANGE_FIRST = 1_000


def route_bars_to_sandbox(msgbus: MessageBus, client: SandboxExecutionClient, venue: Venue) -> None:
    """Subscribe the sandbox's matching engine to the venue's bars, ahead of strategies."""
    msgbus.subscribe(f"data.bars.*.{venue.value}-*", client.on_data, priority=EXCHANGE_FIRST)
