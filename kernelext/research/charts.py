"""PNG charts of a session for its report: the equity curve, and the price with entries and exits.

Drawn with matplotlib's Agg canvas on a ``Figure`` of its own (never pyplot, never a display),
returned as base64 text for an ``<img src="data:image/png;base64,...">``.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import polars as pl

WIDTH, HEIGHT, DPI = 9.0, 3.2, 100


def _figure() -> tuple[Any, Any]:
    """A figure on the Agg canvas and its one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Any) -> str:
    """The figure as base64 PNG text."""
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _empty(ax: Any, words: str) -> None:
    ax.text(0.5, 0.5, words, ha="center", va="center", transform=ax.transAxes, color="#57606a")
    ax.set_xticks([])
    ax.set_yticks([])


def equity_png(equity: pl.DataFrame) -> str:
    """The equity curve (``frames.equity``: ts, equity, currency) as base64 PNG."""
    fig, ax = _figure()
    curve = equity.filter(pl.col("equity").is_not_null()).sort("ts_ns")
    if curve.is_empty():
        _empty(ax, "no equity recorded")
    else:
        ax.plot(curve["ts"].to_list(), curve["equity"].to_list(), color="#0969da", linewidth=1.2)
        ax.set_ylabel(f"equity ({curve['currency'][0] or ''})".replace(" ()", ""))
        ax.grid(alpha=0.3)
    ax.set_title("Equity")
    return _png(fig)


def _utc(ns: Sequence[int]) -> list[dt.datetime]:
    return [dt.datetime.fromtimestamp(t / 1e9, dt.UTC) for t in ns]


def price_png(closes: dict[str, tuple[list[int], list[float]]], trips: pl.DataFrame) -> str:
    """Closes per bar type (``bar_type -> (ts_ns, close)``) with round trips' entries (triangles:
    up for LONG, down for SHORT) and exits (crosses) of that bar type's instrument, as base64 PNG."""
    fig, ax = _figure()
    if not closes:
        _empty(ax, "no bars recorded")
    for bar_type, (ts, close) in sorted(closes.items()):
        ax.plot(_utc(ts), close, linewidth=1.0, label=bar_type)
        mine = trips.filter(pl.lit(bar_type).str.starts_with(pl.col("instrument") + "-"))
        for direction, marker in (("LONG", "^"), ("SHORT", "v")):
            entries = mine.filter(pl.col("direction") == direction)
            if entries.height:
                ax.scatter(_utc(entries["entry_ts_ns"].to_list()), entries["entry_px"].to_list(), marker=marker,
                           color="#1a7f37", s=36, zorder=3, label=f"entry {direction.lower()}")
        if mine.height:
            ax.scatter(_utc(mine["exit_ts_ns"].to_list()), mine["exit_px"].to_list(), marker="x", color="#cf222e",
                       s=36, zorder=3, label="exit")
    if closes:
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    ax.set_title("Price, entries and exits")
    return _png(fig)


# -- the comparison: runs' equity curves overlaid, each run's price with its fills --------------------------------

RUN_COLORS = ("#0969da", "#bf8700", "#8250df")  # one per compared run, in both kinds of chart
RUN_STYLES = ("-", "--", ":")  # the first run wide and solid, the others over it: equal curves stay visible
BUY_COLOR, SELL_COLOR = "#1a7f37", "#cf222e"


def _overlap(spans: list[tuple[int, int]]) -> bool:
    """Whether every span shares some time with every other (the latest start before the earliest end)."""
    return bool(spans) and max(s for s, _ in spans) <= min(e for _, e in spans)


def equity_overlay_png(curves: dict[str, pl.DataFrame]) -> str:
    """The equity curves of several runs (name -> ``frames.equity``) in one chart, as base64 PNG.

    Over UTC time when the runs' periods overlap (a backtest ``--like`` a paper session saw the same
    bars), else over the hours since each run's first point, so runs of different periods still overlay.
    """
    fig, ax = _figure()
    kept = {name: eq.filter(pl.col("equity").is_not_null()).sort("ts_ns") for name, eq in curves.items()}
    kept = {name: eq for name, eq in kept.items() if eq.height}
    if not kept:
        _empty(ax, "no equity recorded")
        ax.set_title("Equity curves")
        return _png(fig)
    same_time = _overlap([(eq["ts_ns"][0], eq["ts_ns"][-1]) for eq in kept.values()])
    for i, (name, eq) in enumerate(kept.items()):
        ns = eq["ts_ns"].to_list()
        xs: list[Any] = _utc(ns) if same_time else [(t - ns[0]) / 3.6e12 for t in ns]
        ax.plot(xs, eq["equity"].to_list(), color=RUN_COLORS[i % len(RUN_COLORS)], linewidth=1.4 if i else 2.2,
                linestyle=RUN_STYLES[i % len(RUN_STYLES)], label=name, drawstyle="steps-post")
    currencies = {c for eq in kept.values() for c in eq["currency"].unique().to_list() if c}
    ax.set_ylabel("equity" + (f" ({currencies.pop()})" if len(currencies) == 1 else ""))
    if not same_time:
        ax.set_xlabel("hours since each run's first equity point (the runs' periods do not overlap)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title("Equity curves" + (" (UTC)" if same_time else ""))
    return _png(fig)


def fills_price_png(closes: dict[str, tuple[list[int], list[float]]], fills: pl.DataFrame, *, title: str,
                    color: str = RUN_COLORS[0]) -> str:
    """Closes per bar type (``bar_type -> (ts_ns, close)``) with the fills of each bar type's instrument
    (``frames.fills``: triangles up for BUY, down for SELL, at the fill's time and price), as base64 PNG."""
    fig, ax = _figure()
    if not closes:
        _empty(ax, "no bars recorded")
    for bar_type, (ts, close) in sorted(closes.items()):
        ax.plot(_utc(ts), close, linewidth=1.0, color=color if len(closes) == 1 else None,
                label=bar_type if len(closes) > 1 else None)
        mine = fills.filter(pl.lit(bar_type).str.starts_with(pl.col("instrument") + "-"))
        for side, marker, side_color in (("BUY", "^", BUY_COLOR), ("SELL", "v", SELL_COLOR)):
            some = mine.filter(pl.col("side").str.to_uppercase() == side)
            if some.height:
                ax.scatter(_utc(some["ts_ns"].to_list()), some["price"].to_list(), marker=marker, color=side_color,
                           edgecolors="#1b1f24", linewidths=0.5, s=40, zorder=3, label=f"{side.lower()} fill")
    if closes:
        ax.set_ylabel("price")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))  # one entry per label (a book repeats them)
        if unique:
            ax.legend(unique.values(), unique.keys(), fontsize=8, loc="best")
    ax.set_title(title)
    return _png(fig)
