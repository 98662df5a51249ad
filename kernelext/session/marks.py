"""Marking the account to market: the arithmetic of one equity point.

The live telemetry marks a point on every bar and fill; a recorded backtest marks the same
points as its run goes (``marks_after_run``), from snapshots of the account taken at fills and
after changes, and the bars' closes. Both call these functions, so both give the same floats bit for bit: ``backtest --like``
must reproduce a paper session's metrics exactly, and a float sum depends on its order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

Position = tuple[Any, float, float]  # (instrument id, signed quantity, average open price)
Holding = tuple[Any, float]  # (the pair pricing the asset in the settlement currency, or None; total)
Point = tuple[int, float, float, float, float, float, float]  # ts, equity, balance, available, upnl, rpnl, exposure


def open_pnl_and_exposure(positions: Iterable[Position], closes: Mapping[Any, float]) -> tuple[float, float]:
    """Unrealized P&L and signed notional of open positions at the last closes (none yet: left out)."""
    upnl = exposure = 0.0
    for instrument_id, qty, avg_px in positions:
        px = closes.get(instrument_id)
        if px is None:
            continue
        upnl += qty * (px - avg_px)
        exposure += qty * px
    return upnl, exposure


def holdings_value(holdings: Iterable[Holding], closes: Mapping[Any, float]) -> float:
    """A cash account's other assets at the last close of their pair (no close yet: left out)."""
    value = 0.0
    for pair, total in holdings:
        px = closes.get(pair)
        if px is not None:
            value += total * px
    return value


def point(ts: int, balance: float, available: float, positions: Iterable[Position], holdings: Iterable[Holding],
          closes: Mapping[Any, float], starting_cash: float, *, cash_account: bool) -> Point:
    """One equity point: a cash account holds its assets (equity = every balance at the last close);
    a margin account's equity is its balance plus the open positions' P&L."""
    upnl, exposure = open_pnl_and_exposure(positions, closes)
    if cash_account:
        equity = balance + holdings_value(holdings, closes)
        rpnl = equity - starting_cash - upnl
    else:
        equity, rpnl = balance + upnl, balance - starting_cash
    return (ts, equity, balance, available, upnl, rpnl, exposure)


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account as an equity point reads it, taken when it changed."""

    bars_seen: int  # bars the run had handled when it was taken
    ts: int
    fill: bool  # taken at a fill: the live telemetry marks a point there
    balance: float
    available: float
    positions: tuple[Position, ...]
    holdings: tuple[Holding, ...]


class RunMarks:
    """A run's equity points marked from its account snapshots, as the live telemetry marks them:
    a point per bar (the account as last snapshotted before the bar) and per fill; the last marked
    at a ts stands for it (the equity frames read the last one written at a ts).

    ``mark`` takes the next bars as the run has handled them, so the points can go to the ledger
    while the run goes on; ``snapshots`` is the telemetry's own list, appended to as it goes and
    trimmed here of what was applied (a long run's memory stays flat)."""

    def __init__(self, snapshots: list[AccountSnapshot], starting_cash: float, *, cash_account: bool) -> None:
        self._snapshots = snapshots
        self._next = 0  # the first snapshot not applied yet
        self._handled = 0  # bars marked so far
        self._state: AccountSnapshot | None = None
        self._closes: dict[Any, float] = {}
        self._starting_cash = starting_cash
        self._cash_account = cash_account

    def mark(self, bars: Iterable[tuple[int, Any, float]], *, final: bool = False) -> list[Point]:
        """Points for the next ``bars`` (``(ts, instrument id, close)``, in the order the run handled
        them, every snapshot taken before each already in ``snapshots``); ``final``: the run is
        over, so the fills after its last bar too. A point may repeat the ts of the previous call's
        last one: it replaces it."""
        points: list[Point] = []
        for ts, instrument_id, close in bars:
            self._apply(points, self._handled)
            self._closes[instrument_id] = close
            self._handled += 1
            if self._state is not None:
                self._add(points, ts)
        if final:
            self._apply(points, None)
        if self._next:
            del self._snapshots[:self._next]
            self._next = 0
        return points

    def _apply(self, points: list[Point], bars_seen: int | None) -> None:
        """Take the snapshots taken with at most ``bars_seen`` bars handled (None: all), marking
        a point at each fill."""
        snapshots = self._snapshots
        while self._next < len(snapshots) and (bars_seen is None or snapshots[self._next].bars_seen <= bars_seen):
            self._state = snapshots[self._next]
            self._next += 1
            if self._state.fill:
                self._add(points, self._state.ts)

    def _add(self, points: list[Point], ts: int) -> None:
        s = self._state
        p = point(ts, s.balance, s.available, s.positions, s.holdings, self._closes, self._starting_cash,
                  cash_account=self._cash_account)
        if points and points[-1][0] == ts:
            points[-1] = p
        else:
            points.append(p)
