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
from nautilus_trader.model.objects import Price, Quantity

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
    """Deterministic bars for one instrument and bar type, history first."""

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
        self._history: list[OHLCV] = []  # k = -HISTORY_BARS .. -1 (warm-up requests come any time)
        self._live: list[OHLCV] = []  # k = self._live_start .. (a window: older bars are dropped)
        self._live_start = 0

    def _extend(self) -> None:
        """Generate the next chunk of bars (GARCH variance, intra-bar sub-steps); drop live bars
        more than ``_WINDOW`` behind it."""
        drop = max(0, len(self._live) - _WINDOW)
        if drop:
            del self._live[:drop]
            self._live_start += drop
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
        sig, o, c = np.array(sigmas), np.array(opens), np.array(closes)
        # A Brownian bridge through sub-steps gives plausible highs and lows.
        t = np.arange(1, _SUBSTEPS) / _SUBSTEPS
        mid = o[:, None] + (c - o)[:, None] * t
        inner = mid * np.exp(sig[:, None] * 0.5 * sub[:, 1:] * np.sqrt(t * (1 - t)))
        high = np.maximum(np.maximum(inner.max(axis=1), o), c)
        low = np.minimum(np.minimum(inner.min(axis=1), o), c)
        high_r, low_r = (np.round(high * q) / q).tolist(), (np.round(low * q) / q).tolist()
        opens_r = (np.round(o * q) / q).tolist()  # np.round and round() both round half to even
        base_units = (self._notional_per_min * self._minutes / c).tolist()
        noise = vol_noise.tolist()
        for i in range(n):
            o_r, c_r, ret, sigma = opens_r[i], closes_r[i], rets[i], sigmas[i]
            volume = round(noise[i] * (1 + 40 * abs(ret) / max(sigma, 1e-12) * sigma0) * base_units[i], 4) + 0.0001
            bar = OHLCV(o_r, max(high_r[i], o_r, c_r), min(low_r[i], o_r, c_r), c_r, volume)
            (self._history if len(self._history) < HISTORY_BARS else self._live).append(bar)

    def ohlcv(self, k: int) -> OHLCV:
        """Bar ``k`` (0 = the first live bar; negative = history, down to -HISTORY_BARS).

        A live bar more than a window behind the newest one generated is gone (``LookupError``)."""
        if k < -HISTORY_BARS:
            raise IndexError(f"history goes back {HISTORY_BARS} bars")
        if k < 0:
            while len(self._history) < HISTORY_BARS:
                self._extend()
            return self._history[k + HISTORY_BARS]
        while k >= self._live_start + len(self._live):
            self._extend()
        if k < self._live_start:
            raise LookupError(f"bar {k} was dropped: live bars are read forward (kept from {self._live_start})")
        return self._live[k - self._live_start]

    def close_ns(self, k: int) -> int:
        """Close time of bar ``k`` in UTC ns."""
        return self.anchor_ns + k * self.interval_ns

    def bar(self, k: int) -> Bar:
        """Bar ``k`` as a Nautilus ``Bar``."""
        b = self.ohlcv(k)
        p = self._price_prec
        ts = self.close_ns(k)
        return Bar(
            self.bar_type,
            Price(b.open, p),
            Price(b.high, p),
            Price(b.low, p),
            Price(b.close, p),
            Quantity(b.volume, self._size_prec),
            ts,
            ts,
        )

    def index_at_or_before(self, ts_ns: int) -> int:
        """The largest ``k`` whose bar closed at or before ``ts_ns``."""
        return (ts_ns - self.anchor_ns) // self.interval_ns

    def last_history(self, count: int) -> list[Bar]:
        """The last ``count`` history bars (k = -count .. -1), oldest first."""
        count = min(max(count, 0), HISTORY_BARS)
        return [self.bar(k) for k in range(-count, 0)]
