"""ibs_reversion: internal bar strength mean reversion, long only."""

from __future__ import annotations

from nautilus_trader.model.data import Bar

from kernelext.strategies.base import PaperStrategy
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.registry import register


class IbsReversionConfig(PaperStrategyConfig, frozen=True):
    """
    Parameters
    ----------
    buy_threshold : float, default 0.2
        Enter long when IBS is below this (0..1).
    exit_threshold : float, default 0.8
        Exit the long when IBS is above this (0..1).
    """

    buy_threshold: float = 0.2
    exit_threshold: float = 0.8


@register("ibs_reversion")
class IbsReversion(PaperStrategy):
    """
    Internal bar strength reversion: IBS = (close - low) / (high - low).

    Buys when IBS < ``buy_threshold`` (closed near the low), exits when
    IBS > ``exit_threshold``. Long only. A bar with high == low has no IBS and
    causes no action. Needs no warm-up (IBS is per bar; NautilusTrader has no IBS
    indicator, so it is computed from the bar).
    """

    def __init__(self, config: IbsReversionConfig) -> None:
        for name in ("buy_threshold", "exit_threshold"):
            v = getattr(config, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"ibs_reversion: {name} must be within 0..1, got {v}")
        if not config.buy_threshold < config.exit_threshold:
            raise ValueError(
                f"ibs_reversion: buy_threshold ({config.buy_threshold}) must be less "
                f"than exit_threshold ({config.exit_threshold})",
            )
        super().__init__(config)
        self.ibs: float | None = None

    @staticmethod
    def bar_ibs(bar: Bar) -> float | None:
        high = bar.high.as_double()
        low = bar.low.as_double()
        rng = high - low
        if rng <= 0:
            return None
        return (bar.close.as_double() - low) / rng

    def _observe(self, bar: Bar) -> None:
        self.ibs = self.bar_ibs(bar)

    def _decide(self, bar: Bar) -> None:
        ibs = self.ibs
        if ibs is None:
            return  # high == low: IBS undefined
        net = self._net_qty()
        if net == 0 and ibs < self.config.buy_threshold:
            self._signal(
                "ibs_entry_long",
                ibs,
                f"IBS {ibs:.3f} < buy_threshold {self.config.buy_threshold}; enter long",
            )
            self._go_long()
        elif net > 0 and ibs > self.config.exit_threshold:
            self._signal(
                "ibs_exit_long",
                ibs,
                f"IBS {ibs:.3f} > exit_threshold {self.config.exit_threshold}; exit long",
            )
            self._go_flat()
        elif net < 0:
            # Long-only strategy holding a short (external/manual): flatten it.
            self._signal("ibs_exit_short", ibs, "long-only strategy found a short position; flatten")
            self._go_flat()

    def on_reset(self) -> None:
        super().on_reset()
        self.ibs = None
