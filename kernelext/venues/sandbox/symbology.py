"""Sandbox symbology: spot pairs ``BASE/QUOTE`` (``btc/usd``, ``XBTUSD`` -> ``BTC/USD``) on KRAKEN."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kernelext.venues.sandbox.instruments import PAIRS, instrument_id, normalize_symbol

if TYPE_CHECKING:
    from kernelext.spec import Sleeve

_PAIR = re.compile(r"[A-Z0-9]{2,12}/[A-Z0-9]{2,12}")
HINT = "a spot pair like BTC/USD"


def parse(text: str) -> str | None:
    """``'btc/usd'``, ``'XBTUSD'``, ``'BTC/USD.KRAKEN'`` -> ``'BTC/USD'``; None if not a pair."""
    symbol = normalize_symbol(str(text))
    return symbol if _PAIR.fullmatch(symbol) else None


def nautilus_id(symbol: str) -> str:
    """``BTC/USD`` -> ``BTC/USD.KRAKEN``."""
    return str(instrument_id(symbol))


def check_on_replay(sleeves: Iterable[Sleeve], why: str = "") -> None:
    """Every instrument must be one the replay feed knows (one-line ``SpecError``)."""
    from kernelext.spec import SpecError

    for s in sleeves:
        if s.instrument not in PAIRS:
            raise SpecError(f"instrument: {s.instrument} is not on the replay feed{why}; replay pairs: {', '.join(PAIRS)}")
