"""Polars frames read from the ledger: any process, during or after a session.

Every function takes ``session`` (an id, a unique id prefix, "latest"/"last";
``None`` means "latest") and ``ledger`` (default ``Ledger()``, i.e.
``$PAPERLAB_HOME/ledger.sqlite``). Timestamps come back as
``Datetime("ns", "UTC")`` columns, with the raw UTC nanoseconds alongside
(``ts`` and ``ts_ns``). A session without rows gives empty frames with the
full schema; an unknown session id raises ``ValueError``.

Conventions (documented choices):

- Round trips net fills per (sleeve, instrument) in ts order: a trip opens when
  the net position leaves 0 and closes when it returns to 0; a fill that flips
  the position closes one trip and opens the next with the remainder, its fee
  split pro rata by quantity. Open trips are excluded. P&L is price x quantity
  (no contract multiplier: spot crypto), fees are assumed to be in the quote
  currency, ``return_pct`` is ``net_pnl / entry notional * 100``.
- ``win_rate`` is a fraction (0..1); a win is ``net_pnl > 0``.
- ``profit_factor`` = gross wins / gross losses of ``net_pnl``; null when there
  is no losing trip.
- ``fees`` in ``performance`` sums ALL fill fees (also those of open trips).
- ``max_drawdown`` (absolute) and ``max_drawdown_pct`` (percent of the running
  peak): for the whole session from the ``equity`` table (falling back to the
  cumulative ``net_pnl`` curve, pct null, when there is no equity); for a
  group from the group's cumulative ``net_pnl`` curve starting at 0 (pct null:
  a group has no capital of its own).
- ``sharpe``: equity sampled per minute (last value per minute, gaps forward
  filled), simple returns, ``mean / std * sqrt(525600)`` (24/7 crypto
  minutes per year); null with fewer than 2 returns or zero variance, and null
  for groups (equity is per session).
- ``sessions()[realized_pnl]`` is the sum of closed round-trip ``net_pnl`` (the
  same number ``performance`` reports), not the venue's position P&L: Nautilus
  resets a NETTING position's realized P&L when it reopens under the same id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from kernelext.session import live
from kernelext.errors import NotFound
from kernelext.ledger import Ledger, queries

log = logging.getLogger(__name__)

UTC_NS = pl.Datetime("ns", "UTC")
MINUTES_PER_YEAR = 525_600
GROUP_COLUMNS: dict[str, str] = {"sleeve": "sleeve", "strategy": "strategy", "instrument": "instrument"}
_SIGN = {"BUY": 1, "SELL": -1}
_REL_TOL = 1e-9

S, F, I = pl.Utf8, pl.Float64, pl.Int64

# Frame schemas of the rows kernelext.ledger.queries returns (same columns, same order).
FILLS_RAW: dict[str, Any] = {
    "session_id": S, "sleeve": S, "client_order_id": S, "venue_order_id": S, "trade_id": S,
    "position_id": S, "instrument": S, "side": S, "qty": F, "price": F, "fee": F,
    "fee_currency": S, "liquidity": S, "ts_ns": I,
}
ORDERS_RAW: dict[str, Any] = {
    "session_id": S, "sleeve": S, "client_order_id": S, "instrument": S, "side": S,
    "order_type": S, "quantity": F, "price": F, "status": S, "reason": S, "strategy_id": S,
    "ts_submitted_ns": I, "ts_updated_ns": I, "filled_qty": F,
}
POSITIONS_RAW: dict[str, Any] = {
    "session_id": S, "sleeve": S, "position_id": S, "instrument": S, "side": S,
    "quantity": F, "avg_px_open": F, "avg_px_close": F, "realized_pnl": F,
    "unrealized_pnl": F, "currency": S, "opened_ts_ns": I, "closed_ts_ns": I,
    "ts_updated_ns": I,
}
EQUITY_RAW: dict[str, Any] = {
    "session_id": S, "ts_ns": I, "equity": F, "balance": F, "available": F,
    "unrealized_pnl": F, "realized_pnl": F, "exposure": F, "currency": S,
}
CURVE_RAW: dict[str, Any] = {"ts_ns": I, "equity": F, "currency": S}  # what performance reads of equity
BARS_RAW: dict[str, Any] = {
    "bar_type": S, "ts_ns": I, "open": F, "high": F, "low": F, "close": F, "volume": F, "historical": I,
}
EVENTS_RAW: dict[str, Any] = {
    "id": I, "session_id": S, "sleeve": S, "stage": S, "message": S, "ts_ns": I,
    "extras_json": S,
}
SESSIONS_RAW: dict[str, Any] = {
    "session_id": S, "label": S, "kind": S, "venue": S, "feed": S, "status": S,
    "started_at_ns": I, "ended_at_ns": I, "last_error": S, "pid": I, "host": S,
    "sleeves": I, "fills": I, "orders": I, "fees": F,
}
TRIPS_RAW: dict[str, Any] = {
    "session_id": S, "sleeve": S, "instrument": S, "direction": S, "entry_ts_ns": I,
    "exit_ts_ns": I, "qty": F, "entry_px": F, "exit_px": F, "gross_pnl": F, "fees": F,
    "net_pnl": F, "return_pct": F, "fills": I,
}
PERF_METRICS: dict[str, Any] = {
    "trades": I, "wins": I, "losses": I, "win_rate": F, "profit_factor": F,
    "gross_pnl": F, "realized_pnl": F, "fees": F, "max_drawdown": F,
    "max_drawdown_pct": F, "sharpe": F,
}


# -- plumbing -----------------------------------------------------------------
@contextmanager
def _use(ledger: Ledger | None) -> Iterator[Ledger]:
    """The given ledger, or the default one opened for this call and closed after it."""
    if ledger is not None:
        yield ledger
        return
    led = Ledger()
    try:
        yield led
    finally:
        led.close()


def _resolve(session: str | None, ledger: Ledger) -> str:
    """Session id from an id / prefix / "latest" (None = latest); unknown: one-line ``NotFound``."""
    try:
        return ledger.resolve_session(session if session is not None else "latest")
    except ValueError as e:
        raise NotFound(f"session: {e}") from None


def _frame(rows: Sequence[tuple], raw: dict[str, Any]) -> pl.DataFrame:
    """Rows -> DataFrame with an explicit schema; ``*_ns`` columns get a Datetime twin.

    The Datetime column takes the ``*_ns`` column's name without the suffix and
    its place; the raw ns column moves to the end.
    """
    df = pl.DataFrame(list(rows), schema=raw, orient="row")
    ns_cols = [c for c in raw if c.endswith("_ns")]
    if not ns_cols:
        return df
    df = df.with_columns(pl.col(c).cast(UTC_NS).alias(c[:-3]) for c in ns_cols)
    order = [c[:-3] if c.endswith("_ns") else c for c in raw] + ns_cols
    return df.select(order)


def _strategy_map(ledger: Ledger, session_id: str) -> dict[str, str | None]:
    """sleeve -> strategy_key from the sleeves table."""
    return {s["sleeve"]: s["strategy_key"] for s in queries.sleeves(ledger, session_id)}


# -- plain tables -------------------------------------------------------------
def sessions(ledger: Ledger | None = None) -> pl.DataFrame:
    """Every session, newest first, with counts of sleeves/fills/orders, realized_pnl and fees.

    Sessions left running by a process that died are marked ``crashed`` first.
    """
    with _use(ledger) as led:
        led.mark_crashed(live_ids=live.ids())
        df = _frame(queries.sessions_table(led), SESSIONS_RAW)
        pnl = _realized_by_session(led)
    realized = pl.Series("realized_pnl", [pnl.get(s, 0.0) for s in df["session_id"]], dtype=F)
    return df.insert_column(df.columns.index("fees"), realized)


AUDIT_RAW: dict[str, Any] = {
    "id": pl.Int64, "ts_ns": pl.Int64, "actor": pl.Utf8, "action": pl.Utf8, "session_id": pl.Utf8,
    "detail": pl.Utf8, "hash": pl.Utf8,
}


def audit(session: str | None = None, ledger: Ledger | None = None, *, since_ns: int = 0,
          limit: int | None = None) -> pl.DataFrame:
    """The audit log, oldest first (``session``: the rows naming it; ``limit``: the newest that many):
    who (``actor``: name via surface) did what (``action``), with the row's ``detail`` (JSON) and ``hash``."""
    with _use(ledger) as led:
        session_id = _resolve(session, led) if session else None
        return _frame(queries.audit_rows(led, session_id, since_ns, limit), AUDIT_RAW)


def _realized_by_session(ledger: Ledger) -> dict[str, float]:
    """Sum of closed round-trip net P&L per session (one ordered pass over all fills)."""
    out: dict[str, float] = {}
    for trip in _net_fills(queries.trip_fills(ledger)):
        out[trip[0]] = out.get(trip[0], 0.0) + trip[11]
    return out


def fills(session: str | None = None, ledger: Ledger | None = None) -> pl.DataFrame:
    """The session's fills in ts order (``qty``/``price``/``fee`` per fill, plus ``notional``)."""
    with _use(ledger) as led:
        df = _frame(queries.fills(led, _resolve(session, led)), FILLS_RAW)
    return df.with_columns(notional=pl.col("qty") * pl.col("price"))


def orders(session: str | None = None, ledger: Ledger | None = None) -> pl.DataFrame:
    """The session's orders (latest status per client_order_id), in submission order."""
    with _use(ledger) as led:
        return _frame(queries.orders(led, _resolve(session, led)), ORDERS_RAW)


def positions(session: str | None = None, ledger: Ledger | None = None) -> pl.DataFrame:
    """The session's positions (latest state per position_id)."""
    with _use(ledger) as led:
        return _frame(queries.positions(led, _resolve(session, led)), POSITIONS_RAW)


def equity(session: str | None = None, ledger: Ledger | None = None) -> pl.DataFrame:
    """The session's equity curve: one row per market timestamp, the account after everything at it."""
    with _use(ledger) as led:
        return _last_at_each_ts(_frame(queries.equity(led, _resolve(session, led)), EQUITY_RAW))


def _last_at_each_ts(eq: pl.DataFrame) -> pl.DataFrame:
    """The last point marked at each ts (rows in ts, then insertion order). The telemetry marks a ts
    again when more happens at it (a fill after its bar, a book's next bar); a flush in between
    leaves both in the ledger, and the curve must not depend on when the writer flushed."""
    return eq.unique(subset=["ts_ns", "currency"], keep="last", maintain_order=True)


def bars(session: str | None = None, ledger: Ledger | None = None, *, historical: bool = False) -> pl.DataFrame:
    """The bars the session's strategies saw, by bar type and ts (``ts`` is the bar's close time);
    ``historical``: the warm-up bars too (``historical`` = 1), first."""
    with _use(ledger) as led:
        df = _frame(queries.bars(led, _resolve(session, led)), BARS_RAW)
    return df if historical else df.filter(pl.col("historical") == 0)


def events(
    session: str | None = None, stage: str | None = None, ledger: Ledger | None = None
) -> pl.DataFrame:
    """The session's events in ts order; ``stage`` is exact or a glob ("order.*")."""
    with _use(ledger) as led:
        return _frame(queries.events(led, _resolve(session, led), stage), EVENTS_RAW)


# -- round trips --------------------------------------------------------------
class _Trip:
    """Running state of one open round trip."""

    __slots__ = ("sign", "open_qty", "entry_qty", "entry_value", "exit_qty",
                 "exit_value", "fees", "entry_ts", "fills")

    def __init__(self, sign: int, qty: float, px: float, fee: float, ts: int) -> None:
        self.sign, self.open_qty, self.entry_qty = sign, qty, qty
        self.entry_value, self.exit_qty, self.exit_value = qty * px, 0.0, 0.0
        self.fees, self.entry_ts, self.fills = fee, ts, 1


def _closed(session_id: str, sleeve: str | None, instrument: str | None, t: _Trip, ts: int) -> tuple:
    """A finished trip as a TRIPS_RAW row."""
    qty = t.entry_qty
    entry_px, exit_px = t.entry_value / qty, t.exit_value / t.exit_qty
    gross = t.sign * (exit_px - entry_px) * qty
    net = gross - t.fees
    return (
        session_id, sleeve, instrument, "LONG" if t.sign > 0 else "SHORT", t.entry_ts, ts,
        qty, entry_px, exit_px, gross, t.fees, net, net / (entry_px * qty) * 100.0, t.fills,
    )


def _net_fills(rows: Iterable[tuple]) -> list[tuple]:
    """Net fills (session_id, sleeve, instrument, side, qty, price, fee, ts), ts-ordered per
    (session, sleeve, instrument), into closed round trips (TRIPS_RAW rows). O(n)."""
    state: dict[tuple, _Trip] = {}
    out: list[tuple] = []
    for sid, sleeve, instrument, side, qty, px, fee, ts in rows:
        sign = _SIGN.get((side or "").upper())
        if sign is None or not qty or qty <= 0 or px is None:
            log.warning("round_trips: skipping unusable fill %s %s %s @ %s", side, qty, instrument, px)
            continue
        key, fee = (sid, sleeve, instrument), fee or 0.0
        trip = state.get(key)
        if trip is None:
            state[key] = _Trip(sign, qty, px, fee, ts)
        elif sign == trip.sign:
            trip.open_qty += qty
            trip.entry_qty += qty
            trip.entry_value += qty * px
            trip.fees += fee
            trip.fills += 1
        else:
            _reduce(state, key, trip, sign, qty, px, fee, ts, out)
    return out


def _reduce(
    state: dict[tuple, _Trip], key: tuple, trip: _Trip, sign: int, qty: float, px: float,
    fee: float, ts: int, out: list[tuple],
) -> None:
    """Apply an opposite-side fill: partial close, full close, or flip through zero."""
    tol = _REL_TOL * max(1.0, trip.entry_qty, qty)
    close = min(qty, trip.open_qty)
    trip.open_qty -= close
    trip.exit_qty += close
    trip.exit_value += close * px
    trip.fees += fee * close / qty
    trip.fills += 1
    if trip.open_qty > tol:
        return
    out.append(_closed(*key, trip, ts))
    del state[key]
    rest = qty - close
    if rest > tol:
        state[key] = _Trip(sign, rest, px, fee * rest / qty, ts)


def _trip_rows(ledger: Ledger, session_id: str) -> list[tuple]:
    """Closed round trips of one session as TRIPS_RAW rows, in exit order."""
    return _net_fills(queries.trip_fills(ledger, session_id))


def round_trips(session: str | None = None, ledger: Ledger | None = None) -> pl.DataFrame:
    """Closed round trips per (sleeve, instrument), in exit order; open trips are excluded.

    Columns: session_id, sleeve, strategy, instrument, direction (LONG/SHORT),
    entry_ts, exit_ts, duration, qty, entry_px / exit_px (VWAP), gross_pnl, fees,
    net_pnl, return_pct (percent of entry notional), fills, entry_ts_ns, exit_ts_ns.
    """
    with _use(ledger) as led:
        sid = _resolve(session, led)
        df = _frame(_trip_rows(led, sid), TRIPS_RAW)
        strategies = _strategy_map(led, sid)
    strategy = pl.Series("strategy", [strategies.get(s) for s in df["sleeve"]], dtype=S)
    return df.insert_column(2, strategy).with_columns(
        duration=(pl.col("exit_ts") - pl.col("entry_ts"))
    ).select(
        "session_id", "sleeve", "strategy", "instrument", "direction", "entry_ts", "exit_ts",
        "duration", "qty", "entry_px", "exit_px", "gross_pnl", "fees", "net_pnl",
        "return_pct", "fills", "entry_ts_ns", "exit_ts_ns",
    )


# -- performance --------------------------------------------------------------
def performance(
    session: str | None = None, by: str | None = None, ledger: Ledger | None = None
) -> pl.DataFrame:
    """Trades, wins, win_rate, profit_factor, P&L, fees, drawdown and Sharpe.

    ``by`` is None (one row for the session), "sleeve", "strategy" or
    "instrument" (one row per group). See the module docstring for definitions.
    A session with neither fills nor equity gives an empty frame.
    """
    if by is not None and by not in GROUP_COLUMNS:
        raise ValueError(f"performance(by={by!r}): use None, 'sleeve', 'strategy' or 'instrument'")
    with _use(ledger) as led:
        sid = _resolve(session, led)
        trips = round_trips(sid, led)
        fill_df = fills(sid, led)
        strategies = _strategy_map(led, sid)
        eq = _last_at_each_ts(_frame(queries.equity_curve(led, sid), CURVE_RAW)) if by is None else None
    fill_df = fill_df.with_columns(
        strategy=pl.Series([strategies.get(s) for s in fill_df["sleeve"]], dtype=S)
    )
    if eq is not None:
        return _session_performance(sid, trips, fill_df, eq)
    return _group_performance(sid, GROUP_COLUMNS[by], trips, fill_df)


def _empty_performance(key: str | None) -> pl.DataFrame:
    """The performance schema with no rows."""
    schema: dict[str, Any] = {"session_id": S}
    if key is not None:
        schema[key] = S
    return pl.DataFrame(schema={**schema, **PERF_METRICS})


def _trip_stats(trips: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per-group trade counts and P&L sums from round trips (group on ``keys``)."""
    net = pl.col("net_pnl")
    aggs = [
        pl.len().cast(I).alias("trades"),
        (net > 0).sum().cast(I).alias("wins"),
        (net < 0).sum().cast(I).alias("losses"),
        net.filter(net > 0).sum().alias("gross_wins"),
        (-net.filter(net < 0)).sum().alias("gross_losses"),
        pl.col("gross_pnl").sum().alias("gross_pnl"),
        net.sum().alias("realized_pnl"),
    ]
    if not keys:
        return trips.select(aggs)
    return trips.group_by(keys).agg(aggs)


def _ratios(df: pl.DataFrame) -> pl.DataFrame:
    """win_rate and profit_factor from counts; trade counts default to 0."""
    df = df.with_columns(pl.col("trades", "wins", "losses").fill_null(0))
    return df.with_columns(
        win_rate=pl.when(pl.col("trades") > 0).then(pl.col("wins") / pl.col("trades")),
        profit_factor=pl.when(pl.col("gross_losses") > 0).then(
            pl.col("gross_wins") / pl.col("gross_losses")
        ),
    )


def _session_performance(
    sid: str, trips: pl.DataFrame, fill_df: pl.DataFrame, eq: pl.DataFrame
) -> pl.DataFrame:
    """One row for the whole session."""
    if fill_df.is_empty() and eq.is_empty():
        return _empty_performance(None)
    stats = _ratios(_trip_stats(trips, []))
    if eq.is_empty():
        dd, dd_pct = _pnl_drawdown(trips["net_pnl"]), None
    else:
        dd, dd_pct = _equity_drawdown(eq)
    return stats.with_columns(
        session_id=pl.lit(sid, S),
        fees=pl.lit(float(fill_df["fee"].fill_null(0.0).sum()), F),
        max_drawdown=pl.lit(dd, F),
        max_drawdown_pct=pl.lit(dd_pct, F),
        sharpe=pl.lit(sharpe(eq), F),
        realized_pnl=pl.col("realized_pnl").fill_null(0.0),
        gross_pnl=pl.col("gross_pnl").fill_null(0.0),
    ).select(_empty_performance(None).columns)


def _group_performance(sid: str, key: str, trips: pl.DataFrame, fill_df: pl.DataFrame) -> pl.DataFrame:
    """One row per group value of ``key``."""
    if fill_df.is_empty():
        return _empty_performance(key)
    stats = _trip_stats(trips, [key])
    dd = (
        trips.sort("exit_ts_ns", maintain_order=True)
        .with_columns(cum=pl.col("net_pnl").cum_sum().over(key))
        .with_columns(peak=pl.max_horizontal(pl.col("cum").cum_max().over(key), pl.lit(0.0)))
        .group_by(key)
        .agg(max_drawdown=(pl.col("peak") - pl.col("cum")).max())
    )
    fees = fill_df.group_by(key).agg(fees=pl.col("fee").fill_null(0.0).sum())
    out = (
        fees.join(stats, on=key, how="full", coalesce=True, nulls_equal=True)
        .join(dd, on=key, how="left", nulls_equal=True)
    )
    out = _ratios(out).with_columns(
        session_id=pl.lit(sid, S),
        fees=pl.col("fees").fill_null(0.0),
        realized_pnl=pl.col("realized_pnl").fill_null(0.0),
        gross_pnl=pl.col("gross_pnl").fill_null(0.0),
        max_drawdown_pct=pl.lit(None, F),
        sharpe=pl.lit(None, F),
    )
    return out.select(_empty_performance(key).columns).sort(key, nulls_last=True)


def _pnl_drawdown(pnl: pl.Series) -> float | None:
    """Largest fall of a cumulative P&L curve from its running peak (start at 0)."""
    if pnl.is_empty():
        return None
    peak, cum, worst = 0.0, 0.0, 0.0
    for x in pnl.to_list():
        cum += x
        peak = max(peak, cum)
        worst = max(worst, peak - cum)
    return worst


def _equity_curve(eq: pl.DataFrame) -> pl.DataFrame:
    """Equity rows in the first currency seen, non-null, ts-sorted."""
    eq = eq.filter(pl.col("equity").is_not_null()).sort("ts_ns", maintain_order=True)
    if eq.is_empty():
        return eq
    currency = eq["currency"][0]
    if currency is not None and eq["currency"].n_unique() > 1:
        eq = eq.filter(pl.col("currency") == currency)
    return eq


def _equity_drawdown(eq: pl.DataFrame) -> tuple[float | None, float | None]:
    """(absolute, percent) max drawdown of the equity curve from its running peak."""
    curve = _equity_curve(eq)
    if curve.is_empty():
        return None, None
    peak = curve["equity"].cum_max()
    dd = peak - curve["equity"]
    pct = (dd / peak).filter(peak > 0)
    return float(dd.max()), (float(pct.max()) * 100.0 if not pct.is_empty() else None)


def sharpe(eq: pl.DataFrame, periods_per_year: int = MINUTES_PER_YEAR) -> float | None:
    """Annualised Sharpe of per-minute equity returns (gaps forward filled); None if undefined."""
    curve = _equity_curve(eq)
    if curve.height < 2:
        return None
    minute = (
        curve.select("ts", "equity")
        .group_by_dynamic("ts", every="1m")
        .agg(pl.col("equity").last())
        .upsample("ts", every="1m")
        .with_columns(pl.col("equity").forward_fill())
    )
    returns = minute["equity"].pct_change().drop_nulls()
    returns = returns.filter(returns.is_finite())
    if returns.len() < 2:
        return None
    std = returns.std()
    if std is None or not std > 0:
        return None
    value = float(returns.mean()) / float(std) * math.sqrt(periods_per_year)
    return value if math.isfinite(value) else None
