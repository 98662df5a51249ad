"""binance-testnet sessions against the local Binance Spot peer: NautilusTrader's real Binance
adapter (REST, the WebSocket API's user data stream, market streams) fills, rejects, partial
fills, reconnects and reconciles; the ledger's fills and fees are the peer's trades."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kernelext
from kernelext import frames
from kernelext.session.runner import SessionRunner
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry
from tests.helpers import wait_for
from tests.peers.binance_peer import BinancePeer

KEY, SECRET = "tNk3yBINANCEdistinctKEY0123456789abcdef", "s3cr3tBINANCEdistinctSECRET9876543210zyx"
BID, ASK = 65_000.00, 65_000.10
INSTRUMENT = "BTCUSDT.BINANCE"


class RoundTripConfig(PaperStrategyConfig, frozen=True):
    hold_bars: int = 3


class RoundTrip(PaperStrategy):
    """Buy on the first live bar, sell it back ``hold_bars`` bars later, once per session."""

    def __init__(self, config: RoundTripConfig) -> None:
        super().__init__(config)
        self.bars_seen = 0

    def _decide(self, bar) -> None:
        self.bars_seen += 1
        if self.bars_seen == 1:
            self._go_long()
        elif self.bars_seen == 1 + self.config.hold_bars:
            self._go_flat()


@pytest.fixture(autouse=True)
def round_trip_strategy() -> Iterator[None]:
    kernelext.register("test_binance_round_trip")(RoundTrip)
    yield
    registry.unregister("test_binance_round_trip")


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[BinancePeer]:
    with BinancePeer(api_key=KEY, api_secret=SECRET, tick_interval=0.05) as p:
        monkeypatch.setenv("BINANCE_TESTNET_API_KEY", KEY)
        monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", SECRET)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_HTTP", p.http_url)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_WS", p.ws_url)
        monkeypatch.setenv("PAPERLAB_BINANCE_TESTNET_WS_API", p.ws_api_url)
        yield p


def _spec(strategy: str, params: dict, **kw):
    return build_spec(sleeves=[make_sleeve(strategy, INSTRUMENT, params=params, bar_spec="1-SECOND-LAST")],
                      venue="binance-testnet", **kw)


def _wait(predicate, timeout: float, what: str) -> None:
    wait_for(predicate, what, timeout, interval=0.1)


def _ledger_fills(runner: SessionRunner):
    runner.writer.flush()
    return frames.fills(runner.session_id, ledger=runner.ledger).sort("ts_ns")


def test_market_round_trip_fills_at_the_peers_quotes(peer: BinancePeer) -> None:
    peer.set_price("BTCUSDT", BID, ASK)
    runner = SessionRunner(_spec("test_binance_round_trip", {"hold_bars": 3, "warmup_bars": 0,
                                                             "trade_notional": 1000})).start()
    try:
        _wait(lambda: runner.status().fills >= 2, 40, "the buy and the sell")
        fills = _ledger_fills(runner)
        print(fills)
        print(peer.requests)
    finally:
        runner.stop()
    print(runner.last_error)
