"""A detached session's schedule: a report every period, and an end (``report_at``) at which the
session is stopped, its final report written and sent. Pure decisions on times; the supervisor's
``duties`` carry them out.

Periods count from the session's start, so a restarted supervisor keeps the same beat: the next
report is the first period boundary after now (one missed while a report was still being written
is skipped, not piled up).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Schedule:
    """``every_s``: seconds between reports (None: none); ``end_ns``: the end's UTC time in ns (None: none)."""

    anchor_ns: int
    every_s: float | None = None
    end_ns: int | None = None

    @classmethod
    def from_spec(cls, spec: dict[str, Any], anchor_ns: int) -> Schedule | None:
        """The schedule of a stored spec (``report_every_s``, ``report_at``), or None when it has none."""
        every, at = spec.get("report_every_s"), spec.get("report_at")
        if not every and not at:
            return None
        end = int(dt.datetime.fromisoformat(at).timestamp() * 1e9) if at else None
        return cls(anchor_ns=anchor_ns, every_s=float(every) if every else None, end_ns=end)

    def next_report_ns(self, now_ns: int) -> int | None:
        """The first period boundary after ``now_ns`` (None: no periodic reports, or it falls at or past the end)."""
        if not self.every_s:
            return None
        step = int(self.every_s * 1e9)
        due = self.anchor_ns + step * (math.floor((now_ns - self.anchor_ns) / step) + 1)
        return None if self.end_ns is not None and due >= self.end_ns else due

    def ended(self, now_ns: int) -> bool:
        """The end has come: stop the session, write the final report, notify."""
        return self.end_ns is not None and now_ns >= self.end_ns
