"""tsmom: time-series momentum, long while the lookback return is positive."""

from __future__ import annotations

from nautilus_trader.config import PositiveInt
from nautilus_trader.indicators import RateOfChange
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar

from kernelext.strategies.base import PaperStrategy
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.registry import register


class TsmomConfig(PaperStrategyConfig, frozen=True):
    """
    Parameters
    ----------
    lookback : int, default 60
        Return horizon in bars: close[t] / close[t - lookback] - 1.
    """

    lookback: PositiveInt = 60


@register("tsmom")
class Tsmom(PaperStrategy):
    """
    Time-series momentum: long while the ``lookback``-bar return is positive,
    flat otherwise. Long only.

    Uses NautilusTrader's ``RateOfChange(lookback + 1)`` (its window holds
    ``period`` closes, so ``period = lookback + 1`` gives the ``lookback``-bar
    return). Default warm-up: lookback + 1 bars.
    """

    def __init__(self, config: TsmomConfig) -> None:
        super().__init__(config)
        self.roc = RateOfChange(config.lookback + 1)

    def _paper_indicators(self) -> list[Indicator]:
        return [self.roc]

    def _default_warmup_bars(self) -> int:
        return self.config.lookback + 1

    def _decide(self, bar: Bar) -> None:
        if not self.roc.initialized:
            return
        ret = self.roc.value
        net = self._net_qty()
        n = self.config.lookback
        if ret > 0 and net <= 0:
            self._signal("tsmom_long", ret, f"{n}-bar return {ret:+.4%} > 0; enter long")
            self._go_long()  # also closes a (foreign) short first
        elif ret <= 0 and net > 0:
            self._signal("tsmom_flat", ret, f"{n}-bar return {ret:+.4%} <= 0; exit to flat")
            self._go_flat()
        elif net < 0:
            self._signal("tsmom_flat", ret, "long-only strategy found a short position; flatten")
            self._go_flat()
