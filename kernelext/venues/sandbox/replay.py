"""The offline replay feed: a Nautilus ``LiveMarketDataClient`` that replays bars.

Bars come from a Nautilus ``ParquetDataCatalog`` or from the seeded generator, for
crypto pairs on the KRAKEN venue. The client answers historical-bar requests (so
strategies warm up) and streams subscribed bars at ``speed`` times real time, or as
fast as the node can take them (``speed=None``). At full speed it runs in lock-step:
the next bar goes out only once the engines' queues are empty, so each bar's orders
fill against that bar exactly as in a ``BacktestEngine``. Trade ticks (open, high,
low, close of each bar) go out before their bar when a strategy subscribes to them.

Several bar types make one market timeline, as in a ``BacktestEngine``: a bar goes out
only when no other stream has an earlier one to send (equal times: by bar type), and at
full speed only after the bar before it has settled. Streams that each ran at their own
pace let one instrument's bars run ahead of another's, so a book's orders were stamped
with the other instrument's time and ``backtest --like`` disagreed. A bar type subscribed
after the replay started joins at the timeline's current time, as on a live feed.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable
from typing import Any

from nautilus_trader.cache.cache import Cache
from nautilus_trader.common.component import LiveClock, MessageBus
from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.core.datetime import dt_to_unix_nanos
from nautilus_trader.data.messages import RequestBars, SubscribeBars, SubscribeTradeTicks
from nautilus_trader.data.messages import UnsubscribeBars, UnsubscribeTradeTicks
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.data import Bar, BarType, TradeTick
from nautilus_trader.model.enums import AggressorSide
from nautilus_trader.model.identifiers import ClientId, InstrumentId, TradeId

from kernelext.venues.sandbox.generator import BarGenerator
from kernelext.venues.sandbox.instruments import KRAKEN, make_instrument

REPLAY_CLIENT = "REPLAY"
SETTLE_TURNS = 4


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True):
    """Config of the replay feed.

    ``speed``: bars per bar-interval of wall time (1 = real time); ``None`` = as fast as
    the node takes them. ``anchor_ns``: close time of the first live bar (default: now,
    floored to the bar interval). ``catalog_path``: replay a ``ParquetDataCatalog``
    instead of the generator; its first ``history_bars`` bars per bar type are history.
    """

    instrument_ids: tuple[str, ...] = ()
    seed: int = 7
    speed: float | None = None
    anchor_ns: int | None = None
    catalog_path: str | None = None
    history_bars: int = 500
    max_bars: int | None = None  # stop after this many live bars (then the session ends)
    start_after_ns: int | None = None  # a relaunch: live bars closing at or before this were sent already


class _CatalogSource:
    """Bars of one bar type read from a catalog, split into history and live."""

    def __init__(self, bars: list[Bar], history_bars: int) -> None:
        self._history = bars[:history_bars]
        self._live = bars[history_bars:]

    def last_history(self, count: int) -> list[Bar]:
        return self._history[-count:] if count > 0 else []

    def bar(self, k: int) -> Bar:
        if k >= len(self._live):
            raise IndexError("catalog exhausted")
        return self._live[k]

    def index_at_or_before(self, ts_ns: int) -> int:
        """The largest ``k`` whose live bar closed at or before ``ts_ns`` (-1: none)."""
        return bisect.bisect_right([b.ts_event for b in self._live], ts_ns) - 1


class ReplayDataClient(LiveMarketDataClient):
    """Replays bars (and trade ticks derived from them) into a live node (on ``VENUE``, as ``CLIENT``:
    another venue's replay is a subclass naming its own)."""

    VENUE = KRAKEN
    CLIENT = REPLAY_CLIENT

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
        config: ReplayDataClientConfig,
    ) -> None:
        super().__init__(
            loop=loop,
            client_id=ClientId(self.CLIENT),
            venue=self.VENUE,
            msgbus=msgbus,
            cache=cache,
            clock=clock,
            instrument_provider=InstrumentProvider(),
            config=config,
        )
        self._config = config
        self._anchor_ns = config.anchor_ns if config.anchor_ns is not None else time.time_ns()
        self._sources: dict[BarType, Any] = {}
        self._streams: dict[BarType, asyncio.Task] = {}
        self._timeline: dict[BarType, tuple[int, str]] = {}  # each stream's next bar: (ts, bar type)
        self._timeline_moved = asyncio.Event()
        self._now_ns: int | None = None  # close time of the last bar sent
        self._tick_subs: set[InstrumentId] = set()
        self._pending_requests = 0
        self._catalog = None
        self.idle_check: Callable[[], bool] | None = None  # set by the runner: engines drained?
        self.before_bar: Callable[[Bar], None] | None = None  # set by the session: purges on market time
        self.on_bar_sent: Callable[[Bar], None] | None = None
        self.bars_sent = 0
        self.exhausted = asyncio.Event()

    # -- sources -------------------------------------------------------------------------------

    def _source(self, bar_type: BarType) -> Any:
        src = self._sources.get(bar_type)
        if src is None:
            if self._config.catalog_path:
                src = _CatalogSource(self._catalog_bars(bar_type), self._config.history_bars)
            else:
                src = BarGenerator(bar_type, self._config.seed, self._anchor_ns)
            self._sources[bar_type] = src
        return src

    def _catalog_bars(self, bar_type: BarType) -> list[Bar]:
        from nautilus_trader.persistence.catalog import ParquetDataCatalog

        if self._catalog is None:
            self._catalog = ParquetDataCatalog(self._config.catalog_path)
        bars = self._catalog.bars(bar_types=[str(bar_type)])
        if not bars:
            self._log.error(f"No bars for {bar_type} in catalog {self._config.catalog_path}")
        return list(bars)

    # -- connection ----------------------------------------------------------------------------

    async def _connect(self) -> None:
        for iid in self._config.instrument_ids:
            instrument = self._catalog_instrument(iid) if self._config.catalog_path else None
            instrument = instrument or make_instrument(InstrumentId.from_str(iid).symbol.value)
            self._cache.add_instrument(instrument)
            self._handle_data(instrument)
        self._log.info(f"Replay feed ready: {len(self._config.instrument_ids)} instrument(s)")

    def _catalog_instrument(self, iid: str):
        from nautilus_trader.persistence.catalog import ParquetDataCatalog

        if self._catalog is None:
            self._catalog = ParquetDataCatalog(self._config.catalog_path)
        found = self._catalog.instruments(instrument_ids=[iid])
        return found[0] if found else None

    async def _disconnect(self) -> None:
        for task in self._streams.values():
            task.cancel()
        self._streams.clear()
        self._timeline.clear()
        self._move_timeline()

    # -- subscriptions -------------------------------------------------------------------------

    async def _subscribe_bars(self, command: SubscribeBars) -> None:
        bar_type = command.bar_type
        if bar_type in self._streams:
            return
        src = self._source(bar_type)
        k0 = self._first_index(src)
        self._next_bar(bar_type, src, k0)  # booked: holds the others back until this stream has begun
        self._streams[bar_type] = self._loop.create_task(self._stream(bar_type, k0), name=f"replay-{bar_type}")

    async def _unsubscribe_bars(self, command: UnsubscribeBars) -> None:
        task = self._streams.pop(command.bar_type, None)
        if task:
            task.cancel()
        self._timeline.pop(command.bar_type, None)  # a task cancelled before it ran has no finally
        self._move_timeline()

    async def _subscribe_trade_ticks(self, command: SubscribeTradeTicks) -> None:
        self._tick_subs.add(command.instrument_id)

    async def _unsubscribe_trade_ticks(self, command: UnsubscribeTradeTicks) -> None:
        self._tick_subs.discard(command.instrument_id)

    # -- requests ------------------------------------------------------------------------------

    def request_bars(self, request: RequestBars) -> None:
        self._pending_requests += 1
        super().request_bars(request)

    async def _request_bars(self, request: RequestBars) -> None:
        """Answer in replay time: a request for the window ``[start, now]`` gets the last
        ``window / interval`` bars before the first live bar, whatever the wall clock says."""
        try:
            interval_ns = int(request.bar_type.spec.timedelta.total_seconds() * 1e9)
            count = request.limit or 0
            if request.start is not None:
                end_ns = dt_to_unix_nanos(request.end) if request.end is not None else time.time_ns()
                window = max(0, round((end_ns - dt_to_unix_nanos(request.start)) / interval_ns))
                count = min(count, window) if count else window
            bars = self._source(request.bar_type).last_history(count)
            self._handle_bars(request.bar_type, bars, request.id, request.start, request.end, request.params)
        finally:
            self._pending_requests -= 1

    # -- streaming -----------------------------------------------------------------------------

    async def _settled(self) -> None:
        """Wait until history requests are answered and the engines stay idle.

        A queue reads empty for a moment while its consumer has been woken but not yet
        run, so idleness must hold over several consecutive loop turns.
        """
        calm = 0
        while calm < SETTLE_TURNS:
            await asyncio.sleep(0)
            calm = calm + 1 if not self._pending_requests and self._idle() else 0

    def _idle(self) -> bool:
        return self.idle_check() if self.idle_check is not None else True

    def _first_index(self, src: Any) -> int:
        """The first live bar to send: after a relaunch's last sent bar, and after the timeline's
        current time when other bar types are already streaming."""
        after = self._config.start_after_ns
        if self._now_ns is not None:
            after = self._now_ns if after is None else max(after, self._now_ns)
        return 0 if after is None else max(0, src.index_at_or_before(after) + 1)

    def _next_bar(self, bar_type: BarType, src: Any, k: int) -> Bar | None:
        """The stream's bar ``k``, booked on the timeline; None when it has no more."""
        if self._config.max_bars is not None and k >= self._config.max_bars:
            return None
        try:
            bar = src.bar(k)
        except IndexError:
            return None
        self._timeline[bar_type] = (bar.ts_event, str(bar_type))
        return bar

    def _move_timeline(self) -> None:
        """Wake the streams waiting for their turn."""
        self._timeline_moved.set()
        self._timeline_moved = asyncio.Event()

    async def _my_turn(self, bar_type: BarType) -> None:
        """Wait until this stream holds the earliest bar on the timeline."""
        self._move_timeline()
        while min(self._timeline.values()) < self._timeline[bar_type]:
            await self._timeline_moved.wait()

    async def _stream(self, bar_type: BarType, k0: int) -> None:
        src = self._sources[bar_type]
        speed = self._config.speed
        interval_s = bar_type.spec.timedelta.total_seconds()
        k = k0
        try:
            await asyncio.sleep(0.05)  # let a request made in the same on_start reach us first
            await self._settled()
            t0 = time.monotonic()
            # Real time on the generator: each bar goes out when its close time comes, so
            # market time is wall time (bar 0, the bar that just closed, goes at once).
            wall_clock = speed == 1 and self._config.catalog_path is None
            while (bar := self._next_bar(bar_type, src, k)) is not None:
                await self._my_turn(bar_type)
                if wall_clock:
                    delay = (bar.ts_event - time.time_ns()) / 1e9
                elif speed is not None:
                    delay = t0 + (k - k0) * interval_s / speed - time.monotonic()
                else:
                    delay = 0.0
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.before_bar is not None:
                    self.before_bar(bar)
                self._emit(bar_type, bar, k)
                self._now_ns = bar.ts_event
                k += 1
                if speed is None:
                    await self._settled()
        finally:
            self._timeline.pop(bar_type, None)
            self._move_timeline()
            self._log.info(f"Replay of {bar_type} ended after {k} bars")
            if all(t.done() or t is asyncio.current_task() for t in self._streams.values()):
                self.exhausted.set()

    def _emit(self, bar_type: BarType, bar: Bar, k: int) -> None:
        iid = bar_type.instrument_id
        if iid in self._tick_subs:
            for tick in _ticks_from_bar(bar, k, int(bar_type.spec.timedelta.total_seconds() * 1e9)):
                self._handle_data(tick)
        self._handle_data(bar)
        self.bars_sent += 1
        if self.on_bar_sent is not None:
            self.on_bar_sent(bar)


def _ticks_from_bar(bar: Bar, k: int, interval_ns: int) -> list[TradeTick]:
    """Four trades that trace the bar: open, the nearer extreme, the other, close."""
    up = bar.close >= bar.open
    prices = [bar.open, bar.low, bar.high, bar.close] if up else [bar.open, bar.high, bar.low, bar.close]
    size = bar.volume.as_double() / 4
    qty = type(bar.volume)(max(size, 10 ** -bar.volume.precision), bar.volume.precision)
    start = bar.ts_event - interval_ns
    ticks = []
    for j, px in enumerate(prices):
        ts = start + (j + 1) * interval_ns // 5
        side = AggressorSide.BUYER if j == 0 or px >= prices[j - 1] else AggressorSide.SELLER
        ticks.append(
            TradeTick(bar.bar_type.instrument_id, px, qty, side, TradeId(f"R{k}-{j}"), ts, ts)
        )
    return ticks


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds the replay client for a ``TradingNode``."""

    @staticmethod
    def create(  # type: ignore[override]
        loop: asyncio.AbstractEventLoop,
        name: str,
        config: ReplayDataClientConfig,
        msgbus: MessageBus,
        cache: Cache,
        clock: LiveClock,
    ) -> ReplayDataClient:
        return ReplayDataClient(loop=loop, msgbus=msgbus, cache=cache, clock=clock, config=config)
