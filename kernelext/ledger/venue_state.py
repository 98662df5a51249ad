"""What the ledger keeps about venues: cached instrument lists and IB Gateway health."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kernelext.events import now_ns
from kernelext.ledger.connection import Connections


class VenueState(Connections):
    """The ``instruments`` and ``gateway_health`` tables (part of :class:`~kernelext.ledger.Ledger`)."""

    def cache_instruments(self, venue: str, symbols: Iterable[str]) -> None:
        """Replace the cached instrument list of ``venue`` (e.g. Kraken's spot pairs)."""
        ts = now_ns()
        with self.transaction() as con:
            con.execute("DELETE FROM instruments WHERE venue = ?", (venue,))
            con.executemany(
                "INSERT INTO instruments(venue, symbol, updated_ts) VALUES (?, ?, ?)",
                [(venue, sym, ts) for sym in sorted(set(symbols))],
            )

    def cached_instruments(self, venue: str) -> list[str]:
        """The last instrument list seen for ``venue`` (empty if never fetched)."""
        return [r[0] for r in self.query("SELECT symbol FROM instruments WHERE venue = ? ORDER BY symbol", (venue,))]

    def record_gateway_health(self, gateway: str, previous: str | None, state: str, message: str) -> None:
        """Store one gateway health transition (``gateway`` is ``host:port``)."""
        with self.transaction() as con:
            con.execute(
                "INSERT INTO gateway_health(gateway, ts, state, previous, message) VALUES (?, ?, ?, ?, ?)",
                (gateway, now_ns(), state, previous, message),
            )

    def gateway_health(self, gateway: str | None = None, limit: int = 1) -> list[dict[str, Any]]:
        """The latest health rows, newest first (of one gateway, or of any)."""
        where, params = ("WHERE gateway = ?", (gateway,)) if gateway else ("", ())
        return self.query_dicts(
            f"SELECT gateway, ts, state, previous, message FROM gateway_health {where}"
            " ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
