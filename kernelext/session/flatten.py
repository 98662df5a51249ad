"""Flatten a session: reduce-only, cancel its orders, close its positions until flat, then halt.

An order a strategy sent just before the flatten has already passed the RiskEngine and
can fill after the closes (re-opening a position), and Nautilus's REDUCING lets a strategy
open again from flat: so close whatever is open until the session is flat with nothing in
flight, halt, and check once more. Only the session's own orders and positions count: an
account's other holdings (reconciled as EXTERNAL) are not the session's to close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from nautilus_trader.model.enums import TradingState

FLATTEN_TIMEOUT_S = 3.0


async def flatten(kernel: Any, strategies: Sequence[Any], timeout: float = FLATTEN_TIMEOUT_S) -> int:
    """Flatten the positions of ``strategies`` in the node ``kernel``; returns how many are still open.

    The RiskEngine is left HALTED (no re-entry until resume).
    """
    risk, cache = kernel.risk_engine, kernel.cache
    ours = {strategy.id for strategy in strategies}

    def positions() -> list[Any]:
        return [p for p in cache.positions_open() if p.strategy_id in ours]

    def busy() -> bool:
        return any(o.strategy_id in ours for o in (*cache.orders_open(), *cache.orders_inflight()))

    risk.set_trading_state(TradingState.REDUCING)
    for strategy in strategies:
        strategy.cancel_all_orders(strategy.config.instrument_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if positions() and not busy():
            for strategy in strategies:
                strategy.close_all_positions(strategy.config.instrument_id)
            await asyncio.sleep(0.01)  # let the closes reach the RiskEngine (in flight from then on)
        elif not positions() and not busy():
            risk.set_trading_state(TradingState.HALTED)
            await asyncio.sleep(0.01)  # anything already past the RiskEngine lands now
            if not positions() and not busy():
                break
            risk.set_trading_state(TradingState.REDUCING)
        await asyncio.sleep(0.002)
    still_open = len(positions())
    risk.set_trading_state(TradingState.HALTED)
    return still_open
