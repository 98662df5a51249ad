"""Strategies' own state (Nautilus ``on_save`` / ``on_load``) as the ledger keeps it.

``on_save`` returns ``dict[str, bytes]``; the ledger stores it as JSON with base64 values.
The telemetry actor asks each strategy on its flush cadence and stores only a state that
changed; a relaunched or resumed session hands the last one to ``on_load`` before the
strategy starts.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)

StoredState = dict[str, str]
"""A strategy state as stored: its keys with base64-encoded values."""


def encode(state: Mapping[str, bytes]) -> StoredState:
    """``{"step": b"12.5"}`` -> ``{"step": "MTIuNQ=="}``."""
    return {k: base64.b64encode(bytes(v)).decode("ascii") for k, v in state.items()}


def decode(stored: Mapping[str, str]) -> dict[str, bytes]:
    """The inverse of ``encode``: what ``on_load`` receives."""
    return {k: base64.b64decode(v) for k, v in stored.items()}


class StateSaver:
    """Remembers each strategy's last stored state; yields the ones that changed."""

    def __init__(self) -> None:
        self._last: dict[str, StoredState] = {}
        self._failed: set[str] = set()

    def changed(self, strategies: Mapping[str, Any]) -> Iterator[tuple[str, StoredState]]:
        """(strategy id, encoded state) for every strategy whose ``on_save`` differs from the
        last stored one (``on_save`` itself is called: Nautilus's ``save`` logs every call)."""
        for strategy_id, strategy in strategies.items():
            try:
                raw = strategy.on_save()
            except Exception as e:  # noqa: BLE001  (a strategy's bug must not stop the session's telemetry)
                if strategy_id not in self._failed:
                    self._failed.add(strategy_id)
                    log.warning("%s: on_save raised %s; its state is not saved", strategy_id, e)
                continue
            if not raw:
                continue
            stored = encode(raw)
            if stored != self._last.get(strategy_id):
                self._last[strategy_id] = stored
                yield strategy_id, stored

    def seed(self, strategy_id: str, stored: StoredState) -> None:
        """The state a restored strategy was loaded with (not stored again unless it changes)."""
        self._last[strategy_id] = dict(stored)
