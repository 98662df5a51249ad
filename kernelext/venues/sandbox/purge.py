"""Cache purges on a replay's clock: a long replay's memory stays flat.

The node's own purge timers (``LiveExecEngineConfig.purge_*``, see ``kernelext.session.node``)
run on the wall clock: every 15 minutes, for what closed an hour ago. A replay at full speed
plays months of bars in minutes, so they never fire, and every order (a denied one too), every
closed position and every account event stays in the cache for good. Here the replay calls
Nautilus's own purges (``Cache.purge_closed_orders``, ``purge_closed_positions``,
``purge_account_events``) every ``INTERVAL_NS`` of market time, the bars' close times.

Nothing is kept back: the sandbox handles each order to its end before the next bar goes out
(in lock-step at full speed), so no event comes late for a closed order. "Now" is the later of
the node's clock and the bar's: in a replay an order's close time is the sandbox's market time
(a fill) or the node's wall time (a denial), and both are before it. Open orders and open
positions are never purged (restore, flatten and kill read them); the account keeps its latest
event. The ledger holds the session's history.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.model.data import Bar

INTERVAL_NS = 15 * 60 * 1_000_000_000  # the node's purge cadence, in market time


class ReplayPurge:
    """Purges a node's cache of what is closed, every ``interval_ns`` of the bars' time."""

    def __init__(self, cache: Any, clock: Any, interval_ns: int = INTERVAL_NS) -> None:
        self._cache = cache
        self._clock = clock
        self._interval_ns = interval_ns
        self._next_ns: int | None = None

    def __call__(self, bar: Bar) -> None:
        """Before ``bar`` goes out: purge if ``interval_ns`` of market time passed since the last."""
        ts = bar.ts_event
        if self._next_ns is None:
            self._next_ns = ts + self._interval_ns
        elif ts >= self._next_ns:
            self._next_ns = ts + self._interval_ns
            self.purge(max(ts, self._clock.timestamp_ns()))

    def purge(self, now_ns: int) -> None:
        """Closed orders, closed positions (and their snapshots), account events but the latest."""
        self._cache.purge_closed_orders(ts_now=now_ns, buffer_secs=0)
        self._cache.purge_closed_positions(ts_now=now_ns, buffer_secs=0)
        self._cache.purge_account_events(ts_now=now_ns, lookback_secs=0)
