"""PaperLab strategies: Nautilus ``Strategy`` subclasses plus a key -> class registry.

Built-ins: ``ema_cross``, ``rsi_rules``, ``ibs_reversion``, ``tsmom``, ``grid``. Register your
own with ``@register("my_key")`` on a ``Strategy`` subclass whose ``__init__``
annotates ``config`` with its ``StrategyConfig`` subclass.
"""

from kernelext.strategies.registry import REQUIRED
from kernelext.strategies.registry import StrategyEntry
from kernelext.strategies.registry import UnknownStrategyError
from kernelext.strategies.registry import build_config
from kernelext.strategies.registry import build_strategy
from kernelext.strategies.registry import get
from kernelext.strategies.registry import keys
from kernelext.strategies.registry import register
from kernelext.strategies.registry import user_params

from kernelext.strategies.base import PaperStrategy  # noqa: I001  (after registry)
from kernelext.strategies.base import PaperStrategyConfig
from kernelext.strategies.ema_cross import EmaCross
from kernelext.strategies.ema_cross import EmaCrossConfig
from kernelext.strategies.grid import Grid
from kernelext.strategies.grid import GridConfig
from kernelext.strategies.ibs_reversion import IbsReversion
from kernelext.strategies.ibs_reversion import IbsReversionConfig
from kernelext.strategies.rsi_rules import RsiRules
from kernelext.strategies.rsi_rules import RsiRulesConfig
from kernelext.strategies.tsmom import Tsmom
from kernelext.strategies.tsmom import TsmomConfig

__all__ = [
    "REQUIRED",
    "EmaCross",
    "EmaCrossConfig",
    "Grid",
    "GridConfig",
    "IbsReversion",
    "IbsReversionConfig",
    "PaperStrategy",
    "PaperStrategyConfig",
    "RsiRules",
    "RsiRulesConfig",
    "StrategyEntry",
    "Tsmom",
    "TsmomConfig",
    "UnknownStrategyError",
    "build_config",
    "build_strategy",
    "get",
    "keys",
    "register",
    "user_params",
]
