"""Python values -> SQLite column values (REAL, TEXT, INTEGER, compact JSON)."""

from __future__ import annotations

import json
from typing import Any


def num(value: Any) -> float | None:
    """A REAL for SQLite: floats pass, numbers (incl. Nautilus Price/Quantity) convert."""
    if value is None or type(value) is float:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def txt(value: Any) -> str | None:
    """A TEXT for SQLite (ids may arrive as Nautilus identifier objects)."""
    if value is None or type(value) is str:
        return value
    return str(value)


def integer(value: Any) -> int | None:
    """An INTEGER for SQLite (timestamps in ns)."""
    if value is None or type(value) is int:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def dumps(value: Any) -> str:
    """Compact JSON; unknown objects become their ``str``."""
    return json.dumps(value, separators=(",", ":"), default=str)
