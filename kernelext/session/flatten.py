"""Flatten a session: closes only, cancel its orders, close its positions until flat, then halt.

Nautilus's REDUCING is not reduce-only: it passes a SELL that flips a long into a bigger
short and a BUY that opens from flat, so a strategy flipping on every bar (a replay at
full speed) would keep a position open through the whole flatten. While a flatten runs,
``ClosingOnlyGate`` in front of the RiskEngine denies every submit that is not reduce-only.
An order sent just before the flatten has already passed and can still fill after the
closes, so close whatever is open until the session is flat with nothing in flight, halt,
and check once more. Only the session's own orders and positions count: an account's other
holdings (reconciled as EXTERNAL) are not the session's to close.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from nautilus_trader.execution.messages import SubmitOrder, SubmitOrderList
from nautilus_trader.model.enums import TradingState

FLATTEN_TIMEOUT_S = 3.0
ENDPOINT = "RiskEngine.execute"
CLOSING_ONLY = "flattening: only reduce-only closes pass"


class ClosingOnlyGate:
    """Denies submits that are not reduce-only while ``closing`` (installed on a kernel's message bus).

    ``forward`` is whatever holds the endpoint now (the RiskEngine, or an account guard in
    front of it); everything that passes goes on to it unchanged.
    """

    def __init__(self, kernel: Any, forward: Callable[[Any], None] | None = None) -> None:
        self.risk = kernel.risk_engine
        self.msgbus = kernel.msgbus
        self.forward = forward or kernel.risk_engine.execute
        self.closing = False

    def install(self) -> ClosingOnlyGate:
        """Take the ``RiskEngine.execute`` endpoint from ``forward``."""
        self.msgbus.deregister(ENDPOINT, self.forward)
        self.msgbus.register(ENDPOINT, self.check)
        return self

    def check(self, command: Any) -> None:
        """While closing, a submit that is not reduce-only is denied; every other command goes on."""
        if self.closing:
            if isinstance(command, SubmitOrder) and not command.order.is_reduce_only:
                self.risk._deny_order(command.order, CLOSING_ONLY)
                return
            if isinstance(command, SubmitOrderList) and not all(o.is_reduce_only for o in command.order_list.orders):
                self.risk._deny_order_list(command.order_list, CLOSING_ONLY)
                return
        self.forward(command)


async def flatten(kernel: Any, strategies: Sequence[Any], timeout: float = FLATTEN_TIMEOUT_S,
                  gate: ClosingOnlyGate | None = None) -> int:
    """Flatten the positions of ``strategies`` in the node ``kernel``; returns how many are still open.

    ``gate`` (installed on the kernel) denies every opening order meanwhile. The RiskEngine is
    left HALTED (no re-entry until resume).
    """
    if gate is not None:
        gate.closing = True
    try:
        return await _close_until_flat(kernel, strategies, timeout)
    finally:
        if gate is not None:
            gate.closing = False  # HALTED from here on: the RiskEngine denies every submit itself


async def _close_until_flat(kernel: Any, strategies: Sequence[Any], timeout: float) -> int:
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
