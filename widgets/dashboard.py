"""SessionDashboard: one session's live Panel view, in a notebook cell or a served app.

    import panel as pn
    from widgets.dashboard import SessionDashboard
    pn.extension()
    SessionDashboard(runner.session_id).panel()

Everything comes through the facade (``kernelext.api`` frames and ``widgets.live_feed.SessionFeed``):
the ledger for the history and for a session in another process, so the same view works there
and after a browser refresh; for a session running in this process its hub pushes each event as
it happens too, and wakes the view to show it at once (the ledger's copy is skipped). A periodic
callback (``refresh_ms``, short: it reads nothing while the ledger is unchanged) reads the ledger;
each refresh applies the whole batch at once. Tables change row by row (``widgets.ui.live_table``:
new rows streamed, changed cells patched, newest first on the page); the curves stream too; every
buffer is bounded. Controls run ``kernelext.api.control`` on a worker thread and are acknowledged
by the ``control.*`` event arriving through the feed. Times are US/Eastern.

A refresh has two parts: the feed's batch folded in and the new fills sent, then the rest (the
ledger's rows when it changed, other tables, cards, charts, sleeves, log); a served page or a
notebook gets new fills in a message of their own, the rest in a callback ``SETTLE_AFTER_S`` later
(the page shows the fill before it handles the rest). The Log tab is read while it is shown.

Threads: the refresh runs on the view's own loop only (a served document's, under its lock; a
notebook kernel's). The hub's wake-up comes on the session's node thread and only posts a refresh
to that loop (``widgets.ui.post.ui_caller``), at most one waiting at a time, at most one every
``WAKE_GAP_S``, and only for a fill or the session's state (``session.*``, ``control.*``, ``risk.*``,
``feed.*``); the rest shows with the periodic refresh.

Declared state (params): ``status``, ``session_row``, ``health_row``, ``inflight`` (the control
being sent) drive the header and buttons; ``alert_text`` drives the alert.

The price chart (``widgets.price_chart``: candles of the bars the strategies saw, fills, resting
orders, the position) is fed by the same refresh: the frames at load, the feed's ``order.*``
envelopes, and the bars stored since the previous poll.

Test hooks: ``refresh()`` (one poll + apply, no server needed), ``metrics``,
``counts``, ``status``, ``feed_badge``, ``alert_text``, ``buttons``, ``venue_chip``, ``price_chart``.
A session on a venue with a gateway (IB paper) also shows the venue's health chip in the
header (``widgets.venues``; the ledger's latest ``gateway_health`` row, read on the same poll).
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.plotting import figure
from panel.io.notebook import push_notebook

from kernelext import api, venues
from kernelext.errors import one_line
from widgets.feed import eastern_ms, eastern_str
from widgets.live_feed import SessionFeed
from widgets.price_chart import PriceChart
from widgets.ui import style
from widgets.ui.live_table import LiveTable
from widgets.ui.post import Repeat, UiCall, current_doc, every, ui_caller
from widgets.venues import chip

if TYPE_CHECKING:
    from kernelext.events import Event
    from kernelext.ledger import Ledger

log = logging.getLogger(__name__)

METRICS: dict[str, str] = {
    "equity": "Equity",
    "available": "Available",
    "unrealized_pnl": "Unrealized P&L",
    "realized_pnl": "Realized P&L",
    "exposure": "Net exposure",
}
CONTROL_BUTTONS: dict[str, str] = {"pause": "warning", "resume": "success", "flatten": "primary", "kill": "danger"}
FILL_COLUMNS = ["time (ET)", "sleeve", "instrument", "side", "qty", "price", "fee", "client_order_id", "trade_id"]
ORDER_COLUMNS = ["submitted (ET)", "sleeve", "instrument", "side", "type", "qty", "filled", "price", "status",
                 "reason", "client_order_id"]
POSITION_COLUMNS = ["sleeve", "instrument", "side", "qty", "avg_px_open", "realized_pnl", "unrealized_pnl",
                    "pnl", "opened (ET)", "closed (ET)", "position_id"]
EVENT_COLUMNS = ["time (ET)", "stage", "sleeve", "message"]
FILL_NUMBERS = ("qty", "price", "fee")
ORDER_NUMBERS = ("qty", "filled", "price")
POSITION_NUMBERS = ("qty", "avg_px_open", "realized_pnl", "unrealized_pnl", "pnl")
SLEEVE_COLUMNS = ["sleeve", "strategy", "instrument", "fills", "orders", "trades", "win_rate", "realized_pnl",
                  "fees"]
LOG_LINES = 200  # the Log tab's last lines of the session's own log
QUIET_STAGES = frozenset({"equity.update", "bar.received"})  # shown as the curve and cards, not in the feed
_ORDER_STATUS = {"order.submitted": "SUBMITTED", "order.accepted": "ACCEPTED", "order.denied": "DENIED",
                 "order.rejected": "REJECTED", "order.filled": "FILLED", "order.canceled": "CANCELED",
                 "order.expired": "EXPIRED"}
WAKE_GAP_S = 0.025  # refreshes woken by the hub are at least this far apart
WAKING_KINDS = frozenset({"session", "control", "risk", "feed"})  # with fills: what the hub wakes the view for
SETTLE_AFTER_S = 0.03  # new fills go out alone: the rest of their refresh follows this much later
OPEN_RANK = 1e15  # open positions sort above closed ones
_PNL_COLORS = [(0.0, "#c0392b"), (float("inf"), "#1e8449")]  # red below 0, green from 0
_STATUS_TONES: dict[str, style.Tone] = {"running": "ok", "paused": "warn", "error": "bad", "crashed": "bad",
                                        "deleted": "bad"}


def _r(value: Any, digits: int) -> float | None:
    """Round a number for display (None and non-numbers become None)."""
    try:
        return round(float(value), digits)
    except (TypeError, ValueError):
        return None


def account_text(ev: dict[str, Any]) -> str:
    """The account line under the cards: a cash account's balances in every asset, or a margin
    account's used and free margin and margin level (empty when the update has neither)."""
    parts = []
    if ev.get("balances"):
        parts.append("Balances " + " · ".join(f"{code} {amount:,.8g}" for code, amount in sorted(ev["balances"].items())))
    if ev.get("margin_used") is not None:
        level = ev.get("margin_level")
        parts.append(f"Margin used {ev['margin_used']:,.2f} · free margin {ev.get('margin_free', 0.0):,.2f}"
                     f" · margin level {'-' if level is None else f'{level:,.1f}%'}")
    return " &nbsp;|&nbsp; ".join(parts)


def fill_row(x: dict[str, Any], ts: int) -> dict[str, Any]:
    """A fills-table row from an ``order.filled`` envelope."""
    return {
        "time (ET)": eastern_str(ts), "sleeve": x.get("sleeve"), "instrument": x.get("instrument"),
        "side": x.get("side"), "qty": _r(x.get("last_qty"), 8), "price": _r(x.get("last_px"), 6),
        "fee": _r(x.get("commission"), 4), "client_order_id": x.get("client_order_id"),
        "trade_id": x.get("trade_id"),
    }


def order_row(x: dict[str, Any], ts: int, stage: str) -> dict[str, Any]:
    """An orders-table row from an ``order.*`` envelope."""
    return {
        "submitted (ET)": eastern_str(ts), "sleeve": x.get("sleeve"), "instrument": x.get("instrument"),
        "side": x.get("side"), "type": x.get("order_type"), "qty": _r(x.get("quantity"), 8),
        "filled": _r(x.get("filled_qty"), 8), "price": _r(x.get("price"), 6), "status": x.get("status") or _ORDER_STATUS.get(stage),
        "reason": x.get("reason"), "client_order_id": x.get("client_order_id"),
    }


def position_row(x: dict[str, Any], opened_ts: int | None, closed_ts: int | None) -> dict[str, Any]:
    """A positions-table row (per-position P&L) from a ``position.*`` envelope or positions frame row."""
    realized, unrealized = _r(x.get("realized_pnl"), 2), _r(x.get("unrealized_pnl"), 2)
    return {
        "sleeve": x.get("sleeve"), "instrument": x.get("instrument"), "side": x.get("side"),
        "qty": _r(x.get("quantity"), 8), "avg_px_open": _r(x.get("avg_px_open"), 6),
        "realized_pnl": realized, "unrealized_pnl": unrealized,
        "pnl": round((realized or 0.0) + (unrealized or 0.0), 2),
        "opened (ET)": eastern_str(opened_ts), "closed (ET)": eastern_str(closed_ts),
        "position_id": x.get("position_id"),
    }


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows (already newest first) -> the DataFrame a Tabulator shows."""
    return pd.DataFrame(rows, columns=columns)


def _waking(stage: str) -> bool:
    """A fill, or an event of the session's state: worth a refresh of its own."""
    return stage == "order.filled" or stage.split(".", 1)[0] in WAKING_KINDS


def _position_rank(row: dict[str, Any]) -> float:
    """Open positions first, then the latest updated first."""
    return (0.0 if row["closed (ET)"] else OPEN_RANK) + row["_updated"]


def _table(columns: list[str], height: int = 280, css: str = "") -> pn.widgets.Tabulator:
    """A read-only, bounded, stretch-width Tabulator (``css``: a stable class for browser tests)."""
    return pn.widgets.Tabulator(
        _frame([], columns), show_index=False, disabled=True, layout="fit_data_table",
        height=height, sizing_mode="stretch_width", css_classes=[css] if css else [],
    )


class SessionDashboard(pn.viewable.Viewer):
    """Header, account cards, price chart, equity curve, positions/orders/fills/sleeves/events tables, log,
    controls."""

    status = param.String(default="unknown", doc="the session's status ('deleted' once it is gone)")
    session_row = param.Dict(default={}, doc="label, kind, venue, feed, status, last_error")
    health_row = param.Parameter(default=None, doc="the latest health row of the session's venue's gateway")
    inflight = param.String(default=None, allow_None=True, doc="the control being sent (buttons wait)")
    alert_text = param.String(default="", doc="the one-line alert ('' hides it)")

    def __init__(
        self,
        session_id: str,
        ledger: Ledger | None = None,
        *,
        controls: bool = True,
        refresh_ms: int = 50,
        table_rows: int = 500,
        feed_rows: int = 300,
        curve_points: int = 5000,
        sleeve_refresh_s: float = 3.0,
        candles: int = 500,
    ) -> None:
        """A dashboard of ``session_id`` (an exact id) read from ``ledger`` (default ``Ledger()``)."""
        super().__init__()
        self.session_id = session_id
        self.ledger = api.open_ledger(ledger)
        self.controls = controls
        self.refresh_ms = refresh_ms
        self.table_rows, self.feed_rows, self.curve_points = table_rows, feed_rows, curve_points
        self.sleeve_refresh_s = sleeve_refresh_s
        self.feed = SessionFeed(session_id, self.ledger, history_per_class=curve_points, wake=self._on_push)
        self.metrics: dict[str, float | None] = dict.fromkeys(METRICS)
        self.currency: str | None = None
        self._loaded = False
        self._drained = False
        self._fill_keys: OrderedDict[tuple, None] = OrderedDict()  # the fills shown (trade_id, client_order_id)
        self._updates = 0  # position updates counted (their rank)
        self._version: tuple[int, ...] | None = None  # the ledger's at the last refresh
        self._sleeve_rows_shown: list[dict[str, Any]] | None = None
        self._post: UiCall | None = None  # posts a refresh to the view's loop (from any thread)
        self._post_settle: UiCall | None = None  # posts the rest of a refresh whose fills went first
        self._wake_pending = False
        self._settle_pending = False
        self._ledger_changed = False  # seen by a refresh's first part, for its rest
        self._woken_at = 0.0  # the last refresh the hub woke
        self._dirty: set[str] = set()
        self._sleeves_due = True
        self._sleeves_at = 0.0
        self._log_at = 0.0
        self._lock = threading.Lock()
        self._control_done: list[tuple[str, str | None]] = []
        self._callback: Repeat | None = None
        self._served = False  # on a served page (stopped when it ends)
        self._layout: pn.viewable.Viewable | None = None
        self._tabs: pn.Tabs | None = None
        self.price_chart = PriceChart(session_id, self.ledger, candles=candles)  # candles, fills, orders, position
        self._build_widgets()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel()

    # -- widgets -------------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        """Create every widget once (tests read them without a layout or server)."""
        self.header = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=style.stylesheets())
        self.alert = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width")
        self.cards = {
            key: pn.indicators.Number(
                label=title, value=None, format="{value:,.2f}", font_size="20pt", title_size="10pt",
                colors=_PNL_COLORS if key in ("unrealized_pnl", "realized_pnl") else None,
                css_classes=["paperlab-metric"], stylesheets=style.stylesheets(),
            )
            for key, title in METRICS.items()
        }
        self.account_line = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["paperlab-account"])
        self.source = ColumnDataSource({"x": [], "equity": []}, name="paperlab-equity")
        fig = figure(x_axis_type="datetime", height=300, sizing_mode="stretch_width",
                     title="Equity (US/Eastern time)", tools="pan,wheel_zoom,box_zoom,reset,save")
        fig.line("x", "equity", source=self.source, line_width=1.5)
        fig.add_tools(HoverTool(tooltips=[("time (ET)", "@x{%F %T}"), ("equity", "@equity{0,0.00}")],
                                formatters={"@x": "datetime"}, mode="vline"))
        fig.yaxis.axis_label = "equity"
        self.figure = fig
        self.equity_pane = pn.pane.Bokeh(fig, sizing_mode="stretch_width")
        n = self.table_rows
        self.fills_table = LiveTable(FILL_COLUMNS, max_rows=n, numbers=FILL_NUMBERS, css="paperlab-fills")
        self.orders_table = LiveTable(ORDER_COLUMNS, max_rows=n, key="client_order_id", numbers=ORDER_NUMBERS,
                                      css="paperlab-orders")
        self.positions_table = LiveTable(POSITION_COLUMNS, max_rows=n, key="position_id", rank=_position_rank,
                                         numbers=POSITION_NUMBERS, css="paperlab-positions")
        self.sleeves_table = _table(SLEEVE_COLUMNS, height=180)
        self.events_table = LiveTable(EVENT_COLUMNS, max_rows=self.feed_rows, height=300, css="paperlab-events")
        self.log_pane = pn.pane.Str("", height=280, sizing_mode="stretch_width", css_classes=["paperlab-log"],
                                    styles={"overflow": "auto", "font-size": "11px"})
        self.buttons: dict[str, pn.widgets.Button] = {}
        if self.controls:
            for command, kind in CONTROL_BUTTONS.items():
                button = pn.widgets.Button(label=command.capitalize(), color=kind, width=90,
                                           css_classes=[f"paperlab-{command}"])
                button.on_click(lambda _e, c=command: self._on_control(c))
                self.buttons[command] = button

    def panel(self) -> pn.viewable.Viewable:
        """The one layout (built once); loads the history and starts the periodic refresh."""
        if self._layout is None:
            if not self._loaded:
                self.refresh()
            tables = pn.Tabs(
                ("Positions", self.positions_table), ("Orders", self.orders_table),
                ("Fills", self.fills_table), ("Sleeves", self.sleeves_table), ("Log", self.log_pane),
                sizing_mode="stretch_width",
            )
            self._tabs = tables
            tables.param.watch(self._on_tab, "active")
            parts: list[Any] = [self.header]
            if self.buttons:
                parts.append(pn.Row(*self.buttons.values()))
            parts += [
                self.alert,
                pn.FlexBox(*self.cards.values()),
                self.account_line,
                self.price_chart.panel(),
                pn.Row(self.equity_pane,
                       pn.Column("**Events**", self.events_table, width=520), sizing_mode="stretch_width"),
                tables,
            ]
            self._layout = pn.Column(*parts, sizing_mode="stretch_width")
        self.start()
        return self._layout

    def start(self) -> None:
        """Start the periodic refresh and the hub's wake-ups (once); on a served page once a browser
        has loaded it (a request that never opens the page's websocket costs nothing), until it ends."""
        doc = current_doc()
        if doc is not None and doc.session_context is not None:
            if not self._served:
                self._served = True
                doc.on_session_destroyed(lambda _context: self.stop())
            pn.state.onload(self._begin)  # at once when loaded already
        else:
            self._begin()

    def _begin(self) -> None:
        if self._callback is None:
            self._callback = every(self.refresh_ms, self._tick)
            self._post, self._post_settle = ui_caller(self._woken), ui_caller(self._settle_posted)
            doc = current_doc()
            served = doc is not None and doc.session_context is not None
            for table in (self.fills_table, self.orders_table, self.positions_table, self.events_table):
                table.incremental = served  # a notebook's comm mishandles streams (widgets.ui.live_table)

    def stop(self) -> None:
        """Stop the periodic refresh and the hub's wake-ups (the layout stays as it is)."""
        self._post = self._post_settle = None
        self.feed.close()
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    # -- test hooks ----------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        """Rows the user sees per table, and points in the equity curve."""
        return {
            "fills": len(self.fills_table), "orders": len(self.orders_table),
            "positions": len(self.positions_table), "sleeves": len(self.sleeves_table.value),
            "events": len(self.events_table), "equity_points": len(self.source.data["x"]),
        }

    @property
    def feed_badge(self) -> str:
        """The feed's badge as its venue names it: "REPLAY", "LIVE FEED", "IB PAPER", ..."""
        return venues.badge(self.session_row.get("feed")).text

    @property
    def _chip(self) -> Any:
        """The health chip of the session's venue (None: the venue has none)."""
        return chip(venues.find(self.session_row.get("venue")))

    @property
    def venue_chip(self) -> str:
        """The header's health chip text ('IB gateway: ok', ...); '' for venues without one."""
        return self._chip.text(self.health_row) if self._chip is not None else ""

    @property
    def event_stages(self) -> list[str]:
        """Stages in the event feed, newest first."""
        return list(self.events_table.value["stage"])

    # -- refresh -------------------------------------------------------------------------------
    def _tick(self) -> None:
        """A refresh on the view's loop (periodic or woken): new fills first, sent on their own when
        the rest can follow in a callback of its own; an error is said in the alert."""
        try:
            if self._take() and self._post_settle is not None:
                if not self._settle_pending:
                    self._settle_pending = True
                    self._post_settle.later(SETTLE_AFTER_S)
            else:
                self._settle()
        except Exception as exc:  # noqa: BLE001  (a bad tick must not stop the next one)
            log.exception("dashboard refresh failed")
            self._show_alert(f"refresh failed: {one_line(exc)}")

    def _on_push(self, event: Event) -> None:
        """The hub has an event (the session's node thread): for a fill or a change of the session's
        state, post one refresh to the view's loop (the periodic refresh shows the rest soon enough)."""
        post = self._post
        if post is None or self._wake_pending or not _waking(event.stage):
            return
        self._wake_pending = True
        try:
            post.soon()
        except Exception:  # noqa: BLE001  (the loop is gone: the periodic refresh, if any, goes on)
            log.debug("dashboard wake-up not posted", exc_info=True)
            self._post = None

    def _woken(self) -> None:
        """A posted refresh (the view's loop); within ``WAKE_GAP_S`` of the last one it waits out the
        rest (a flood of events is shown in batches, not one refresh each)."""
        post = self._post
        if post is None or not self._wake_pending:  # stopped, or a refresh took it meanwhile
            return
        wait = WAKE_GAP_S - (time.monotonic() - self._woken_at)
        if wait > 0.002:
            post.later(wait)
        else:
            self._woken_at = time.monotonic()
            self._tick()

    def _settle_posted(self) -> None:
        """The rest of a refresh whose fills went out first (the view's loop)."""
        if self._settle_pending:
            try:
                self._settle()
            except Exception as exc:  # noqa: BLE001
                log.exception("dashboard refresh failed")
                self._show_alert(f"refresh failed: {one_line(exc)}")

    def refresh(self) -> None:
        """One poll of the feed and one batched apply of everything that changed; the ledger's rows
        (status, health, bars) are read only when the ledger changed, before the feed (a status that
        says the session ended comes with everything it stored)."""
        self._ledger_changed |= self._read_ledger()
        self._take()
        self._settle()

    def _take(self) -> bool:
        """Poll the feed, fold the batch in and send the new fills (what a user waits for); True when
        there were some."""
        self._wake_pending = False  # before the hub is drained: a later event posts again
        if not self._loaded:
            self._ledger_changed |= self._read_ledger()
        batch = [] if self._drained else self.feed.poll()
        if self._loaded and self.feed.idle and not self.feed.behind and self.status not in api.ACTIVE_STATUSES:
            self._drained = True  # an ended session's feed is read to the end: poll the status only
            self.feed.close()
        if not self._loaded:
            self._apply_events(batch, tables=False)
            self._load_tables()
            self._loaded = True
        else:
            self._apply_events(batch, tables=True)
        return self.fills_table.flush()

    def _settle(self) -> None:
        """Everything else: the ledger's rows when it changed, sleeves, log, controls, and the render."""
        self._settle_pending = False
        changed = self._read_ledger() or self._ledger_changed  # the status a later poll goes by
        self._ledger_changed = False
        if changed and not self._drained and self.status != "deleted":
            self.price_chart.poll()
        self._refresh_sleeves()
        self._refresh_log()
        self._finish_controls()
        self._render()

    def _read_ledger(self) -> bool:
        """The status and health rows, when the ledger changed since the last read; True when it did."""
        version = api.ledger_version(ledger=self.ledger)
        if version == self._version:
            return False
        self._version = version
        self._read_status()
        self._read_health()
        return True

    def _read_status(self) -> None:
        """The session row's status/label/feed/venue (a deleted session says so)."""
        row = api.session_row(self.session_id, ledger=self.ledger)
        if row is None:
            self.status = "deleted"
            return
        if row["status"] != self.status and self._loaded and row["status"] not in api.ACTIVE_STATUSES:
            self._sleeves_due, self._sleeves_at = True, 0.0  # final numbers now, not in a few seconds
        self.param.update(session_row=row, status=row["status"])

    def _read_health(self) -> None:
        """The latest health row of the session's venue (header chip) when it changed."""
        if self._chip is None:
            return
        row = api.gateway_health(self.session_row["venue"], ledger=self.ledger)
        if row != self.health_row:
            self.health_row = row

    @param.depends("status", "session_row", "health_row", "inflight", watch=True)
    def _header_changed(self) -> None:
        self._dirty.add("header")

    def _load_tables(self) -> None:
        """Fills, orders and positions from frames (the last ``table_rows`` of each)."""
        if self.status == "deleted":
            return
        sid, led, n = self.session_id, self.ledger, self.table_rows
        fills, orders = api.frame("fills", sid, ledger=led), api.frame("orders", sid, ledger=led)
        self.price_chart.load(fills, orders)
        shown = []
        for r in fills.tail(n).iter_rows(named=True):
            x = {**r, "last_qty": r["qty"], "last_px": r["price"], "commission": r["fee"]}
            if self._new_fill(x):
                shown.append(fill_row(x, r["ts_ns"]))
        self.fills_table.load(shown)
        self.orders_table.load([order_row(r, r["ts_submitted_ns"], "") for r in orders.tail(n).iter_rows(named=True)])
        positions = []
        for r in api.frame("positions", sid, ledger=led).tail(n).iter_rows(named=True):
            self._updates += 1
            positions.append({**position_row(r, r["opened_ts_ns"], r["closed_ts_ns"]), "_updated": self._updates})
        self.positions_table.load(positions)

    def _apply_events(self, batch: list[dict[str, Any]], *, tables: bool) -> None:
        """Fold a batch into metrics, curve, event feed and (after the load) the tables."""
        xs: list[float] = []
        ys: list[float] = []
        patched = False
        for ev in batch:
            stage, ts = ev["stage"], ev["ts"]
            if stage == "equity.update":
                self._take_equity(ev)
                if ev.get("equity") is not None:
                    patched |= self._curve_point(xs, ys, eastern_ms(ts), float(ev["equity"]))
                continue
            if stage not in QUIET_STAGES:
                self.events_table.put({"time (ET)": eastern_str(ts), "stage": stage,
                                       "sleeve": ev.get("sleeve"), "message": ev.get("message")})
            if stage.startswith(("order.", "position.")):
                self._sleeves_due = True
            if not tables:
                continue
            if stage.startswith("order."):
                self.price_chart.take(ev)
                self._upsert_order(ev, stage, ts)
                if stage == "order.filled":
                    self._add_fill(ev, ts)
            elif stage.startswith("position."):
                self._upsert_position(ev, stage, ts)
        if xs:
            self.source.stream({"x": xs, "equity": ys}, rollover=self.curve_points)
        if (xs or patched) and self.equity_pane._models:  # a notebook sends in-place Bokeh changes only when pushed
            push_notebook(self.equity_pane)

    def _curve_point(self, xs: list[float], ys: list[float], x: float, y: float) -> bool:
        """Add a point to the batch for the curve. A ts marked again (a fill after its bar) replaces its
        point, as in ``frames.equity``: the curve is the account after everything at each ts. True
        when the point shown last was patched."""
        if xs:
            if xs[-1] == x:
                ys[-1] = y
                return False
        else:
            shown = self.source.data["x"]
            if len(shown) and shown[-1] == x:
                self.source.patch({"equity": [(len(shown) - 1, y)]})
                return True
        xs.append(x)
        ys.append(y)
        return False

    def _take_equity(self, ev: dict[str, Any]) -> None:
        """The latest account numbers."""
        for key in METRICS:
            if ev.get(key) is not None:
                self.metrics[key] = float(ev[key])
        self.currency = ev.get("currency") or self.currency
        line = account_text(ev)
        if line:
            self.account_line.object = line
        self._dirty.add("metrics")

    def _new_fill(self, x: dict[str, Any]) -> bool:
        """True the first time a fill comes (keyed like the ledger: trade_id + client_order_id); the keys
        of the last ``table_rows`` fills are kept."""
        key = (x.get("trade_id"), x.get("client_order_id"))
        if key in self._fill_keys:
            return False
        self._fill_keys[key] = None
        while len(self._fill_keys) > self.table_rows:
            self._fill_keys.popitem(last=False)
        return True

    def _add_fill(self, x: dict[str, Any], ts: int) -> None:
        """A new fill's row, once."""
        if self._new_fill(x):
            self.fills_table.put(fill_row(x, ts))

    def _upsert_order(self, ev: dict[str, Any], stage: str, ts: int) -> None:
        """New order row, or update its status (keeping its submission time and place)."""
        coid = ev.get("client_order_id")
        if coid is None:
            return
        row = order_row(ev, ts, stage)
        old = self.orders_table.get(coid)
        if old is not None:
            row = {**old, **{k: v for k, v in row.items() if v is not None and k != "submitted (ET)"}}
        self.orders_table.put(row)

    def _upsert_position(self, ev: dict[str, Any], stage: str, ts: int) -> None:
        """A position's latest state and P&L (it moves to the top of its group)."""
        pid = ev.get("position_id")
        if pid is None:
            return
        old = self.positions_table.get(pid)
        opened = ev.get("ts_opened") or (ts if stage == "position.opened" else None)
        closed = (ev.get("ts_closed") or ts) if stage == "position.closed" else None
        row = position_row(ev, opened, closed)
        if old is not None and not opened:
            row["opened (ET)"] = old["opened (ET)"]
        self._updates += 1
        self.positions_table.put({**row, "_updated": self._updates})

    def _refresh_sleeves(self) -> None:
        """Per-sleeve fills, orders and P&L from frames, at most every ``sleeve_refresh_s``."""
        now = time.monotonic()
        if not self._sleeves_due or (self._sleeves_at and now - self._sleeves_at < self.sleeve_refresh_s):
            return
        self._sleeves_due, self._sleeves_at = False, now
        if self.status == "deleted":
            return
        rows = self._sleeve_rows()
        if rows != self._sleeve_rows_shown:  # a handful of rows: replaced, when they changed
            self._sleeve_rows_shown = rows
            self.sleeves_table.value = _frame(rows, SLEEVE_COLUMNS)

    def _on_tab(self, event: Any) -> None:
        """The Log tab opened: its lines now."""
        if self._tabs is not None and event.new == len(self._tabs) - 1:
            self._log_at = 0.0
            self._refresh_log()

    def _refresh_log(self) -> None:
        """The session's last log lines (``api.logs``), at most every ``sleeve_refresh_s``, while the Log
        tab is shown (or there is no layout: a test)."""
        now = time.monotonic()
        if self.status == "deleted" or (self._log_at and now - self._log_at < self.sleeve_refresh_s):
            return
        if self._tabs is not None and self._tabs.active != len(self._tabs) - 1:
            return
        self._log_at = now
        try:
            self.log_pane.object = "\n".join(api.logs(self.session_id, lines=LOG_LINES, ledger=self.ledger))
        except Exception as exc:  # noqa: BLE001  (a log on another host: say so in the tab)
            self.log_pane.object = one_line(exc)

    def _sleeve_rows(self) -> list[dict[str, Any]]:
        """One row per sleeve of the session."""
        sid, led = self.session_id, self.ledger
        perf = {r["sleeve"]: r for r in api.frame("perf", sid, by="sleeve", ledger=led).iter_rows(named=True)}
        fills = api.counts_by_sleeve(sid, "fills", ledger=led)
        orders = api.counts_by_sleeve(sid, "orders", ledger=led)
        rows = []
        for sleeve in api.sleeves(sid, ledger=led):
            name, strategy, instrument = sleeve["sleeve"], sleeve["strategy_key"], sleeve["instrument"]
            p = perf.get(name, {})
            rows.append({
                "sleeve": name, "strategy": strategy, "instrument": instrument,
                "fills": fills.get(name, 0), "orders": orders.get(name, 0), "trades": p.get("trades", 0),
                "win_rate": _r(p.get("win_rate"), 3), "realized_pnl": _r(p.get("realized_pnl"), 2) or 0.0,
                "fees": _r(p.get("fees"), 2) or 0.0,
            })
        return rows

    def _render(self) -> None:
        """Push what changed to the widgets, once per refresh."""
        dirty, self._dirty = self._dirty, set()
        if "header" in dirty or not self.header.object:
            self.header.object = self._header_html()
            for button in self.buttons.values():
                button.disabled = self.inflight is not None or self.status not in api.ACTIVE_STATUSES
        if "metrics" in dirty:
            for key, card in self.cards.items():
                card.value = self.metrics[key]
        for table in (self.fills_table, self.orders_table, self.positions_table, self.events_table):
            table.flush()  # the fills first (already sent by a refresh's first part, when there were any)
        self.price_chart.render()

    def _header_html(self) -> str:
        """Label, id, status, the feed's badge (REPLAY / LIVE FEED / ...), venue, its health chip."""
        row = self.session_row
        place = venues.find(row.get("venue"))
        feed_tone: style.Tone = ("bad" if place is not None and place.real_money  # REAL MONEY in red
                                 else "warn" if venues.badge(row.get("feed")).offline else "ok")
        status = style.badge(self.status.upper(), _STATUS_TONES.get(self.status, "muted"))
        error = " " + style.span(row["last_error"], "paperlab-text-bad") if row.get("last_error") else ""
        chip = self._chip.html(self.health_row) if self._chip is not None else ""
        venue = style.span(f"venue: {row.get('venue') or '?'}", "paperlab-venue-name")
        return (
            f'<div class="paperlab-header"><b>{html.escape(row.get("label") or "")}</b>'
            f' <code>{html.escape(self.session_id)}</code>'
            f'{status}{style.badge(self.feed_badge, feed_tone)} {venue}{chip}{error}</div>'
        )

    # -- controls ------------------------------------------------------------------------------
    def _on_control(self, command: str) -> None:
        """Button handler: send ``command`` on a worker thread; never blocks the UI."""
        if self.inflight is not None:
            return
        self.inflight = command
        for button in self.buttons.values():
            button.disabled = True
        threading.Thread(target=self._send, args=(command,), name=f"paperlab-ctl-{command}", daemon=True).start()

    def _send(self, command: str) -> None:
        """Worker: ``control.send``; the result is applied by the next refresh."""
        error: str | None = None
        try:
            api.control(self.session_id, command, ledger=self.ledger)
        except Exception as exc:  # noqa: BLE001  (shown to the user, one line)
            error = one_line(exc)
        finally:
            self.ledger.close_thread()
        with self._lock:
            self._control_done.append((command, error))

    def _finish_controls(self) -> None:
        """Apply finished controls: errors in the alert, buttons enabled again."""
        with self._lock:
            done, self._control_done = self._control_done, []
        if not done:
            return
        self.inflight = None
        errors = [f"{cmd} failed: {err}" for cmd, err in done if err]
        if errors:
            self._show_alert(errors[-1])
        else:
            self._show_alert("")

    def _show_alert(self, text: str) -> None:
        """One-line alert (hidden when empty)."""
        self.alert_text = text

    @param.depends("alert_text", watch=True)
    def _alert_changed(self) -> None:
        self.alert.object = html.escape(self.alert_text)
        self.alert.visible = bool(self.alert_text)
