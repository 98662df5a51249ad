"""A session that runs in another process, in ipywidgets: what the start card shows after a detached start.

The view ``%paper attach SESSION`` gives a session of another process: its status line (feed badge,
label, id, status, ``detached · pid N``, last error), refreshed from the ledger on the kernel's loop,
and its Panel dashboard (``widgets.dashboard``: cards, equity curve, tables, event feed and
Pause/Resume/Flatten/Kill, which reach the session through the ledger's command queue) below it.
Closing this view, or the notebook, leaves the session running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from kernelext import api, venues
from widgets.ui import style
from widgets.ui.kernel import LoopBridge
from widgets.where import process_marker

if TYPE_CHECKING:
    from kernelext.ledger import Ledger
    from widgets.dashboard import SessionDashboard

__all__ = ["AttachedCard"]

log = logging.getLogger(__name__)

TICK_S = 1.0
_TONES: dict[str, style.Tone] = {"running": "ok", "paused": "warn", "error": "bad", "crashed": "bad"}


class AttachedCard:
    """Status line + Panel dashboard of a session running in another process (a detached one)."""

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
        from widgets.dashboard import SessionDashboard

        self.session_id = session_id
        self.ledger = api.open_ledger(ledger)
        self.interval = interval
        self.row: dict[str, Any] = {}  # label, kind, venue, feed, status, last_error
        self.process: dict[str, Any] = {}  # pid, host, alive
        self.closed = False
        self._bridge = LoopBridge(loop)
        self._handle: asyncio.TimerHandle | None = None
        self.header = w.HTML()
        self.new_button = w.Button(description="New session", icon="plus",
                                   tooltip="back to the form; this session keeps running")
        self.new_button.on_click(lambda _b: on_new() if on_new else None)
        self.new_button.layout.display = None if on_new else "none"
        self.output = w.Output()
        self.dashboard: SessionDashboard = SessionDashboard(session_id, self.ledger)
        self.widget = w.VBox(
            [style.style_widget(), self.header, self.new_button, self.output],
            layout=w.Layout(border="1px solid #ddd", padding="6px", width="100%"),
        )
        self.refresh()
        self._show_dashboard()
        if autotick:
            self._schedule()

    @property
    def status(self) -> str:
        """The session's status in the ledger ('deleted' once it is gone)."""
        return self.row.get("status") or "deleted"

    @property
    def marker(self) -> str:
        """Where it runs: ``detached · pid N``."""
        return process_marker(self.process, detached=True)

    def refresh(self) -> None:
        """One read of the session's row and process from the ledger; re-render the status line."""
        self.row = api.session_row(self.session_id, ledger=self.ledger) or {}
        found = api.session_processes(self.session_id, ledger=self.ledger)
        self.process = found[0] if found else {}
        self.header.value = self._header_html()

    def close(self) -> None:
        """Stop refreshing the line and the dashboard (the session keeps running)."""
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.dashboard.stop()

    def _show_dashboard(self) -> None:
        """Display the dashboard in the output (in a kernel: elsewhere nothing renders it)."""
        from widgets import views

        if not views.in_kernel():
            return
        from IPython.display import display

        views.load_panel_extension()
        with self.output:
            display(self.dashboard.panel())

    def _header_html(self) -> str:
        row, status = self.row, self.status
        error = style.span(row["last_error"], "paperlab-text-bad", "div") if row.get("last_error") else ""
        note = "its own process under the supervisor; it keeps running when this notebook closes"
        return (
            f"{style.badge(venues.badge(row.get('feed')).text, 'dark')} <b>{style.esc(row.get('label') or '')}</b> "
            f"<code>{style.esc(self.session_id)}</code> {style.badge(status.upper(), _TONES.get(status, 'muted'))} "
            f"{style.badge(self.marker, 'muted', cls='paperlab-detached')} "
            f"{style.span(note, 'paperlab-muted')}{error}"
        )

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
        except Exception:  # noqa: BLE001  (keep ticking)
            log.exception("attached card refresh failed")
        if self.status in api.ACTIVE_STATUSES:
            self._schedule()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
