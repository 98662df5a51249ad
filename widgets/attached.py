"""A session that runs in another process, in ipywidgets: what the start card shows after a detached start.

What ``%paper attach SESSION`` tells of a session of another process, live: its status line (feed
badge, label, id, status, ``detached · pid N``, last error), its numbers (bars, orders, fills, open
orders, equity, P&L: ``api.status_report``), Pause/Resume/Flatten/Kill (``api.control``: through
the ledger's command queue) and its event feed (``widgets.feed.LedgerFeed``). Everything is read
from the ledger through the facade, on ticks of the kernel's loop; closing the view, or the
notebook, leaves the session running. (Its Panel dashboard is ``%paper dashboard --session ID``:
a Panel view does not render inside a widget shown from a callback.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from kernelext import api, venues
from kernelext.events import CONTROL_VERBS, now_ns
from widgets.feed import LedgerFeed, eastern_str
from widgets.startform import error_parts
from widgets.ui import style
from widgets.ui.kernel import LoopBridge
from widgets.where import process_marker

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

__all__ = ["AttachedCard"]

log = logging.getLogger(__name__)

TICK_S = 1.0
FEED_LINES = 200
QUIET_STAGES = frozenset({"bar.received", "equity.update", "equity.batch"})  # shown as numbers, not lines
CONTROLS = tuple(v for v in CONTROL_VERBS if v != "stop")  # the buttons; stop (positions left open) is for scripts
_TONES: dict[str, style.Tone] = {"running": "ok", "paused": "warn", "error": "bad", "crashed": "bad"}
_BUTTONS = (
    ("pause", "warning", "deny new orders; positions stay open"),
    ("resume", "success", "trade again"),
    ("flatten", "info", "cancel all orders, close all positions"),
    ("kill", "danger", "flatten, then stop the session"),
)


def _money(value: float | None, currency: str | None) -> str:
    return "-" if value is None else f"{value:,.2f} {currency or ''}".strip()


class AttachedCard:
    """Live status line, numbers, controls and event feed of a session running in another process."""

    def __init__(
        self,
        session_id: str,
        *,
        ledger: Ledger | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        interval: float = TICK_S,
        autotick: bool = True,
        on_new: Callable[[], None] | None = None,
    ) -> None:
        self.session_id = session_id
        self.ledger = api.open_ledger(ledger)
        self.interval = interval
        self.report: dict[str, Any] = {}  # api.status_report
        self.process: dict[str, Any] = {}  # pid, host, alive
        self.feed_lines: deque[str] = deque(maxlen=FEED_LINES)  # newest first
        self.closed = False
        self._bridge = LoopBridge(loop)
        self._handle: asyncio.TimerHandle | None = None
        self._controls: list[Future] = []
        self._inflight: set[str] = set()  # controls being sent (their buttons wait)
        self._feed = LedgerFeed(session_id, self.ledger, history_per_class=FEED_LINES)
        self.header = w.HTML()
        self.stats = w.HTML()
        self.buttons = {
            name: w.Button(description=name.capitalize(), button_style=kind, tooltip=tip, layout=w.Layout(width="7em"))
            for name, kind, tip in _BUTTONS
        }
        for name, button in self.buttons.items():
            button.on_click(lambda _b, name=name: self.control(name))
        self.new_button = w.Button(description="New session", icon="plus",
                                   tooltip="back to the form; this session keeps running")
        self.new_button.on_click(lambda _b: on_new() if on_new else None)
        self.new_button.layout.display = None if on_new else "none"
        self.feed = w.HTML()
        self.widget = w.VBox(
            [style.style_widget(), self.header, self.stats, w.HBox([*self.buttons.values(), self.new_button]),
             self.feed],
            layout=w.Layout(border="1px solid #ddd", padding="6px", width="100%"),
        )
        self._add_line(now_ns(), "card", f"attached to {session_id}: it runs in its own process under the supervisor")
        self.refresh()
        if autotick:
            self._schedule()

    @property
    def status(self) -> str:
        """The session's status in the ledger (``starting``, ``running``, ``paused``, ``stopped``, ...)."""
        return self.report.get("state") or "unknown"

    @property
    def marker(self) -> str:
        """Where it runs: ``detached · pid N``."""
        return process_marker(self.process, detached=True)

    # -- controls ------------------------------------------------------------------------------

    def control(self, name: str) -> Future:
        """Send ``name`` to the session (``api.control``) in a worker thread; the ack lands in the feed."""
        if name not in CONTROLS:
            raise ValueError(f"control: {name!r} is not one of {', '.join(CONTROLS)}")
        self._inflight.add(name)
        self.buttons[name].disabled = True
        t0 = time.monotonic()

        def done(_result: Any, error: BaseException | None) -> None:
            ms = 1000 * (time.monotonic() - t0)
            self._inflight.discard(name)
            text = f"{name} ok ({ms:.0f} ms)" if error is None else f"{name} failed: {error_parts(error)[0]}"
            self._add_line(now_ns(), "ack", text)
            self.refresh()

        def send() -> str:
            try:
                return api.control(self.session_id, name, ledger=self.ledger, timeout=30)
            finally:
                self.ledger.close_thread()

        fut = self._bridge.run_in_thread(send, done, name=f"paperlab-{name}")
        self._controls.append(fut)
        return fut

    def wait_controls(self, timeout: float = 60.0) -> None:
        """Block until the controls clicked so far are done, then refresh (tests, scripts)."""
        wait_futures(self._controls, timeout)
        self._controls = [f for f in self._controls if not f.done()]
        self.refresh()

    # -- refresh -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """One read of the ledger: acks, new events, status, numbers. Call on the kernel thread."""
        self._bridge.pump()
        self.report = api.status_report(self.session_id, ledger=self.ledger)
        found = api.session_processes(self.session_id, ledger=self.ledger)
        self.process = found[0] if found else {}
        for event in self._feed.poll():
            if event["stage"] not in QUIET_STAGES:
                who = f"{event['sleeve']}: " if event.get("sleeve") else ""
                self._add_line(event["ts"], event["stage"], f"{who}{event.get('message') or ''}")
        live = self.status in api.ACTIVE_STATUSES
        for name, button in self.buttons.items():
            button.disabled = not live or name in self._inflight
        self._render()

    def close(self) -> None:
        """Stop refreshing (the session keeps running)."""
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        if not self.closed:
            self._handle = self._bridge.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self._handle = None
        if self.closed:
            return
        if self.widget.comm is None:  # the widget was closed
            self.close()
            return
        try:
            self.refresh()
        except Exception as e:  # noqa: BLE001  (keep ticking; say what went wrong)
            log.exception("attached card refresh failed")
            self._add_line(now_ns(), "card", f"refresh failed: {error_parts(e)[0]}")
        if self.status in api.ACTIVE_STATUSES or self.status == "unknown":
            self._schedule()

    # -- rendering -----------------------------------------------------------------------------

    def _add_line(self, ts: int, stage: str, text: str) -> None:
        self.feed_lines.appendleft(f"{eastern_str(ts, '%H:%M:%S')} ET  {stage:<16} {text}")

    def _render(self) -> None:
        r, status = self.report, self.status
        error = style.span(r["last_error"], "paperlab-text-bad", "div") if r.get("last_error") else ""
        note = "its own process under the supervisor; it keeps running when this notebook closes"
        self.header.value = (
            f"{style.badge(venues.badge(r.get('feed')).text, 'dark')} <b>{style.esc(r.get('label') or '')}</b> "
            f"<code>{style.esc(self.session_id)}</code> {style.badge(status.upper(), _TONES.get(status, 'muted'))} "
            f"{style.badge(self.marker, 'muted', cls='paperlab-detached')} "
            f"{style.span(note, 'paperlab-muted')}{error}"
        )
        eq, cur = r.get("equity") or {}, r.get("currency")
        self.stats.value = style.stats([
            ("state", status), ("bars", f"{r.get('bars') or 0:,}"), ("orders", f"{r.get('orders') or 0:,}"),
            ("fills", f"{r.get('fills') or 0:,}"), ("open orders", f"{r.get('open_orders') or 0:,}"),
            ("equity", _money(eq.get("equity"), cur)), ("unrealized P&L", _money(eq.get("unrealized_pnl"), cur)),
            ("realized P&L", _money(eq.get("realized_pnl"), cur)),
        ])
        self.feed.value = style.scroll("\n".join(self.feed_lines))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
