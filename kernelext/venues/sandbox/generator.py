"""Seeded synthetic bars: a GARCH(1,1) random walk with volatility clustering.

The path depends only on ``(seed, symbol, bar interval)``; timestamps only on the
anchor. Bar ``k`` closes at ``anchor + k * interval`` (``k < 0`` is history), so the
same seed gives the same prices whatever the wall clock says. Bars are Nautilus
``Bar`` objects with ``ts_event = ts_init = close time``.

Live bars are read forward (a replay, a backtest's bar list): the generator keeps the
history and a window of the newest live bars, so a long replay's memory stays flat.
"""

from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import numpy as np
from nautilus_trader.model.data import Bar, BarType

from kernelext.venues.sandbox.instruments import PAIRS

NS_PER_MIN = 60_000_000_000
MINUTES_PER_YEAR = 525_600
HISTORY_BARS = 2_000
_CHUNK = 4_096
_SUBSTEPS = 4
_WINDOW = _CHUNK  # live bars kept behind the newest chunk (reads go forward)


class OHLCV(NamedTuple):
    """One generated bar as plain floats (rounded to the instrument's precision)."""

    open: float
    high: float
    low: float
    close: float
    volume: float


class BarGenerator:
    """Deterministic bars for one instrument and bar type, history first.

    Bars are made a chunk at a time as float columns; Nautilus ``Bar`` objects are built from
    them in bulk (``Bar.from_raw_arrays_to_list``), a chunk at a time, when first read."""

    def __init__(self, bar_type: BarType, seed: int, anchor_ns: int) -> None:
        symbol = bar_type.instrument_id.symbol.value
        info = PAIRS[symbol]
        self.bar_type = bar_type
        self.interval_ns = int(bar_type.spec.timedelta.total_seconds() * 1e9)
        self.anchor_ns = anchor_ns - anchor_ns % self.interval_ns
        self._price_prec = info.price_precision
        self._size_prec = info.size_precision
        self._rng = np.random.default_rng([seed, zlib.crc32(symbol.encode()), self.interval_ns])
        minutes = self.interval_ns / NS_PER_MIN
        self._sigma0 = info.annual_vol * math.sqrt(minutes / MINUTES_PER_YEAR)
        self._minutes = minutes
        self._notional_per_min = info.notional_per_min
        self._last_close = info.price
        self._var = self._sigma0**2
        self._made = -HISTORY_BARS  # the next bar _extend makes (history is k = -HISTORY_BARS .. -1)
        self._history: _Chunk | None = None  # warm-up requests come any time: kept whole
        self._live: list[_Chunk] = []  # the newest chunks of live bars (a window: older ones are dropped)

    def _extend(self) -> None:
        """Generate the next chunk of bars (GARCH variance, intra-bar sub-steps); drop live chunks
        wholly more than ``_WINDOW`` bars behind it."""
        omega, alpha, beta = 0.05 * self._sigma0**2, 0.08, 0.87
        n = _CHUNK
        z = self._rng.standard_t(df=5, size=n) / math.sqrt(5 / 3)
        sub = self._rng.standard_normal(size=(n, _SUBSTEPS))
        vol_noise = self._rng.lognormal(0.0, 0.35, size=n)
        drift_regime = self._rng.standard_normal(size=n // 256 + 1) * 0.15
        q = 10.0**self._price_prec
        sigma0 = self._sigma0
        # The GARCH recursion and the closes are sequential; everything else is per bar (numpy).
        sigmas, rets, opens, closes, closes_r = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
        var, last_close = self._var, self._last_close
        for i, zi in enumerate(z.tolist()):
            sigma = math.sqrt(var)
            ret = sigma * zi + drift_regime[i // 256] * sigma0
            var = omega + alpha * (sigma * zi) ** 2 + beta * var
            c = last_close * math.exp(ret)
            sigmas[i], rets[i], opens[i], closes[i] = sigma, ret, last_close, c
            last_close = closes_r[i] = round(c * q) / q
        self._var, self._last_close = var, last_close
        sig, o, c, ret = np.array(sigmas), np.array(opens), np.array(closes), np.array(rets)
        # A Brownian bridge through sub-steps gives plausible highs and lows.
        t = np.arange(1, _SUBSTEPS) / _SUBSTEPS
        mid = o[:, None] + (c - o)[:, None] * t
        inner = mid * np.exp(sig[:, None] * 0.5 * sub[:, 1:] * np.sqrt(t * (1 - t)))
        high = np.maximum(np.maximum(inner.max(axis=1), o), c)
        low = np.minimum(np.minimum(inner.min(axis=1), o), c)
        opens_r, close_r = np.round(o * q) / q, np.array(closes_r)  # np.round and round() both round half to even
        high_r = np.maximum(np.maximum(np.round(high * q) / q, opens_r), close_r)
        low_r = np.minimum(np.minimum(np.round(low * q) / q, opens_r), close_r)
        base_units = self._notional_per_min * self._minutes / c
        volume = np.round(vol_noise * (1 + 40 * np.abs(ret) / np.maximum(sig, 1e-12) * sigma0) * base_units, 4) + 0.0001
        chunk = _Chunk(self._made, np.stack([opens_r, high_r, low_r, close_r, volume]))
        self._made += n
        if self._history is None:  # the first chunk: history, then the first live bars
            self._history, chunk = chunk.split(HISTORY_BARS)
        self._live.append(chunk)
        while self._live[0].end <= chunk.start - _WINDOW:
            del self._live[0]

    def _chunk(self, k: int) -> _Chunk:
        if k < -HISTORY_BARS:
            raise IndexError(f"history goes back {HISTORY_BARS} bars")
        while k >= self._made:
            self._extend()
        if k < 0:
            assert self._history is not None
            return self._history
        for chunk in self._live:
            if chunk.start <= k < chunk.end:
                return chunk
        raise LookupError(f"bar {k} was dropped: live bars are read forward (kept from {self._live[0].start})")

    def ohlcv(self, k: int) -> OHLCV:
        """Bar ``k`` (0 = the first live bar; negative = history, down to -HISTORY_BARS).

        A live bar more than a window behind the newest one generated is gone (``LookupError``)."""
        chunk = self._chunk(k)
        return OHLCV(*chunk.cols[:, k - chunk.start].tolist())

    def close_ns(self, k: int) -> int:
        """Close time of bar ``k`` in UTC ns."""
        return self.anchor_ns + k * self.interval_ns

    def bar(self, k: int) -> Bar:
        """Bar ``k`` as a Nautilus ``Bar`` (its chunk's bars are built together, on first read)."""
        chunk = self._chunk(k)
        return self._bars_of(chunk)[k - chunk.start]

    def bars(self, k0: int, k1: int) -> list[Bar]:
        """Bars ``k0`` .. ``k1 - 1`` as Nautilus ``Bar``s, built a chunk at a time."""
        out: list[Bar] = []
        k = k0
        while k < k1:
            chunk = self._chunk(k)
            end = min(k1, chunk.end)
            out += self._bars_of(chunk)[k - chunk.start:end - chunk.start]
            k = end
        return out

    def _bars_of(self, chunk: _Chunk) -> list[Bar]:
        """The chunk's Nautilus bars, built from its columns on first read: the same
        ``Price(float, precision)`` per field as building each bar alone."""
        if chunk.bars is None:
            o, h, lo, c, v = (np.ascontiguousarray(col) for col in chunk.cols)
            ts = (self.anchor_ns + np.arange(chunk.start, chunk.end, dtype=np.int64) * self.interval_ns).astype(np.uint64)
            chunk.bars = Bar.from_raw_arrays_to_list(self.bar_type, self._price_prec, self._size_prec, o, h, lo, c, v,
                                                     ts, ts)
        return chunk.bars

    def index_at_or_before(self, ts_ns: int) -> int:
        """The largest ``k`` whose bar closed at or before ``ts_ns``."""
        return (ts_ns - self.anchor_ns) // self.interval_ns

    def last_history(self, count: int) -> list[Bar]:
        """The last ``count`` history bars (k = -count .. -1), oldest first."""
        count = min(max(count, 0), HISTORY_BARS)
        return self.bars(-count, 0)


class _Chunk:
    """Consecutive bars ``start`` .. ``end - 1`` as columns (open, high, low, close, volume), and
    their Nautilus bars once built."""

    __slots__ = ("start", "cols", "bars")

    def __init__(self, start: int, cols: np.ndarray) -> None:
        self.start = start
        self.cols = cols
        self.bars: list[Bar] | None = None

    @property
    def end(self) -> int:
        return self.start + self.cols.shape[1]

    def split(self, n: int) -> tuple[_Chunk, _Chunk]:
        return _Chunk(self.start, self.cols[:, :n].copy()), _Chunk(self.start + n, self.cols[:, n:].copy())

