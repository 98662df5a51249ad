"""Nautilus's order-denial reasons in plain words, for the ledger, the dashboard and the shell.

``NOTIONAL_EXCEEDS_FREE_BALANCE: free=1204.10 USD, balance_impact=-5012.40 USD`` becomes
``insufficient USD balance: needs 5,012.40, free 1,204.10``. A reason with no plain form is
kept as Nautilus wrote it.
"""

from __future__ import annotations

import re

_MONEY = r"(-?[\d.]+) ([A-Z0-9]+)"
_BALANCE = re.compile(rf"^(?:CUM_)?NOTIONAL_EXCEEDS_FREE_BALANCE: free={_MONEY}, (?:balance_impact|cum_notional)={_MONEY}")
_MAX_PER_ORDER = re.compile(rf"^NOTIONAL_EXCEEDS_MAX_PER_ORDER: max_notional={_MONEY}, notional={_MONEY}")


def _amount(text: str) -> str:
    """``-5012.40000000`` -> ``5,012.40``; ``0.07523492`` keeps its digits (at least 2 decimals)."""
    digits = len(text.partition(".")[2].rstrip("0"))
    return f"{abs(float(text)):,.{max(2, digits)}f}"


def plain(reason: str | None) -> str | None:
    """The denial reason a person reads (None stays None)."""
    if not reason:
        return reason
    m = _BALANCE.match(reason)
    if m:
        free, currency, needs, _ = m.groups()
        return f"insufficient {currency} balance: needs {_amount(needs)}, free {_amount(free)}"
    m = _MAX_PER_ORDER.match(reason)
    if m:
        cap, currency, notional, _ = m.groups()
        return f"order notional {_amount(notional)} {currency} above the {_amount(cap)} {currency} cap per order (--max-notional)"
    return reason
