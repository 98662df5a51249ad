"""A session's record in the ledger, the same for paper and backtest: its row (with its
sleeves) when it starts, and when it ends its final event, its writer drained and closed,
and its final status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernelext.events import Event, now_ns
from kernelext.ledger import Ledger
from kernelext.session.sleeves import sleeve_rows
from kernelext.spec import SessionSpec


def create_row(ledger: Ledger, session_id: str, spec: SessionSpec, *, kind: str, venue: str, feed: str,
               status: str | None = None) -> None:
    """Write the session's row and its sleeves (status: the ledger's default, ``starting``, or ``status``)."""
    ledger.create_session(
        session_id,
        label=spec.label,
        kind=kind,
        venue=venue,
        feed=feed,
        spec=spec.to_dict(),
        sleeves=sleeve_rows(spec),
        started_at=now_ns(),
        **({"status": status} if status else {}),
    )


def finish(ledger: Ledger, writer: Any, publish: Callable[[Event], None], session_id: str, *, status: str,
           message: str, error: str | None, extras: dict[str, Any]) -> None:
    """Publish ``session.stopped`` or ``session.error``, close the writer (it drains), set the final status."""
    stage = "session.error" if status == "error" else "session.stopped"
    publish(Event(session_id, None, stage, message, now_ns(), extras))
    try:
        writer.close()
    finally:
        ledger.set_status(session_id, status, ended_at=now_ns(), last_error=error)
