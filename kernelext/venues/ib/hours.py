"""Regular trading hours of an IB instrument, from IB's own contract details.

IB's contract details carry ``liquidHours`` (regular trading hours) and ``tradingHours``
(including extended hours) as ``YYYYMMDD:HHMM-YYYYMMDD:HHMM;YYYYMMDD:CLOSED;...`` in
the contract's ``timeZoneId``. Nautilus keeps the contract details in
``instrument.info``; ``MarketHours.from_instrument`` reads them. Without them (another
venue, or an IB version that omits them) US equity hours apply: 09:30-16:00
America/New_York, Monday to Friday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

US_EASTERN = ZoneInfo("America/New_York")
_OPEN, _CLOSE = dt.time(9, 30), dt.time(16, 0)
# IB's timeZoneId values that are not IANA names
_IB_ZONES = {"US/Eastern": "America/New_York", "EST": "America/New_York", "EST5EDT": "America/New_York"}


def _zone(name: str | None) -> ZoneInfo:
    if not name:
        return US_EASTERN
    try:
        return ZoneInfo(_IB_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return US_EASTERN


def parse_ib_hours(text: str, tz: ZoneInfo) -> list[tuple[dt.datetime, dt.datetime]]:
    """``'20261123:0930-20261123:1600;20261124:CLOSED'`` -> [(open, close)] as aware datetimes."""
    out = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part or "CLOSED" in part or "-" not in part:
            continue
        start, end = part.split("-", 1)
        try:
            opened = dt.datetime.strptime(start, "%Y%m%d:%H%M").replace(tzinfo=tz)
            closed = dt.datetime.strptime(end, "%Y%m%d:%H%M").replace(tzinfo=tz)
        except ValueError:
            continue
        out.append((opened, closed))
    return out


@dataclass(frozen=True)
class MarketHours:
    """When an instrument trades in regular hours (``sessions`` empty: US equity hours)."""

    sessions: tuple[tuple[dt.datetime, dt.datetime], ...] = ()
    source: str = "US equity hours 09:30-16:00 America/New_York"

    @classmethod
    def from_instrument(cls, instrument: Any) -> MarketHours:
        """From ``instrument.info`` (IB contract details: liquidHours, timeZoneId) if present."""
        info = getattr(instrument, "info", None) or {}
        tz = _zone(info.get("timeZoneId"))
        sessions = parse_ib_hours(str(info.get("liquidHours") or ""), tz)
        if sessions:
            return cls(tuple(sessions), "IB liquidHours")
        return cls()

    def is_open(self, ts_ns: int) -> bool:
        """Whether regular trading hours include the UTC time ``ts_ns``."""
        now = dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC)
        if self.sessions:
            return any(opened <= now < closed for opened, closed in self.sessions)
        local = now.astimezone(US_EASTERN)
        return local.weekday() < 5 and _OPEN <= local.time() < _CLOSE
