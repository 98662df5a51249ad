"""LedgerFeed: a session's event envelopes read incrementally from the ledger.

Reads the ``events`` table by id (and the ``equity`` table by rowid, as
``equity.update`` envelopes), so it works in the process running the session and
in any other one (a served app, a second notebook), and after a browser refresh.
A new feed starts with the history, capped to the last ``history_per_class``
rows of each class (equity points, bars, orders, positions, signals, the rest)
so a long session loads in bounded time; after that every ``poll`` returns what
was stored since the previous one. A poll first asks the ledger whether anything was
committed since the previous one (``api.ledger_version``, no table read) and reads rows
only when so, so a view can poll often at no cost while nothing happens.

Also the US/Eastern time helpers the views share.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from kernelext import api

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

EASTERN = ZoneInfo("America/New_York")
_EPOCH = dt.datetime(1970, 1, 1)

# History classes of the events table: stage GLOB pattern per class; "other" is the rest.
STAGE_CLASSES: dict[str, str] = {
    "bar": "bar.*",
    "order": "order.*",
    "position": "position.*",
    "signal": "signal.*",
}


def eastern(ts_ns: int | None) -> dt.datetime | None:
    """UTC nanoseconds -> an aware US/Eastern datetime (None stays None)."""
    if ts_ns is None:
        return None
    return dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).astimezone(EASTERN)


def eastern_str(ts_ns: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """UTC nanoseconds -> ``"2026-01-01 09:30:00"`` in US/Eastern ('' for None)."""
    when = eastern(ts_ns)
    return when.strftime(fmt) if when is not None else ""


def eastern_ms(ts_ns: int) -> float:
    """UTC nanoseconds -> milliseconds of the US/Eastern wall clock (for Bokeh datetime axes)."""
    local = dt.datetime.fromtimestamp(ts_ns / 1e9, tz=dt.UTC).astimezone(EASTERN).replace(tzinfo=None)
    return (local - _EPOCH).total_seconds() * 1000.0


def stage_class(stage: str) -> str:
    """The history class of a stage: "equity", a key of ``STAGE_CLASSES``, or "other"."""
    prefix = stage.split(".", 1)[0]
    return prefix if prefix == "equity" or prefix in STAGE_CLASSES else "other"


def envelope(session_id: str, row: tuple) -> dict[str, Any]:
    """An events row ``(id, sleeve, stage, message, ts, extras_json)`` -> the flat envelope."""
    _id, sleeve, stage, message, ts, extras_json = row
    extras = json.loads(extras_json) if extras_json else {}
    return {
        **extras,
        "session_id": session_id,
        "sleeve": sleeve,
        "stage": stage,
        "message": message,
        "ts": ts,
    }


def equity_envelope(session_id: str, row: tuple) -> dict[str, Any]:
    """An equity row ``(rowid, ts, equity, ..., exposure, currency)`` -> an ``equity.update`` envelope."""
    ts, values, currency = row[1], row[2:-1], row[-1]
    extras = dict(zip(api.EQUITY_FIELDS, values, strict=True))
    equity = extras["equity"]
    message = f"equity {equity:,.2f} {currency or ''}".rstrip() if equity is not None else "equity"
    return {**extras, "currency": currency, "session_id": session_id, "sleeve": None,
            "stage": "equity.update", "message": message, "ts": ts}


class LedgerFeed:
    """Incremental reader of one session's events and equity points.

    Thread-safe as the Ledger is (one connection per thread). ``equity.update``
    envelopes are made from the ``equity`` table (the full curve; the node does not
    store them as event rows), so ``equity.*`` event rows are skipped. Within one
    poll the events come first (id order), then the equity points (insertion order).
    """

    def __init__(
        self,
        session_id: str,
        ledger: Ledger | None = None,
        max_batch: int = 5000,
        *,
        history_per_class: int = 2000,
    ) -> None:
        """Feed ``session_id``; ``max_batch`` caps one poll per table, ``history_per_class`` the first poll."""
        self.session_id = session_id
        self.ledger = api.open_ledger(ledger)
        self.max_batch = max_batch
        self.history_per_class = history_per_class
        self.last_id: int | None = None  # events.id read up to; None until the history is read
        self.last_equity_rowid: int | None = None  # our last equity row; None before the first
        self.behind = False  # the last poll was full: more is waiting
        self.history_skipped = 0  # events and equity points left out of the capped history
        self._version: tuple[int, ...] | None = None  # the ledger's version at the last read

    def poll(self) -> list[dict[str, Any]]:
        """Envelopes stored since the last poll (the capped history on the first call); nothing,
        without a read, when nothing was committed since."""
        version = api.ledger_version(ledger=self.ledger)
        if version == self._version and not self.behind:
            return []
        self._version = version
        if self.last_id is None:
            return self._history()
        sid, n, led = self.session_id, self.max_batch, self.ledger
        events, self.last_id, full_e = api.events_after(sid, self.last_id, limit=n, ledger=led)
        points, self.last_equity_rowid, full_q = api.equity_after(sid, self.last_equity_rowid, limit=n, ledger=led)
        self.behind = full_e or full_q
        return [envelope(sid, r) for r in events] + [equity_envelope(sid, r) for r in points]

    def _history(self) -> list[dict[str, Any]]:
        """The last ``history_per_class`` events of each class and equity points, oldest first."""
        sid = self.session_id
        rows, points, self.history_skipped, self.last_id = api.feed_history(
            sid, self.history_per_class, classes=tuple(STAGE_CLASSES.values()), ledger=self.ledger
        )
        self.behind = False
        self.last_equity_rowid = int(points[-1][0]) if points else None
        return [envelope(sid, r) for r in rows] + [equity_envelope(sid, r) for r in points]
