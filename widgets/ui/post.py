"""Hand work to a Panel view's UI thread: the one way every Panel view does it.

A served Bokeh document may only be changed on its own event loop. ``post_to_ui(doc, fn)`` runs
``fn`` there from any thread (right here when there is no served document: a notebook, a test);
``in_thread`` runs work on a worker thread and hands its outcome back through a ``post``;
``every`` is the views' periodic refresh; ``ui_caller`` runs a function on the view's own loop
from any thread (a served document's next tick, a notebook kernel's loop), so a view can be
pushed to.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

    from bokeh.document import Document

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
Done = Callable[[Any, BaseException | None], None]


def current_doc() -> Document | None:
    """The document of the view being built or clicked (None outside a server or notebook)."""
    import panel as pn

    return pn.state.curdoc


def post_to_ui(doc: Document | None, fn: Callable[[], None]) -> None:
    """Run ``fn`` on ``doc``'s event loop when it is served (from any thread); else right here."""
    import panel as pn
    from panel.io.state import set_curdoc

    if doc is not None and doc.session_context is not None:
        with set_curdoc(doc):
            pn.state.execute(fn, schedule=True)
    else:
        fn()


class UiCall:
    """Runs one function on the loop of the view being built, pushed from any thread: a served
    document's (under its lock, with it as Panel's current document), else the running asyncio
    loop's (a notebook kernel's, where Panel sends changes through the comm)."""

    def __init__(self, fn: Callable[[], None], doc: Document | None, loop: asyncio.AbstractEventLoop | None) -> None:
        self.fn, self.doc, self.loop = fn, doc, loop

    def soon(self) -> None:
        """Run ``fn`` on the loop's next turn (any thread)."""
        if self.doc is not None:
            self.doc.add_next_tick_callback(self._in_doc)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self.fn)

    def later(self, seconds: float) -> None:
        """Run ``fn`` on the loop in ``seconds`` (call on the loop)."""
        if self.doc is not None:
            self.doc.add_timeout_callback(self._in_doc, max(1, int(seconds * 1000)))
        elif self.loop is not None:
            self.loop.call_later(seconds, self.fn)

    def _in_doc(self) -> None:
        from panel.io.state import set_curdoc

        try:
            with set_curdoc(self.doc):
                self.fn()
        except Exception:  # noqa: BLE001  (a view's callback must not break the document's loop)
            log.exception("view callback failed")


def ui_caller(fn: Callable[[], None]) -> UiCall | None:
    """A ``UiCall`` of ``fn`` for the view being built (a served page, a notebook cell); None outside
    both (a test, a script): there ``fn`` is called by hand."""
    import asyncio

    doc = current_doc()
    if doc is not None and doc.session_context is not None:
        return UiCall(fn, doc, None)
    try:
        return UiCall(fn, None, asyncio.get_running_loop())
    except RuntimeError:
        return None


def in_thread(fn: Callable[[], Any], done: Done, post: Post, name: str) -> Future:
    """Run ``fn`` on a worker thread, then ``done(result, error)`` through ``post`` (the UI thread).

    ``done`` is posted before the returned future resolves (to ``fn``'s result or error), so a
    caller that waits on the future finds the outcome already handed over.
    """
    fut: Future = Future()

    def run() -> None:
        result, error = None, None
        try:
            result = fn()
        except BaseException as e:  # noqa: BLE001  (handed to ``done``)
            error = e
        post(lambda: done(result, error))
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return fut


class Repeat:
    """A periodic callback of a Panel view; ``stop()`` ends it."""

    def __init__(self, fn: Callable[[], None], period_ms: int) -> None:
        import panel as pn

        self._callback = pn.state.add_periodic_callback(fn, period=period_ms)

    def stop(self) -> None:
        self._callback.stop()


def every(period_ms: int, fn: Callable[[], None]) -> Repeat:
    """Call ``fn`` every ``period_ms`` on the view's document (the refresh of dashboards and lists)."""
    return Repeat(fn, period_ms)
