"""Pause / Resume / Flatten / Kill / Stop for any session by id, in Panel (the Sessions tab's bar).

A click sends the control with ``api.control`` on a worker thread: a session of this process
takes it at once, one of another process (a detached one, a notebook's) through the ledger's
command queue. The outcome is handed back on the document's loop (``post_to_ui``) as
``on_done(verb, session_id, error)``. The buttons are enabled only while the target session is
alive and no control is under way. Every button has a stable ``paperlab-session-<verb>`` class.

Declared state (params): ``session_id`` (the target), ``alive``, ``inflight`` (the control under way).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from functools import partial
from typing import TYPE_CHECKING, Any

import panel as pn
import param

from kernelext import api
from kernelext.events import CONTROL_VERBS
from widgets.ui.post import current_doc, in_thread, post_to_ui

if TYPE_CHECKING:
    from kernelext.ledger import Ledger

__all__ = ["SessionControls"]

Done = Callable[[str, str, BaseException | None], None]
_COLORS = {"pause": "warning", "resume": "success", "flatten": "primary", "kill": "danger", "stop": "default"}
_TIPS = {
    "pause": "deny new orders; positions stay open",
    "resume": "trade again",
    "flatten": "cancel all orders, close all positions",
    "kill": "flatten, then stop the session",
    "stop": "stop the session; positions stay open",
}


class SessionControls(pn.viewable.Viewer):
    """One button per control verb, aimed at one session (``target``)."""

    session_id = param.String(default=None, allow_None=True, doc="the session the buttons control")
    alive = param.Boolean(default=False, doc="its process is running it (controls can reach it)")
    inflight = param.String(default=None, allow_None=True, doc="the control being sent (buttons wait)")

    def __init__(self, ledger: Ledger | None = None, *, on_done: Done | None = None, timeout: float = 30.0) -> None:
        super().__init__()
        self.ledger = api.open_ledger(ledger)
        self.on_done = on_done
        self.timeout = timeout
        self._futures: list[Future] = []
        self.buttons = {
            verb: pn.widgets.Button(label=verb.capitalize(), color=_COLORS.get(verb, "default"), width=90,
                                    description=_TIPS.get(verb), css_classes=[f"paperlab-session-{verb}"])
            for verb in CONTROL_VERBS
        }
        for verb, button in self.buttons.items():
            button.on_click(lambda _e, v=verb: self.send(v))
        self._layout = pn.Row(*self.buttons.values(), css_classes=["paperlab-session-controls"])
        self._enable()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    def target(self, session_id: str | None, alive: bool) -> None:
        """Aim the buttons at ``session_id`` (None: none); ``alive``: its process runs it."""
        self.param.update(session_id=session_id, alive=bool(alive and session_id))

    @param.depends("session_id", "alive", "inflight", watch=True)
    def _enable(self) -> None:
        off = self.session_id is None or not self.alive or self.inflight is not None
        for button in self.buttons.values():
            button.disabled = off

    def send(self, verb: str) -> Future | None:
        """Send ``verb`` to the target on a worker thread; None (as a disabled button) when there is no
        live target or a control is under way."""
        if verb not in self.buttons:
            raise ValueError(f"control: {verb!r} is not one of {', '.join(self.buttons)}")
        session_id = self.session_id
        if session_id is None or not self.alive or self.inflight is not None:
            return None
        self.inflight = verb
        doc = current_doc()
        fut = in_thread(partial(self._control, session_id, verb), partial(self._done, verb, session_id),
                        lambda fn: post_to_ui(doc, fn), f"paperlab-session-{verb}")
        self._futures.append(fut)
        return fut

    def wait(self, timeout: float = 60.0) -> None:
        """Block until the controls sent so far are done (tests, scripts)."""
        wait_futures(self._futures, timeout)
        self._futures = [f for f in self._futures if not f.done()]

    def _control(self, session_id: str, verb: str) -> str:
        try:
            return api.control(session_id, verb, ledger=self.ledger, timeout=self.timeout)
        finally:
            self.ledger.close_thread()

    def _done(self, verb: str, session_id: str, _result: Any, error: BaseException | None) -> None:
        self.inflight = None
        if self.on_done is not None:
            self.on_done(verb, session_id, error)
