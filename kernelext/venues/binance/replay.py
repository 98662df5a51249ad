"""binance-sim offline: the sandbox's replay feed on the BINANCE venue.

The sandbox's ``ReplayDataClient`` is Kraken's; this one is the same client on BINANCE, with
Binance's instruments (``backtest.instrument``) and the replay generator's bars of the matching
replay pair (``BTCUSDT.BINANCE`` replays ``BTC/USD``'s generated path), relabelled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.objects import Price, Quantity

from kernelext.venues.binance.backtest import instrument
from kernelext.venues.binance.constants import BINANCE
from kernelext.venues.binance.symbology import replay_pair
from kernelext.venues.sandbox.generator import BarGenerator
from kernelext.venues.sandbox.replay import ReplayDataClient, ReplayDataClientConfig, ReplayDataClientFactory

REPLAY_CLIENT = "BINANCE_REPLAY"


class _Relabelled:
    """A replay pair's generated bars under a Binance bar type, at Binance's precisions."""

    def __init__(self, bar_type: BarType, seed: int, anchor_ns: int) -> None:
        pair = replay_pair(str(bar_type.instrument_id))
        source_type = BarType.from_str(f"{pair}.KRAKEN-{bar_type.spec}-EXTERNAL")
        self._src = BarGenerator(source_type, seed, anchor_ns)
        self._bar_type = bar_type
        self._instrument = instrument(str(bar_type.instrument_id))

    def _convert(self, bar: Bar) -> Bar:
        p, s = self._instrument.price_precision, self._instrument.size_precision
        return Bar(self._bar_type, Price(bar.open.as_double(), p), Price(bar.high.as_double(), p),
                   Price(bar.low.as_double(), p), Price(bar.close.as_double(), p),
                   Quantity(bar.volume.as_double(), s), bar.ts_event, bar.ts_init)

    def bar(self, k: int) -> Bar:
        return self._convert(self._src.bar(k))

    def last_history(self, count: int) -> list[Bar]:
        return [self._convert(b) for b in self._src.last_history(count)]

    def index_at_or_before(self, ts_ns: int) -> int:
        return self._src.index_at_or_before(ts_ns)


class BinanceReplayDataClient(ReplayDataClient):
    """The replay client on BINANCE."""

    VENUE = BINANCE
    CLIENT = REPLAY_CLIENT

    def _source(self, bar_type: BarType) -> Any:
        src = self._sources.get(bar_type)
        if src is None:
            src = self._sources[bar_type] = _Relabelled(bar_type, self._config.seed, self._anchor_ns)
        return src

    async def _connect(self) -> None:
        for iid in self._config.instrument_ids:
            found = instrument(iid)
            self._cache.add_instrument(found)
            self._handle_data(found)
        self._log.info(f"Replay feed ready on BINANCE: {len(self._config.instrument_ids)} instrument(s)")


class BinanceReplayDataClientFactory(ReplayDataClientFactory):
    """Builds the BINANCE replay client for a ``TradingNode``."""

    @staticmethod
    def create(loop: asyncio.AbstractEventLoop, name: str, config: ReplayDataClientConfig,  # type: ignore[override]
               msgbus: Any, cache: Any, clock: Any) -> BinanceReplayDataClient:
        return BinanceReplayDataClient(loop=loop, msgbus=msgbus, cache=cache, clock=clock, config=config)
