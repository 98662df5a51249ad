"""A test strategy for venue sessions: buy on the first live bar, sell it back ``hold_bars`` bars
later, once per session; registered as ``test_round_trip`` by the ``round_trip_strategy`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import kernelext
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry

KEY = "test_round_trip"


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
    """Registered for the tests of a module that imports this fixture (the registry is process-wide)."""
    kernelext.register(KEY)(RoundTrip)
    yield
    registry.unregister(KEY)
