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
