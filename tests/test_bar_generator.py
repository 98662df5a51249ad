"""The sandbox's seeded bars: the same seed gives the same path however it is read, and every
bar is a consistent OHLCV at the instrument's precision."""

from __future__ import annotations

from nautilus_trader.model.data import BarType

from kernelext.venues.sandbox.generator import HISTORY_BARS, BarGenerator
from kernelext.venues.sandbox.instruments import PAIRS

ANCHOR = 1_767_225_600_000_000_000
BTC_1M = BarType.from_str("BTC/USD.KRAKEN-1-MINUTE-LAST-EXTERNAL")


def test_the_same_seed_gives_the_same_bars_whichever_is_read_first() -> None:
    forward = BarGenerator(BTC_1M, 7, ANCHOR)
    live_first = [forward.ohlcv(k) for k in range(10_000)]
    history_after = [forward.ohlcv(k) for k in range(-HISTORY_BARS, 0)]
    other = BarGenerator(BTC_1M, 7, ANCHOR)
    assert [other.ohlcv(k) for k in range(-HISTORY_BARS, 10_000)] == history_after + live_first
    assert [BarGenerator(BTC_1M, 8, ANCHOR).ohlcv(k) for k in range(100)] != live_first[:100]


def test_every_bar_is_a_consistent_ohlcv_that_opens_at_the_last_close() -> None:
    gen = BarGenerator(BTC_1M, 3, ANCHOR)
    q = 10 ** PAIRS["BTC/USD"].price_precision
    bars = [gen.ohlcv(k) for k in range(-HISTORY_BARS, 9_000)]
    for prev, bar in zip(bars, bars[1:]):
        assert bar.open == prev.close
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0
        assert all(abs(v * q - round(v * q)) < 1e-6 for v in (bar.open, bar.high, bar.low, bar.close))
    assert len({b.close for b in bars}) > len(bars) // 2  # it moves
    nautilus_bar = gen.bar(8_999)  # live bars are read forward: older ones are gone
    assert nautilus_bar.ts_event == ANCHOR + 8_999 * 60_000_000_000
    assert str(nautilus_bar.close) == f"{bars[-1].close:.{PAIRS['BTC/USD'].price_precision}f}"


def test_bars_built_a_chunk_at_a_time_are_the_bars_built_one_by_one() -> None:
    from nautilus_trader.model.data import Bar
    from nautilus_trader.model.objects import Price, Quantity

    pair = PAIRS["ETH/BTC"]  # 5-digit prices, 8-digit sizes
    eth_5m = BarType.from_str("ETH/BTC.KRAKEN-5-MINUTE-LAST-EXTERNAL")
    columns, bulk, single = (BarGenerator(eth_5m, 11, ANCHOR) for _ in range(3))
    p, s = pair.price_precision, pair.size_precision
    one_by_one = [Bar(eth_5m, *(Price(x, p) for x in columns.ohlcv(k)[:4]), Quantity(columns.ohlcv(k).volume, s),
                      columns.close_ns(k), columns.close_ns(k)) for k in range(-HISTORY_BARS, 9_000)]

    def fields(bars: list[Bar]) -> list[tuple]:
        return [(b.open.raw, b.high.raw, b.low.raw, b.close.raw, b.volume.raw, b.ts_event, b.ts_init) for b in bars]

    assert fields(bulk.last_history(HISTORY_BARS) + bulk.bars(0, 9_000)) == fields(one_by_one)
    assert fields(single.last_history(HISTORY_BARS) + [single.bar(k) for k in range(9_000)]) == fields(one_by_one)
    assert {str(b.bar_type) for b in bulk.bars(9_000, 9_100)} == {str(eth_5m)}
