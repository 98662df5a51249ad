"""ema_cross: fast/slow EMA regime, long above, short below (flip on cross)."""

from __future__ import annotations

from nautilus_trader.config import PositiveInt
from nautilus_trader.indicators import ExponentialMovingAverage
from nautilus_trader.indicators.base import Indicator
from nautilus_trader.model.data import Bar

from kernelext.strategies.base import PaperStrategy
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.registry import register


class EmaCrossConfig(PaperStrategyConfig, frozen=True):
    """
    Parameters
    ----------
    fast : int, default 10
        Fast EMA period.
    slow : int, default 30
        Slow EMA period (must be greater than ``fast``).
    """

    fast: PositiveInt = 10
    slow: PositiveInt = 30


@register("ema_cross")
class EmaCross(PaperStrategy):
    """
    EMA cross: long while the fast EMA is above the slow EMA, short while below.

    When the fast EMA crosses the slow one the position flips (close, then open the
    other side), like NautilusTrader's example ``EMACross``. When flat (e.g. right
    after start) it enters on the current regime. Needs a MARGIN account for shorts.
    Default warm-up: 2 x slow bars.
    """

    def __init__(self, config: EmaCrossConfig) -> None:
        if not config.fast < config.slow:
            raise ValueError(
                f"ema_cross: fast ({config.fast}) must be less than slow ({config.slow})",
            )
        super().__init__(config)
        self.fast_ema = ExponentialMovingAverage(config.fast)
        self.slow_ema = ExponentialMovingAverage(config.slow)
        # +1 fast above slow, -1 below, 0 unknown/equal; previous and current bar
        self._prev_regime: int = 0
        self._cur_regime: int = 0

    def _paper_indicators(self) -> list[Indicator]:
        return [self.fast_ema, self.slow_ema]

    def _default_warmup_bars(self) -> int:
        return 2 * self.config.slow

    def _regime(self) -> int:
        if not (self.fast_ema.initialized and self.slow_ema.initialized):
            return 0
        diff = self.fast_ema.value - self.slow_ema.value
        return 1 if diff > 0 else -1 if diff < 0 else 0

    def _observe(self, bar: Bar) -> None:
        self._prev_regime, self._cur_regime = self._cur_regime, self._regime()

    def _decide(self, bar: Bar) -> None:
        regime = self._cur_regime
        prev = self._prev_regime
        if regime == 0:
            return
        net = self._net_qty()
        diff = self.fast_ema.value - self.slow_ema.value
        crossed = prev != 0 and prev != regime
        if regime > 0 and net <= 0:
            why = "crossed above" if crossed else "is above"
            self._signal(
                "ema_cross_long",
                diff,
                f"fast EMA {self.fast_ema.value:.6g} {why} slow EMA {self.slow_ema.value:.6g}"
                + ("; flip short->long" if net < 0 else "; enter long"),
            )
            self._go_long()
        elif regime < 0 and (net > 0 or (net == 0 and not self.config.long_only)):
            # long-only (a spot cash account): below means flat; nothing to say while flat
            why = "crossed below" if crossed else "is below"
            if self.config.long_only:
                action = "; exit long"
            else:
                action = "; flip long->short" if net > 0 else "; enter short"
            self._signal(
                "ema_cross_short",
                diff,
                f"fast EMA {self.fast_ema.value:.6g} {why} slow EMA {self.slow_ema.value:.6g}{action}",
            )
            self._go_short()

    def on_reset(self) -> None:
        super().on_reset()
        self._prev_regime = 0
        self._cur_regime = 0
