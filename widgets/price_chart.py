"""PriceChart: one session's price as candles, with its fills, resting orders and position, live.

    chart = PriceChart(session_id, ledger)   # SessionDashboard makes one and feeds it
    chart.load(fills, orders)                # the history: the fills and orders frames (facade)
    chart.take(envelope)                     # each ``order.*`` envelope the dashboard's feed brings
    chart.poll()                             # the bars stored since the last poll
    chart.render()                           # push what changed to the Bokeh sources, once

- Candles: the live bars the strategies saw (the ledger's ``bars`` table, ``api.bars_tail``): the
  last ``candles`` at first, then what arrived since each poll, streamed with rollover, so a long
  session costs the same as a short one. A candle spans its bar (``ts`` is the bar's close).
- Fills: triangles at the fill's time and price, BUY up and green, SELL down and red.
- Resting orders (not in a final status, with a price: limits, stop-limits) are dashed horizontal
  lines at their price, green for buys, red for sells; they go when the order fills or is canceled.
  A stop-market order records no price in the ledger and is not drawn.
- The position: the net signed quantity of the fills (per instrument, over all of them) shades the
  background green while long and red while short.

Only fills and position spans inside the candles' window are shown. A session with several bar
types shows one at a time (the ``bar_select``); fills, orders and position are its instrument's.
Times are the US/Eastern wall clock, as on the equity curve. Everything comes through
``kernelext.api``.

Test hooks: ``candles_source``, ``fills_source``, ``orders_source``, ``position_source``,
``counts``, ``bar_type``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

import panel as pn
from bokeh.models import CDSView, ColumnDataSource, GroupFilter, HoverTool
from bokeh.plotting import figure
from panel.io.notebook import push_notebook

from kernelext import api
from widgets.feed import eastern_ms, eastern_str

if TYPE_CHECKING:
    import polars as pl

    from kernelext.ledger import Ledger

UP, DOWN = "#26a69a", "#ef5350"  # candle bodies: close >= open, close < open
BUY, SELL = "#00c853", "#d50000"  # fill markers and resting lines (distinct from the candles)
LONG, SHORT = "#2e7d32", "#c62828"  # position shading (light: ``SHADE_ALPHA``)
SHADE_ALPHA = 0.12
MARKERS = {"BUY": "triangle", "SELL": "inverted_triangle"}
SIDE_COLORS = {"BUY": BUY, "SELL": SELL}
_UNIT_MS = {"MILLISECOND": 1, "SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000,
            "WEEK": 604_800_000, "MONTH": 2_592_000_000}
_FINAL_STAGES = {"order.filled": "FILLED", "order.canceled": "CANCELED", "order.rejected": "REJECTED",
                 "order.denied": "DENIED", "order.expired": "EXPIRED"}
CANDLE_COLUMNS = ("x", "ts", "open", "high", "low", "close", "top", "bottom", "volume", "color")
FILL_COLUMNS = ("x", "ts", "time", "price", "qty", "side", "marker", "color", "client_order_id")
ORDER_COLUMNS = ("price", "side", "type", "qty", "status", "color", "client_order_id")
POSITION_COLUMNS = ("x0", "x1", "side", "color")
TYPES_EVERY_S = 5.0  # how often a running session's bar types are read again (a book's may come later)


def instrument_of(bar_type: str) -> str:
    """``BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL`` -> ``BTC/USD.KRAKEN`` (``BRK-B.NYSE-1-DAY-...`` too)."""
    return bar_type.split("@", 1)[0].rsplit("-", 4)[0]


def bar_ms(bar_type: str) -> float | None:
    """A time bar's length in ms (``1-MINUTE`` -> 60000); None for other aggregations."""
    parts = bar_type.split("@", 1)[0].rsplit("-", 4)
    if len(parts) != 5 or parts[2] not in _UNIT_MS or not parts[1].isdigit():
        return None
    return int(parts[1]) * _UNIT_MS[parts[2]]


def _empty(columns: tuple[str, ...]) -> dict[str, list]:
    return {c: [] for c in columns}


class PriceChart:
    """Candles of one bar type, fills, resting orders and the position, bounded and incremental."""

    def __init__(self, session_id: str, ledger: Ledger | None = None, *, candles: int = 500,
                 max_fills: int = 2000, height: int = 340) -> None:
        """The chart of ``session_id`` (an exact id): the last ``candles`` bars, at most ``max_fills`` fills
        kept per instrument."""
        self.session_id = session_id
        self.ledger = api.open_ledger(ledger)
        self.candles, self.max_fills, self.height = candles, max_fills, height
        self.bar_type: str | None = None
        self.bar_types: list[str] = []
        self._types_at = 0.0
        self._last_ts: int | None = None  # newest bar read of ``bar_type``
        self._width = 60_000.0  # candle width in ms (the bar's length)
        self._new_bars: list[tuple] = []
        self._reset_candles = False
        self._fills: dict[str, deque[dict[str, Any]]] = {}
        self._fill_keys: OrderedDict[tuple, None] = OrderedDict()
        self._net: dict[str, float] = {}
        self._spans: dict[str, deque[list]] = {}  # instrument -> [x0, x1 or None (open), side]
        self._orders: dict[str, dict[str, Any]] = {}  # resting: client_order_id -> row
        self._shown_fills: tuple = ()
        self._dirty: set[str] = set()
        self._build()

    # -- widgets -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.candles_source = ColumnDataSource(_empty(CANDLE_COLUMNS), name="paperlab-candles")
        self.fills_source = ColumnDataSource(_empty(FILL_COLUMNS), name="paperlab-fill-markers")
        self.orders_source = ColumnDataSource(_empty(ORDER_COLUMNS), name="paperlab-resting-orders")
        self.position_source = ColumnDataSource(_empty(POSITION_COLUMNS), name="paperlab-position")
        fig = figure(x_axis_type="datetime", height=self.height, sizing_mode="stretch_width", title="Price (US/Eastern time)",
                     tools="pan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom")
        for side, label in (("LONG", "long"), ("SHORT", "short")):
            fig.vstrip(x0="x0", x1="x1", source=self.position_source, view=_only(side), fill_color="color",
                       fill_alpha=SHADE_ALPHA, line_alpha=0, legend_label=label)
        wick = fig.segment("x", "high", "x", "low", source=self.candles_source, line_color="color")
        self.bodies = fig.vbar("x", self._width * 0.7, "top", "bottom", source=self.candles_source,
                               fill_color="color", line_color="color")
        markers = []
        for side in MARKERS:
            fig.hspan(y="price", source=self.orders_source, view=_only(side), line_color="color",
                      line_dash="dashed", line_width=1.5, legend_label=f"resting {side.lower()}")
            markers.append(fig.scatter("x", "price", source=self.fills_source, view=_only(side), marker="marker",
                                       size=13, fill_color="color", line_color="#1b1f24", line_width=0.8,
                                       legend_label=f"{side.lower()} fill"))
        fig.x_range.renderers = [wick, self.bodies]  # the window is the candles' (never stretched by old fills)
        fig.add_tools(HoverTool(renderers=[self.bodies], tooltips=[
            ("time (ET)", "@ts{%F %T}"), ("open", "@open{0,0.00}"), ("high", "@high{0,0.00}"),
            ("low", "@low{0,0.00}"), ("close", "@close{0,0.00}"), ("volume", "@volume{0,0.0000}")],
            formatters={"@ts": "datetime"}))
        fig.add_tools(HoverTool(renderers=markers, tooltips=[
            ("fill", "@side @qty at @price{0,0.00}"), ("time (ET)", "@time"), ("order", "@client_order_id")]))
        legend = fig.legend[0]
        legend.orientation, legend.label_text_font_size, legend.click_policy = "horizontal", "9pt", "hide"
        legend.location, legend.margin, legend.padding = "top_left", 2, 4
        fig.add_layout(legend, "above")  # the candles stay uncovered
        fig.yaxis.axis_label = "price"
        self.figure = fig
        self.pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        self.bar_select = pn.widgets.Select(label="Bars", options=[], width=360, visible=False)
        self.bar_select.param.watch(lambda e: self._picked(e.new), "value")

    def panel(self) -> pn.viewable.Viewable:
        """The bar type select (shown for a session with several) above the chart (css class
        ``paperlab-price-chart``)."""
        return pn.Column(self.bar_select, self.pane, sizing_mode="stretch_width", css_classes=["paperlab-price-chart"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel()

    @property
    def counts(self) -> dict[str, int]:
        """Candles, fill markers, resting order lines and position spans the user sees."""
        return {"candles": len(self.candles_source.data["x"]), "fills": len(self.fills_source.data["x"]),
                "orders": len(self.orders_source.data["price"]), "spans": len(self.position_source.data["x0"])}

    @property
    def instrument(self) -> str | None:
        """The instrument of the bar type shown."""
        return instrument_of(self.bar_type) if self.bar_type else None

    # -- input ---------------------------------------------------------------------------------
    def load(self, fills: pl.DataFrame | None = None, orders: pl.DataFrame | None = None) -> None:
        """The history: every fill (ts order) and the orders still resting (frames; read here when None)."""
        if fills is None:
            fills = api.frame("fills", self.session_id, ledger=self.ledger)
        if orders is None:
            orders = api.frame("orders", self.session_id, ledger=self.ledger)
        older = fills.height - self.max_fills
        if older > 0:  # only the net position of the fills before the last ``max_fills`` (a long session)
            self._settle(fills.head(older))
            fills = fills.tail(self.max_fills)
        for r in fills.iter_rows(named=True):
            self.add_fill(r["instrument"], r["side"], r["qty"], r["price"], r["ts_ns"],
                          key=(r["trade_id"], r["client_order_id"]))
        for r in orders.iter_rows(named=True):
            self._upsert_order(r, r.get("status"))

    def _settle(self, fills: pl.DataFrame) -> None:
        """The net position per instrument after ``fills`` (the open span starts at their last fill)."""
        import polars as pl

        signed = pl.when(pl.col("side").str.to_uppercase() == "BUY").then(pl.col("qty")).otherwise(-pl.col("qty"))
        nets = fills.filter(pl.col("side").str.to_uppercase().is_in(list(MARKERS))).group_by("instrument").agg(
            net=signed.sum(), last_ns=pl.col("ts_ns").max())
        for instrument, net, last_ns in nets.iter_rows():
            self._net[instrument] = 0.0
            self._position(instrument, net, eastern_ms(last_ns))

    def take(self, ev: dict[str, Any]) -> None:
        """An ``order.*`` envelope from the feed: a fill, a resting order placed or gone."""
        stage = ev.get("stage") or ""
        if not stage.startswith("order."):
            return
        if stage == "order.filled":
            self.add_fill(ev.get("instrument"), ev.get("side"), ev.get("last_qty"), ev.get("last_px"), ev["ts"],
                          key=(ev.get("trade_id"), ev.get("client_order_id")))
        self._upsert_order(ev, ev.get("status") or _FINAL_STAGES.get(stage))

    def add_fill(self, instrument: str | None, side: str | None, qty: float | None, price: float | None, ts: int,
                 *, key: tuple) -> None:
        """One fill (once per ``key``): its marker, and the position it leaves."""
        side = (side or "").upper()
        if instrument is None or side not in MARKERS or not qty or price is None or key in self._fill_keys:
            return
        self._fill_keys[key] = None
        while len(self._fill_keys) > 4 * self.max_fills:  # a duplicate only comes near the load: recent keys do
            self._fill_keys.popitem(last=False)
        x = eastern_ms(ts)
        kept = self._fills.setdefault(instrument, deque(maxlen=self.max_fills))
        kept.append({"x": x, "ts": x, "time": eastern_str(ts), "price": float(price), "qty": float(qty),
                     "side": side, "marker": MARKERS[side], "color": SIDE_COLORS[side],
                     "client_order_id": key[1]})
        self._position(instrument, (1.0 if side == "BUY" else -1.0) * float(qty), x)
        self._dirty |= {"fills", "position"}

    def _position(self, instrument: str, signed_qty: float, x: float) -> None:
        """Net quantity after a fill; a span closes when its sign changes, another opens."""
        before = self._net.get(instrument, 0.0)
        after = before + signed_qty
        if abs(after) <= 1e-9 * max(1.0, abs(before), abs(signed_qty)):
            after = 0.0
        self._net[instrument] = after
        sign_before, sign_after = _sign(before), _sign(after)
        if sign_before == sign_after:
            return
        spans = self._spans.setdefault(instrument, deque(maxlen=self.max_fills))
        if spans and spans[-1][1] is None:
            spans[-1][1] = x
        if sign_after:
            spans.append([x, None, "LONG" if sign_after > 0 else "SHORT"])

    def _upsert_order(self, x: dict[str, Any], status: str | None) -> None:
        """A resting order with a price is drawn; a final one goes."""
        coid = x.get("client_order_id")
        if coid is None:
            return
        if status in api.FINAL_ORDER_STATUSES or x.get("price") is None:
            if self._orders.pop(coid, None) is not None:
                self._dirty.add("orders")
            return
        side = (x.get("side") or "").upper()
        self._orders[coid] = {
            "instrument": x.get("instrument"), "price": float(x["price"]), "side": side,
            "type": x.get("order_type"), "qty": x.get("quantity"), "status": status,
            "color": SIDE_COLORS.get(side, "#57606a"), "client_order_id": coid,
        }
        self._dirty.add("orders")

    # -- bars ----------------------------------------------------------------------------------
    def poll(self) -> None:
        """Read the bars stored since the last poll (the bar types too, now and then)."""
        now = time.monotonic()
        if not self.bar_types or now - self._types_at >= TYPES_EVERY_S:
            self._types_at = now
            types = api.bar_types(self.session_id, ledger=self.ledger)
            if types != self.bar_types:
                self.bar_types = types
                self.bar_select.options = types
                self.bar_select.visible = len(types) > 1
                if self.bar_type is None and types:
                    self.show(types[0])
                    self.bar_select.value = types[0]
        if self.bar_type is None:
            return
        rows = api.bars_tail(self.session_id, self.bar_type, after_ts=self._last_ts, limit=self.candles,
                             ledger=self.ledger)
        if rows:
            if len(rows) >= self.candles:  # a whole window arrived at once: it replaces the old one
                self._new_bars, self._reset_candles = [], True
            self._new_bars += rows
            self._last_ts = rows[-1][0]
            self._dirty.add("candles")

    def show(self, bar_type: str | None) -> None:
        """Show another bar type (the select's callback): its candles, its instrument's fills."""
        if bar_type == self.bar_type or bar_type is None:
            return
        self.bar_type = bar_type
        self._last_ts, self._new_bars, self._reset_candles = None, [], True
        self._width = bar_ms(bar_type) or 0.0
        self.figure.title.text = f"{bar_type} (US/Eastern time)"
        self._dirty |= {"candles", "fills", "orders", "position"}
        self._shown_fills = ()

    def _picked(self, bar_type: str | None) -> None:
        """The select's callback: show that bar type now."""
        if bar_type != self.bar_type:
            self.show(bar_type)
            self.poll()
            self.render()

    def _candle_rows(self, bars: list[tuple]) -> dict[str, list]:
        if not self._width and len(bars) > 1:  # not a time bar: the typical gap
            gaps = sorted(b[0] - a[0] for a, b in zip(bars, bars[1:], strict=False))
            self._width = max(gaps[len(gaps) // 2] / 1e6, 1.0)
        half = (self._width or 60_000.0) / 2
        out = _empty(CANDLE_COLUMNS)
        for ts, o, h, lo, c, v in bars:
            x = eastern_ms(ts)
            for col, value in zip(CANDLE_COLUMNS, (x - half, x, o, h, lo, c, max(o, c), min(o, c), v,
                                                   UP if c >= o else DOWN), strict=True):
                out[col].append(value)
        return out

    # -- output --------------------------------------------------------------------------------
    def render(self) -> None:
        """Push what changed since the last render to the sources (and to a notebook's view)."""
        dirty, self._dirty = self._dirty, set()
        if not dirty:
            return
        if "candles" in dirty:
            rows = self._candle_rows(self._new_bars)
            self._new_bars = []
            self.bodies.glyph.width = (self._width or 60_000.0) * 0.7
            if self._reset_candles:
                self._reset_candles = False
                self.candles_source.data = rows
            elif rows["x"]:
                self.candles_source.stream(rows, rollover=self.candles)
            dirty.add("position")  # the open span reaches the newest candle
        start, end = self._window()
        self._render_fills(start, force="fills" in dirty)
        if "orders" in dirty:
            rows = [o for o in self._orders.values() if o["instrument"] == self.instrument]
            self.orders_source.data = {c: [o[c] for o in rows] for c in ORDER_COLUMNS}
        if "position" in dirty:
            self._render_position(start, end)
        if self.pane._models:  # a notebook sends in-place Bokeh changes only when pushed
            push_notebook(self.pane)

    def _window(self) -> tuple[float, float]:
        """The candles' first left edge and last right edge (ms); (-inf, last fill) without candles."""
        xs = self.candles_source.data["x"]
        half = (self._width or 60_000.0) / 2
        if len(xs):
            return xs[0] - half, xs[-1] + half
        fills = self._fills.get(self.instrument or "", ())
        return -math.inf, (fills[-1]["x"] if fills else -math.inf)

    def _render_fills(self, start: float, *, force: bool) -> None:
        """The instrument's fills inside the window, when they changed or the window moved past one."""
        if not force and (not self._shown_fills or self._shown_fills[0] >= start):
            return
        rows = [f for f in self._fills.get(self.instrument or "", ()) if f["x"] >= start]
        shown = tuple(f["x"] for f in rows)
        if shown == self._shown_fills and not force:
            return
        self._shown_fills = shown
        self.fills_source.data = {c: [f[c] for f in rows] for c in FILL_COLUMNS}

    def _render_position(self, start: float, end: float) -> None:
        """The instrument's position spans reaching into the window; the open one up to its end."""
        spans = self._spans.get(self.instrument or "", deque())
        while spans and spans[0][1] is not None and spans[0][1] < start:
            spans.popleft()  # left the window for good
        out = _empty(POSITION_COLUMNS)
        for x0, x1, side in spans:
            x1 = end if x1 is None else x1
            if x1 <= x0:
                continue
            for col, value in zip(POSITION_COLUMNS, (max(x0, start), x1, side, LONG if side == "LONG" else SHORT),
                                    strict=True):
                out[col].append(value)
        if out != dict(self.position_source.data):
            self.position_source.data = out


def _only(side: str) -> CDSView:
    """A view of the rows of one side (one legend entry per side, one source)."""
    return CDSView(filter=GroupFilter(column_name="side", group=side))


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)
