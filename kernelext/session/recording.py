"""A session's record in the ledger, the same for paper and backtest: its row (with its
sleeves) when it starts, and when it ends its final event, its writer drained and closed,
and its final status."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from kernelext.events import Event, now_ns
from kernelext.ledger import Ledger, spool_dir
from kernelext.ledger.busy import when_free
from kernelext.session.sleeves import sleeve_rows
from kernelext.spec import SessionSpec


def new_session_id() -> str:
    """A new session id: UTC start time and six hex digits (``20250101-120000-1a2b3c``)."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def session_kind(spec: SessionSpec) -> str:
    """``live`` for a real-money venue's session, else ``paper`` (a backtest's row says ``backtest``)."""
    from kernelext import venues

    return "live" if venues.get(spec.venue).real_money else "paper"


def create_row(ledger: Ledger, session_id: str, spec: SessionSpec, *, kind: str, venue: str, feed: str,
               status: str | None = None, in_this_process: bool = True) -> None:
    """Write the session's row and its sleeves (status: the ledger's default, ``starting``, or ``status``;
    ``in_this_process=False``: no pid yet, the process that runs it claims the row)."""
    ledger.create_session(
        session_id,
        label=spec.label,
        kind=kind,
        venue=venue,
        feed=feed,
        spec=spec.to_dict(),
        sleeves=sleeve_rows(spec),
        started_at=now_ns(),
        in_this_process=in_this_process,
        **({"status": status} if status else {}),
    )


def claim_row(ledger: Ledger, session_id: str, spec: SessionSpec) -> None:
    """Start an existing row (a detached session's, written by whoever asked for it) in this process."""
    import os

    ledger.claim_session(session_id, pid=os.getpid(), feed=spec.feed)


def finish(ledger: Ledger, writer: Any, publish: Callable[[Event], None], session_id: str, *, status: str,
           message: str, error: str | None, extras: dict[str, Any]) -> str | None:
    """Publish ``session.stopped`` or ``session.error``, close the writer (it waits until everything
    is committed, or spooled when the ledger stays busy: said in ``last_error``), set the final
    status (waiting for a busy ledger). Returns the spool note, if any."""
    stage = "session.error" if status == "error" else "session.stopped"
    publish(Event(session_id, None, stage, message, now_ns(), extras))
    note = None
    try:
        writer.close()
        note = spool_note(ledger, writer.spooled)
    finally:
        ended = now_ns()
        when_free(lambda: ledger.set_status(session_id, status, ended_at=ended, last_error=error or note),
                  what="session status")
        if (ledger.session(session_id) or {}).get("kind") == "live":  # real money: its stop is audited too
            when_free(lambda: ledger.append_audit(f"session {session_id}", "live.stop", {
                "session_id": session_id, "status": status, "message": message, "error": error}),
                what="audit row")
    return note


def spool_note(ledger: Ledger, spooled: int) -> str | None:
    """What a person needs to know about events left in the spool (None when there are none)."""
    if not spooled:
        return None
    return (f"ledger was busy: {spooled} events spooled to {spool_dir(ledger.path)}; "
            "they are replayed into the ledger on its next open")
