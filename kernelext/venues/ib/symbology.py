"""IB simplified symbology ``SYMBOL.PRIMARY_EXCHANGE`` (``QQQ.NASDAQ``): a Nautilus instrument
id as it stands, saying which listing IB trades; a space in the symbol is '-' (``BRK-B.NYSE``)."""

from __future__ import annotations

import re

_IB_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9\-]{0,14}\.[A-Z][A-Z0-9]{1,11}")
SYMBOLOGY_NOTE = "IB symbology SYMBOL.PRIMARY_EXCHANGE (e.g. QQQ.NASDAQ), not catalog symbology"
HINT = "an IB symbol like QQQ.NASDAQ for ib-paper"
# free text on the start cards; these are suggestions
SUGGESTIONS: tuple[str, ...] = ("QQQ.NASDAQ", "SPY.ARCA", "AAPL.NASDAQ", "MSFT.NASDAQ")


def is_ib_symbol(text: str) -> bool:
    """``QQQ.NASDAQ``: IB simplified symbology (SYMBOL.PRIMARY_EXCHANGE)."""
    return bool(_IB_SYMBOL.fullmatch(text))


def parse(text: str) -> str | None:
    """``'qqq.nasdaq'`` -> ``'QQQ.NASDAQ'``; None if not IB symbology."""
    raw = str(text).strip().upper()
    return raw if is_ib_symbol(raw) else None
