"""Fills, summed: the first at once, then at most one message per period with the count since."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FillDigest:
    """Counts fills between messages; ``due`` says when one may go, ``take`` empties it."""

    every_s: float
    pending: int = 0
    last: dict[str, Any] = field(default_factory=dict)
    sent_at: float | None = None  # monotonic time of the previous message

    def add(self, extras: dict[str, Any]) -> None:
        """One more fill (its event's extras)."""
        self.pending += 1
        self.last = extras

    def due(self, now: float) -> bool:
        """A message may go now: fills are waiting and the period since the previous one is over."""
        return self.pending > 0 and (self.sent_at is None or now - self.sent_at >= self.every_s)

    def take(self, now: float) -> tuple[int, dict[str, Any], float | None]:
        """(fills waiting, the latest one's extras, seconds since the previous message) and start over."""
        taken = (self.pending, self.last, None if self.sent_at is None else now - self.sent_at)
        self.pending, self.sent_at = 0, now
        return taken
