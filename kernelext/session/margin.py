"""Kraken's margin levels, watched on every equity point of a margin session.

Margin level = equity / used margin x 100, used margin = the open positions' opening cost /
leverage (Kraken's definitions). Below ``MARGIN_CALL_LEVEL`` Kraken may liquidate and sends a
margin call; at ``LIQUIDATION_LEVEL`` it liquidates automatically. Kraken documents both as
approximate (they vary with volatility): support.kraken.com, "Margin call level and margin
liquidation level" (203325763). The watch says a margin call once per episode (again after
the level was back at 100 %) and liquidates every open position at the liquidation level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MARGIN_CALL_LEVEL = 80.0
LIQUIDATION_LEVEL = 40.0


@dataclass(frozen=True, slots=True)
class MarginState:
    """Used margin, free margin and the margin level (None without open positions)."""

    used: float
    free: float
    level: float | None


class MarginWatch:
    """Decides margin calls and liquidations from equity and open positions."""

    def __init__(self, leverage: float, *, call: Callable[[MarginState], None],
                 liquidate: Callable[[MarginState], None]) -> None:
        self.leverage = leverage
        self._call = call
        self._liquidate = liquidate
        self.called = False
        self.liquidating = False
        self.state = MarginState(0.0, 0.0, None)

    def update(self, equity: float, positions: Iterable[Any]) -> MarginState:
        """The state at ``equity`` with ``positions`` open; calls and liquidates as Kraken would."""
        used = sum(abs(p.signed_qty) * float(p.avg_px_open) for p in positions) / self.leverage
        level = 100.0 * equity / used if used else None
        self.state = MarginState(used, equity - used, level)
        if level is None:
            self.called = self.liquidating = False
        elif level <= LIQUIDATION_LEVEL:
            if not self.liquidating:
                self.liquidating = True
                self._liquidate(self.state)
        elif level < MARGIN_CALL_LEVEL:
            if not self.called:
                self.called = True
                self._call(self.state)
        elif level >= 100.0:
            self.called = False
        return self.state
