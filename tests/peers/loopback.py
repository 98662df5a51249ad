"""What every local protocol peer shares: a tornado server on a free 127.0.0.1 port, on an event
loop in a thread of its own, started and stopped from the test's thread.

A peer names itself (``NAME``), gives its routes (``routes``) and the coroutines that run while
it serves (``background``: ticks, heartbeats); its WebSocket handlers sit in ``_conns`` so
``stop`` closes them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self

import tornado.httpserver
import tornado.netutil
import tornado.web


class LoopbackPeer:
    """A tornado app on 127.0.0.1 in its own thread and loop (a base class)."""

    NAME = "peer"

    def __init__(self) -> None:
        self.port = 0
        self._conns: set[Any] = set()  # open WebSocket handlers (each has close())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None

    def routes(self) -> list[tuple]:
        """The tornado routes the peer serves."""
        raise NotImplementedError

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Coroutines that run while the peer serves (cancelled at stop)."""
        return []

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start serving; returns once the port is listening."""
        self._thread = threading.Thread(target=self._thread_main, name=f"{self.NAME.lower()}-peer", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or not self.port:
            raise RuntimeError(f"the {self.NAME} peer did not start")
        return self

    def stop(self) -> None:
        """Close every connection and the port; returns once the thread has ended."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server = tornado.httpserver.HTTPServer(tornado.web.Application(self.routes()))
        server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        tasks = [asyncio.create_task(c) for c in self.background()]
        self._ready.set()
        await self._stopping.wait()
        for task in tasks:
            task.cancel()
        server.stop()
        for conn in list(self._conns):
            conn.close()
        await server.close_all_connections()
