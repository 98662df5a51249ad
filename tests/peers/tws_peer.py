"""A local IB Gateway peer: the TWS API text protocol at server version 178 on 127.0.0.1.

ib_async (and the official ``ibapi`` client) connect to it instead of a real gateway::

    with TwsPeer(accounts=("DU1234567",)) as peer:
        await IB().connectAsync("127.0.0.1", peer.port, clientId=7, readonly=True)

Wire facts follow ``shared/PROTOCOLS.md``: raw ``API\\0`` then a framed ``v157..178``; the
peer answers a framed ``178\\0<connTime>\\0``; every later message is a 4-byte big-endian
length and fields each ending in ``\\0``. On startApi it sends nextValidId and
managedAccounts, then answers the requests ib_async's ``connectAsync`` awaits, account
summaries and the current time. It never fills orders: it only records every message id
it receives in ``requests`` (placeOrder is id 3), so tests can prove a probe sent none.

Fault switches: ``logged_out=True`` (handshake, then silence: a gateway whose login
expired), ``send_error(code, msg)``, ``drop()`` (close every client socket). ``stop()``
then ``start()`` rebinds the same port (a gateway restart).
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SERVER_VERSION = 178
PLACE_ORDER = 3
START_API = 71


@dataclass(frozen=True)
class PeerPosition:
    """One stock position the peer reports for every account."""

    symbol: str
    position: float
    avg_cost: float
    market_price: float
    con_id: int
    exchange: str = "NASDAQ"
    currency: str = "USD"


DEFAULT_POSITIONS: tuple[PeerPosition, ...] = (
    PeerPosition("AAPL", 100.0, 150.25, 190.0, 265598),
    PeerPosition("MSFT", 20.0, 310.5, 400.0, 272093),
)
DEFAULT_ACCOUNT_VALUES: dict[str, str] = {
    "NetLiquidation": "100000.00",
    "TotalCashValue": "73000.00",
    "BuyingPower": "292000.00",
    "GrossPositionValue": "27000.00",
    "AvailableFunds": "73000.00",
}


def frame(*fields: Any) -> bytes:
    """One TWS API message: length prefix, then each field followed by NUL."""
    body = "".join(f"{f}\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


class TwsPeer:
    """An asyncio TWS API server in its own thread and event loop (see module docstring)."""

    def __init__(
        self,
        accounts: Iterable[str] = ("DU1234567",),
        *,
        positions: Iterable[PeerPosition] = DEFAULT_POSITIONS,
        account_values: Mapping[str, str] | None = None,
        logged_out: bool = False,
        port: int = 0,
    ) -> None:
        self.accounts: tuple[str, ...] = tuple(accounts)
        self.positions: tuple[PeerPosition, ...] = tuple(positions)
        self.account_values: dict[str, str] = dict(account_values or DEFAULT_ACCOUNT_VALUES)
        self.logged_out = logged_out
        self.port = port
        self.requests: list[int] = []  # message ids received, in order
        self.connections = 0  # sockets accepted
        self.handshakes = 0  # API handshakes answered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._next_order_id = 1

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> TwsPeer:
        """Bind 127.0.0.1 (a free port the first time, the same port after a stop) and serve."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="tws-peer", daemon=True)
        self._thread.start()
        if not ready.wait(5) or self._server is None:
            raise RuntimeError("TWS peer did not start")
        return self

    def stop(self) -> None:
        """Close every socket and the listener; join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> TwsPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._listen())
        ready.set()
        self._loop.run_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        self._close_writers()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # -- fault switches ----------------------------------------------------------------

    def send_error(self, code: int, msg: str, req_id: int = -1) -> None:
        """Send error ``[4,2,reqId,code,msg,""]`` to every connected client."""
        self._call(self._broadcast, frame(4, 2, req_id, code, msg, ""))

    def drop(self) -> None:
        """Close every client socket (the listener stays up)."""
        self._call(self._close_writers)

    @property
    def placed_orders(self) -> int:
        """How many placeOrder messages arrived (tests expect 0 from a probe)."""
        return self.requests.count(PLACE_ORDER)

    def _call(self, fn: Any, *args: Any) -> None:
        if self._loop is None:
            raise RuntimeError("TWS peer is not running")
        done = threading.Event()

        def run() -> None:
            try:
                fn(*args)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def _broadcast(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)

    def _close_writers(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    # -- protocol ----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            await self._read_frame(reader)  # "v157..178"
            conn_time = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
            writer.write(frame(SERVER_VERSION, conn_time))
            self.handshakes += 1
            while True:
                fields = await self._read_frame(reader)
                self.requests.append(int(fields[0]))
                for data in self._answer(fields):
                    writer.write(data)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    @staticmethod
    async def _read_frame(reader: asyncio.StreamReader) -> list[str]:
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        return (await reader.readexactly(size)).decode().split("\0")[:-1]

    def _answer(self, f: list[str]) -> list[bytes]:
        """The messages answering one request (empty for anything not modelled)."""
        handlers = {
            START_API: self._on_start_api,
            61: lambda f: self._positions(),
            5: lambda f: [frame(53, 1)],
            99: lambda f: [frame(102)],
            6: self._account_updates,
            76: lambda f: [frame(74, 1, f[2])],
            7: lambda f: [frame(55, 1, f[2])],
            62: self._account_summary,
            49: lambda f: [frame(49, 1, int(time.time()))],
        }
        handler = handlers.get(int(f[0]))
        return handler(f) if handler else []

    def _on_start_api(self, f: list[str]) -> list[bytes]:
        if self.logged_out:
            return []
        order_id, self._next_order_id = self._next_order_id, self._next_order_id + 1000
        return [
            frame(9, 1, order_id),
            frame(15, 1, ",".join(self.accounts)),
            frame(4, 2, -1, 2104, "Market data farm connection is OK:usfarm", ""),
            frame(4, 2, -1, 2158, "Sec-def data farm connection is OK:secdefnj", ""),
        ]

    def _positions(self) -> list[bytes]:
        out = [
            frame(61, 3, acct, p.con_id, p.symbol, "STK", "", 0.0, "", "", p.exchange,
                  p.currency, p.symbol, p.symbol, p.position, p.avg_cost)
            for acct in self.accounts
            for p in self.positions
        ]
        return [*out, frame(62, 1)]

    def _account_updates(self, f: list[str]) -> list[bytes]:
        subscribe, acct = f[2], f[3]
        if subscribe != "1":
            return []
        values = [frame(6, 2, key, val, "USD", acct) for key, val in self.account_values.items()]
        portfolio = [
            frame(7, 8, p.con_id, p.symbol, "STK", "", 0.0, "", "", p.exchange, p.currency,
                  p.symbol, p.symbol, p.position, p.market_price, p.position * p.market_price,
                  p.avg_cost, p.position * (p.market_price - p.avg_cost), 0.0, acct)
            for p in self.positions
        ]
        clock = datetime.now(UTC).strftime("%H:%M")
        return [*values, *portfolio, frame(8, 1, clock), frame(54, 1, acct)]

    def _account_summary(self, f: list[str]) -> list[bytes]:
        req_id, tags = f[2], set(f[4].split(","))
        rows = [
            frame(63, 1, req_id, acct, tag, val, "USD")
            for acct in self.accounts
            for tag, val in self.account_values.items()
            if tag in tags
        ]
        return [*rows, frame(64, 1, req_id)]
