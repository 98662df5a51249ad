"""This process's live sessions: the one table of running ``SessionRunner`` objects.

It imports nothing of Nautilus, so the facade can ask "does this session run here?"
without loading a node's worth of modules.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_runners: dict[str, Any] = {}


def add(session_id: str, runner: Any) -> None:
    """Register a runner as live in this process."""
    with _lock:
        _runners[session_id] = runner


def remove(session_id: str) -> None:
    """Forget a runner (its session has ended, or never started)."""
    with _lock:
        _runners.pop(session_id, None)


def get(session_id: str) -> Any | None:
    """The live runner of ``session_id`` in this process, or None."""
    with _lock:
        return _runners.get(session_id)


def runners() -> dict[str, Any]:
    """A copy of the table: session id -> runner."""
    with _lock:
        return dict(_runners)


def ids() -> set[str]:
    """Ids of the sessions live in this process."""
    with _lock:
        return set(_runners)
