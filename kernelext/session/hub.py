"""Thread-safe fan-out of events with bounded buffers; never blocks the node.

The telemetry actor publishes on the node's thread. Sinks (the ledger writer's
``put``) must themselves be non-blocking. Views (dashboards, widgets, status) read
their own ring buffer on their own schedule; a view that falls behind loses its
oldest events and counts them in ``dropped``. A view may also ask to be told of each
event it takes (``notify(event)``, called on the publishing thread: it must only hand a
wake-up on, never block or do the work there), so a live view is pushed to rather than polling.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from kernelext.events import Event

log = logging.getLogger(__name__)

Sink = Callable[[Event], None]


class View:
    """One reader's bounded ring buffer of events."""

    def __init__(self, maxlen: int = 5_000, stages: frozenset[str] | None = None,
                 notify: Callable[[Event], None] | None = None, hub: Hub | None = None) -> None:
        self._buf: deque[Event] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.stages = stages
        self.notify = notify
        self._hub = hub
        self.dropped = 0

    def push(self, event: Event) -> None:
        if self.stages is not None and event.stage not in self.stages:
            return
        with self._lock:
            if len(self._buf) == self._buf.maxlen:
                self.dropped += 1
            self._buf.append(event)
        if self.notify is not None:
            try:
                self.notify(event)
            except Exception:  # noqa: BLE001  (a view's wake-up must never break the node's publishing)
                log.exception("a view's notify failed")

    def close(self) -> None:
        """Stop receiving events (what is buffered can still be drained)."""
        if self._hub is not None:
            self._hub.unsubscribe(self)
            self._hub = None

    def drain(self) -> list[Event]:
        """Everything buffered since the last drain, oldest first."""
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
        return out


class Hub:
    """Fan-out: every event to every sink and every view."""

    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._views: list[View] = []
        self._lock = threading.Lock()
        self.published = 0

    def add_sink(self, sink: Sink) -> None:
        """A non-blocking callable that receives every stored event (e.g. the ledger writer)."""
        with self._lock:
            self._sinks = [*self._sinks, sink]

    def subscribe(self, maxlen: int = 5_000, stages: frozenset[str] | None = None,
                  notify: Callable[[Event], None] | None = None) -> View:
        """A new view; ``stages`` limits it to some stages; ``notify(event)`` is called after each event
        it takes (on the publishing thread; it must not block)."""
        view = View(maxlen, stages, notify, self)
        with self._lock:
            self._views = [*self._views, view]
        return view

    def unsubscribe(self, view: View) -> None:
        with self._lock:
            self._views = [v for v in self._views if v is not view]

    def publish(self, event: Event, *, store: bool = True) -> None:
        """Hand ``event`` to the sinks (if ``store``) and the views. Called on the node thread."""
        self.published += 1
        if store:
            for sink in self._sinks:
                sink(event)
        for view in self._views:
            view.push(event)

    @property
    def dropped(self) -> int:
        """Events lost by views that did not keep up."""
        return sum(v.dropped for v in self._views)
