"""The bar specs the live Kraken feed can serve.

Strategies get bars built in the node from Kraken's trades (any time step); their warm-up
history comes from Kraken's OHLC endpoint, which has these intervals only. Second bars have
no Kraken history (Nautilus's Kraken bar request serves minutes and longer): they start cold,
and the session says so.
"""

from __future__ import annotations

from kernelext.errors import SpecError

OHLC_MINUTES: tuple[int, ...] = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)
"""Kraken's OHLC intervals, in minutes."""
_UNIT_MINUTES = {"MINUTE": 1, "HOUR": 60, "DAY": 1440, "WEEK": 10080}


def _step_unit(bar_spec: str) -> tuple[int, str]:
    step, unit, _ = bar_spec.split("-")
    return int(step), unit


def is_second(bar_spec: str) -> bool:
    """``N-SECOND-LAST``: built from trades, no warm-up history on Kraken."""
    return _step_unit(bar_spec)[1] == "SECOND"


def check(bar_spec: str) -> None:
    """``SpecError`` (one line) unless Kraken can serve ``bar_spec``'s history, or it is second bars."""
    step, unit = _step_unit(bar_spec)
    if unit == "SECOND":
        return
    minutes = step * _UNIT_MINUTES.get(unit, 0)
    if minutes not in OHLC_MINUTES:
        allowed = ", ".join(str(m) for m in OHLC_MINUTES)
        raise SpecError(f"bar_spec: Kraken serves bars of {allowed} minutes (or N-SECOND-LAST bars built from "
                        f"trades); {bar_spec} is none of them")


def cold_start_note(bar_specs: set[str]) -> tuple[str, ...]:
    """The session's note when some sleeves trade second bars (they start without warm-up)."""
    seconds = sorted(b for b in bar_specs if is_second(b))
    if not seconds:
        return ()
    return (f"{', '.join(seconds)} bars are built from Kraken trades and start without warm-up history "
            "(Kraken serves minute bars and longer)",)
