"""Hand work to the kernel's thread: the one way every ipywidgets view does it.

ipywidgets state is only changed on the kernel's thread. Worker threads (starting a session,
controls, gateway checks) hand callables to a ``LoopBridge``, which wakes the kernel's asyncio
loop with ``call_soon_threadsafe``; ``pump`` runs what is queued (by hand when no loop runs).
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from widgets.ui.post import Done, in_thread

log = logging.getLogger(__name__)


def kernel_loop() -> asyncio.AbstractEventLoop | None:
    """The loop of the calling (kernel) thread: the running one, else the thread's default."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return asyncio.get_event_loop()
    except RuntimeError:  # a thread without a loop
        return None


class LoopBridge:
    """Hands callables from worker threads to the kernel thread.

    ``post`` (any thread) queues a callable and wakes the loop with
    ``call_soon_threadsafe(pump)``; ``pump`` (kernel thread only) runs what is queued, so
    a caller without a running loop can pump by hand.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop if loop is not None else kernel_loop()
        self._pending: deque[Callable[[], None]] = deque()

    def post(self, fn: Callable[[], None]) -> None:
        """Queue ``fn`` for the kernel thread (any thread)."""
        self._pending.append(fn)
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self.pump)
            except RuntimeError:  # closed meanwhile
                pass

    def pump(self) -> int:
        """Run the queued callables; returns how many ran."""
        n = 0
        while True:
            try:
                fn = self._pending.popleft()
            except IndexError:
                return n
            n += 1
            try:
                fn()
            except Exception:  # noqa: BLE001  (a UI callback must not kill the loop)
                log.exception("paperlab widget callback failed")

    def call_later(self, delay: float, fn: Callable[[], None]) -> asyncio.TimerHandle | None:
        """Schedule ``fn`` on the loop (call from the kernel thread); None without a loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return None
        return loop.call_later(delay, fn)

    def run_in_thread(self, fn: Callable[[], Any], done: Done, name: str) -> Future:
        """Run ``fn`` in a worker thread, then ``done(result, error)`` on the kernel thread."""
        return in_thread(fn, done, self.post, name)
