"""When a session whose process died is relaunched: at once the first time, then with a
doubling backoff, and at most ``max_per_hour`` times in an hour (then it ends in ``error``).

Only a process that died is relaunched (status still active, or marked ``crashed``): a
session stopped, killed, auto-stopped, finished or failed on its own has a final status
(``stopped`` / ``error``) and is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernelext.ledger import ACTIVE_STATUSES

DIED_STATUSES: tuple[str, ...] = (*ACTIVE_STATUSES, "crashed")
"""Statuses of a session whose process is gone without ending it: the ones to relaunch."""

HOUR_S = 3600.0


@dataclass(frozen=True, slots=True)
class RelaunchPolicy:
    """The first relaunch after ``first_delay_s``, the n-th (n > 1) after ``base_delay_s * 2**(n-2)``, capped."""

    max_per_hour: int = 5
    first_delay_s: float = 0.0
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay(self, recent: int) -> float | None:
        """Seconds to wait before the next relaunch given ``recent`` relaunches in the last hour;
        None when the cap is reached."""
        if recent >= self.max_per_hour:
            return None
        if recent == 0:
            return self.first_delay_s
        return min(self.max_delay_s, self.base_delay_s * 2 ** (recent - 1))

    def give_up_reason(self, recent: int, last_cause: str) -> str:
        """The ``last_error`` of a session that is not relaunched again."""
        return f"relaunched {recent} times in the last hour; not relaunched again (last: {last_cause})"


def should_relaunch(status: str | None) -> bool:
    """True when the session's process died without ending it (a final status is left alone)."""
    return status in DIED_STATUSES
