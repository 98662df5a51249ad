"""The Sessions tab: every session newest first, its sleeves and round trips, controls, delete / clear all.

Each row says where the session runs ("process": ``detached · pid N`` for one handed to the
supervisor, ``this process``, ``pid N``) beside its status. The selected session, while its
process runs it, takes Pause / Resume / Flatten / Kill / Stop (``widgets.session_controls``;
a session of another process, a detached one too, through the ledger's command queue).

Deleting is two steps: "Delete session" (or "Clear all") shows a red
"Confirm: delete session X and its N fills" button next to a Cancel. A session
whose process is alive (status starting/running/paused) is never deleted.
Times are US/Eastern. Everything is read and deleted through ``kernelext.api``.

Declared state (params): ``selected`` (drives the Delete button and the detail), ``pending`` and
``confirm_text`` (the armed confirmation), ``alert_text`` and ``alert_kind`` (the alert).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
import param

from kernelext import api
from kernelext.errors import Refused, one_line
from widgets.feed import eastern_str
from widgets.session_controls import SessionControls
from widgets.ui.post import Repeat, every
from widgets.where import process_marker

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

SESSION_COLUMNS = ["session_id", "label", "kind", "what", "start (ET)", "end (ET)", "status", "process", "fills",
                   "round trips", "realized P&L", "fees"]
SLEEVE_COLUMNS = ["sleeve", "trades", "wins", "losses", "win_rate", "profit_factor", "realized_pnl", "fees",
                  "max_drawdown"]
TRIP_COLUMNS = ["exit (ET)", "sleeve", "instrument", "direction", "qty", "entry_px", "exit_px", "net_pnl",
                "fees", "return_pct", "entry (ET)"]


def _r(value: Any, digits: int) -> float | None:
    """Round for display; None stays None."""
    return None if value is None else round(float(value), digits)


def _instrument(text: str | None) -> str:
    """``BTC/USD.KRAKEN`` -> ``BTC/USD``."""
    return (text or "").rsplit(".", 1)[0]


def _table(columns: list[str], **kw: Any) -> pn.widgets.Tabulator:
    """A read-only stretch-width Tabulator."""
    return pn.widgets.Tabulator(pd.DataFrame([], columns=columns), show_index=False, disabled=True,
                                layout="fit_data_table", sizing_mode="stretch_width", **kw)


class SessionsView(pn.viewable.Viewer):
    """History table + selected session's breakdown + two-step delete / clear all."""

    selected = param.String(default=None, allow_None=True, doc="the selected session's id")
    pending = param.Tuple(default=None, allow_None=True, length=2,
                          doc='the armed confirmation: ("delete", id) or ("clear", None)')
    confirm_text = param.String(default="", doc="what the Confirm button says it will delete")
    alert_text = param.String(default="", doc="the one-line alert ('' hides it)")
    alert_kind = param.Selector(default="info", objects=["info", "success", "warning", "danger"])

    def __init__(self, ledger: Ledger | None = None, *, trip_rows: int = 500, refresh_s: float = 5.0) -> None:
        """A view of ``ledger`` (default ``Ledger()``); round trips shown are the last ``trip_rows``."""
        super().__init__()
        self.ledger = api.open_ledger(ledger)
        self.trip_rows = trip_rows
        self.refresh_s = refresh_s
        self.rows: list[dict[str, Any]] = []
        self.processes: dict[str, dict[str, Any]] = {}  # id -> its status, pid, host, alive
        self._trips_cache: dict[tuple[str, int], int] = {}
        self._signature: Any = None
        self._callback: Repeat | None = None
        self._layout: pn.viewable.Viewable | None = None
        self.table = _table(SESSION_COLUMNS, selectable=1, height=320, css_classes=["paperlab-sessions"])
        self.sleeves_table = _table(SLEEVE_COLUMNS, height=160)
        self.trips_table = _table(TRIP_COLUMNS, height=260)
        self.detail = pn.pane.Markdown("Select a session to see its sleeves and round trips.")
        self.alert = pn.pane.Alert("", alert_type="info", visible=False, sizing_mode="stretch_width")
        self.refresh_button = pn.widgets.Button(label="Refresh", width=90)
        self.delete_button = pn.widgets.Button(label="Delete session", color="warning", disabled=True, width=140)
        self.clear_button = pn.widgets.Button(label="Clear all", color="warning", width=100)
        self.confirm_button = pn.widgets.Button(label="Confirm", color="danger", visible=False)
        self.cancel_button = pn.widgets.Button(label="Cancel", visible=False, width=90)
        self.controls = SessionControls(self.ledger, on_done=self._control_done)
        self.refresh_button.on_click(lambda _e: self.refresh())
        self.delete_button.on_click(lambda _e: self.ask_delete())
        self.clear_button.on_click(lambda _e: self.ask_clear())
        self.confirm_button.on_click(lambda _e: self.confirm())
        self.cancel_button.on_click(lambda _e: self.cancel())
        self.table.param.watch(self._on_selection, "selection")
        self.refresh()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.panel()

    def panel(self) -> pn.viewable.Viewable:
        """The layout (built once); re-reads the list when sessions start, stop or go."""
        if self._layout is None:
            self._layout = pn.Column(
                pn.Row(self.refresh_button, self.delete_button, self.clear_button, self.confirm_button,
                       self.cancel_button),
                self.alert, self.table, pn.Row(self.detail, self.controls),
                pn.Row(pn.Column("**Sleeves**", self.sleeves_table, sizing_mode="stretch_width"),
                       pn.Column("**Round trips** (newest first)", self.trips_table, sizing_mode="stretch_width"),
                       sizing_mode="stretch_width"),
                sizing_mode="stretch_width",
            )
        if self._callback is None and self.refresh_s:
            self._callback = every(int(self.refresh_s * 1000), self._tick)
        return self._layout

    # -- reading -------------------------------------------------------------------------------
    def _tick(self) -> None:
        """Reload when the set of sessions or a status changed (not on every fill)."""
        if self._current_signature() != self._signature:
            self.refresh()

    def _current_signature(self, processes: list[dict[str, Any]] | None = None) -> Any:
        """(id, status, pid) of every session: what a reload is worth doing for (a relaunch changes the pid)."""
        rows = api.session_processes(ledger=self.ledger) if processes is None else processes
        return tuple(sorted((r["id"], r["status"], r["pid"]) for r in rows))

    def refresh(self) -> None:
        """Reload the history (newest first), keeping the selection when the session is still there."""
        df = api.sessions(ledger=self.ledger)  # (marks sessions of dead processes crashed first)
        processes = api.session_processes(ledger=self.ledger)
        self._signature = self._current_signature(processes)
        self.processes = {r["id"]: r for r in processes}
        whats = self._whats()
        detached = api.detached_ids(ledger=self.ledger)
        rows = []
        for r in df.iter_rows(named=True):
            sid = r["session_id"]
            rows.append({
                "session_id": sid, "label": r["label"], "kind": r["kind"], "what": whats.get(sid, ""),
                "start (ET)": eastern_str(r["started_at_ns"]), "end (ET)": eastern_str(r["ended_at_ns"]),
                "status": r["status"], "process": process_marker(self.processes.get(sid), sid in detached),
                "fills": r["fills"], "round trips": self._trips(sid, r["fills"]),
                "realized P&L": _r(r["realized_pnl"], 2), "fees": _r(r["fees"], 2),
            })
        self.rows = rows
        self.table.value = pd.DataFrame(rows, columns=SESSION_COLUMNS)
        ids = [r["session_id"] for r in rows]
        if self.selected in ids:
            self.table.selection = [ids.index(self.selected)]
            self._show_detail(self.selected)
        else:
            self.table.selection = []
            self._select(None)

    def _whats(self) -> dict[str, str]:
        """session id -> "strategy on instrument" or "book of N"."""
        out: dict[str, list[str]] = {}
        for s in api.sleeves(ledger=self.ledger):
            out.setdefault(s["session_id"], []).append(f"{s['strategy_key']} on {_instrument(s['instrument'])}")
        return {sid: (v[0] if len(v) == 1 else f"book of {len(v)}") for sid, v in out.items()}

    def _trips(self, session_id: str, n_fills: int) -> int:
        """Closed round trips of a session (cached while its fill count is unchanged)."""
        key = (session_id, int(n_fills or 0))
        if key not in self._trips_cache:
            self._trips_cache[key] = api.frame("round_trips", session_id, ledger=self.ledger).height if n_fills else 0
        return self._trips_cache[key]

    # -- selection -----------------------------------------------------------------------------
    def select(self, session_id: str | None) -> None:
        """Select a session (as a click on its row would)."""
        ids = [r["session_id"] for r in self.rows]
        self.table.selection = [ids.index(session_id)] if session_id in ids else []

    def _on_selection(self, event: Any) -> None:
        index = event.new[0] if event.new else None
        self._select(self.rows[index]["session_id"] if index is not None and index < len(self.rows) else None)

    def _select(self, session_id: str | None) -> None:
        if session_id != self.selected:
            self.cancel()
        self.selected = session_id
        self._show_detail(session_id)

    @param.depends("selected", watch=True)
    def _selected_changed(self) -> None:
        self.delete_button.disabled = self.selected is None

    def _show_detail(self, session_id: str | None) -> None:
        """Per-sleeve performance and round trips of the selected session; the controls aim at it."""
        self.controls.target(session_id, bool((self.processes.get(session_id or "") or {}).get("alive")))
        if session_id is None:
            self.detail.object = "Select a session to see its sleeves and round trips."
            self.sleeves_table.value = pd.DataFrame([], columns=SLEEVE_COLUMNS)
            self.trips_table.value = pd.DataFrame([], columns=TRIP_COLUMNS)
            return
        row = self._row(session_id) or {}
        where = f" ({row['process']}, {row['status']})" if row.get("process") else f" ({row.get('status')})"
        self.detail.object = (f"**{html.escape(row.get('label') or '')}** `{session_id}` — "
                              f"{html.escape(row.get('what', ''))}{html.escape(where)}")
        self.sleeves_table.value = self._sleeve_frame(session_id)
        self.trips_table.value = self._trip_frame(session_id)

    def _sleeve_frame(self, session_id: str) -> pd.DataFrame:
        """performance(by="sleeve") of one session, rounded for display."""
        perf = api.frame("perf", session_id, by="sleeve", ledger=self.ledger)
        rows = [{c: (_r(r[c], 4) if isinstance(r[c], float) else r[c]) for c in SLEEVE_COLUMNS}
                for r in perf.iter_rows(named=True)]
        return pd.DataFrame(rows, columns=SLEEVE_COLUMNS)

    def _trip_frame(self, session_id: str) -> pd.DataFrame:
        """The last ``trip_rows`` round trips, newest first, times in US/Eastern."""
        trips = api.frame("round_trips", session_id, ledger=self.ledger).tail(self.trip_rows).reverse()
        rows = [
            {"exit (ET)": eastern_str(t["exit_ts_ns"]), "sleeve": t["sleeve"],
             "instrument": _instrument(t["instrument"]), "direction": t["direction"], "qty": _r(t["qty"], 8),
             "entry_px": _r(t["entry_px"], 6), "exit_px": _r(t["exit_px"], 6), "net_pnl": _r(t["net_pnl"], 2),
             "fees": _r(t["fees"], 4), "return_pct": _r(t["return_pct"], 3),
             "entry (ET)": eastern_str(t["entry_ts_ns"])}
            for t in trips.iter_rows(named=True)
        ]
        return pd.DataFrame(rows, columns=TRIP_COLUMNS)

    def _row(self, session_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["session_id"] == session_id), None)

    # -- controls ------------------------------------------------------------------------------
    def control(self, verb: str) -> Any:
        """Send ``verb`` to the selected session (as its button does); the worker's future, or None."""
        return self.controls.send(verb)

    def _control_done(self, verb: str, session_id: str, error: BaseException | None) -> None:
        """A control's outcome (on the document's loop): one line in the alert, the list re-read."""
        if error is None:
            self._say(f"{verb}: ok ({session_id})", "success")
        else:
            why = one_line(error)
            self._say(why if why.startswith(verb) else f"{verb} failed: {why}", "danger")
        self.refresh()

    # -- delete / clear ------------------------------------------------------------------------
    def _live_row(self, session_id: str) -> dict[str, Any] | None:
        """The session's current id/status/pid/host/alive from the ledger (None when gone)."""
        got = api.session_processes(session_id, ledger=self.ledger)
        return got[0] if got else None

    def ask_delete(self) -> None:
        """Step 1: refuse a running session, else show the confirmation button."""
        sid = self.selected
        if sid is None:
            return
        live = self._live_row(sid)
        if live is None:
            self._say(f"session {sid} is already gone", "warning")
            self.refresh()
            return
        if live["alive"]:
            self._say(f"session {sid} is still running ({live['status']}): stop or kill it before deleting it",
                      "danger")
            return
        n = api.fill_count(sid, ledger=self.ledger)
        label = (self._row(sid) or {}).get("label") or ""
        self._arm(("delete", sid), f"Confirm: delete session {label} ({sid}) and its {n} fills")

    def ask_clear(self) -> None:
        """Step 1 of Clear all: refuse while any session runs, else ask for confirmation."""
        rows = api.session_processes(ledger=self.ledger)
        running = [r["id"] for r in rows if r["alive"]]
        if running:
            self._say(f"{len(running)} session(s) running ({', '.join(running[:3])}): stop them before clearing",
                      "danger")
            return
        n_fills = api.fill_count(ledger=self.ledger)
        self._arm(("clear", None), f"Confirm: delete all {len(rows)} sessions and their {n_fills} fills")

    def _arm(self, pending: tuple[str, str | None], text: str) -> None:
        self.param.update(pending=pending, confirm_text=text)
        self._say("", "info")

    @param.depends("pending", "confirm_text", watch=True)
    def _pending_changed(self) -> None:
        self.confirm_button.label = self.confirm_text
        self.confirm_button.visible = self.cancel_button.visible = self.pending is not None

    def confirm(self) -> None:
        """Step 2: carry out the armed delete / clear (re-checking that nothing runs)."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        action, sid = pending
        if action == "delete" and sid is not None:
            live = self._live_row(sid)
            if live is not None and live["alive"]:
                self._say(f"session {sid} is still running ({live['status']}): not deleted", "danger")
                return
            n = api.fill_count(sid, ledger=self.ledger)
            try:
                api.delete_session(sid, ledger=self.ledger)
            except Refused as exc:
                self._say(one_line(exc), "danger")
                return
            self.selected = None
            self._say(f"deleted session {sid} and its {n} fills", "success")
        elif action == "clear":
            if any(r["alive"] for r in api.session_processes(ledger=self.ledger)):
                self._say("a session started meanwhile: nothing cleared", "danger")
                return
            n = api.clear_sessions(ledger=self.ledger)
            self.selected = None
            self._say(f"deleted all {n} sessions", "success")
        self._trips_cache.clear()
        self.refresh()

    def cancel(self) -> None:
        """Disarm the confirmation."""
        self.pending = None

    def _say(self, text: str, kind: str) -> None:
        """One-line alert (hidden when empty)."""
        self.param.update(alert_text=text, alert_kind=kind)

    @param.depends("alert_text", "alert_kind", watch=True)
    def _alert_changed(self) -> None:
        self.alert.alert_type = self.alert_kind
        self.alert.object = html.escape(self.alert_text)
        self.alert.visible = bool(self.alert_text)
