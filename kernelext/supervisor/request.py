"""Asking for a detached session: its row (no process yet) and a launch request, both in the ledger.

The ledger is the channel (not a socket): it is already how every process reaches a
session (the command queue), a request written while no supervisor runs is picked up
when one starts, and a restarted supervisor finds every detached session there.
"""

from __future__ import annotations

import dataclasses

from kernelext.events import now_ns
from kernelext.ledger import Ledger
from kernelext.session import recording
from kernelext.spec import SessionSpec

LAUNCH = "launch"
"""The command a detached session's row carries: the supervisor takes it and launches the session.
Its presence (taken or not) is also what marks a session as detached."""


def pinned(spec: SessionSpec) -> SessionSpec:
    """The spec with its replay anchor fixed now, so a relaunch replays the same bars."""
    return spec if spec.anchor_ns is not None else dataclasses.replace(spec, anchor_ns=now_ns())


def request_launch(spec: SessionSpec, ledger: Ledger) -> str:
    """Write the session's row (status ``starting``, no pid) and its launch request; returns its id.

    Its notification URLs are kept raw in an owner-only file (``kernelext.notify.store``); the row's
    spec holds them masked."""
    from kernelext.notify import store

    session_id = recording.new_session_id()
    recording.create_row(ledger, session_id, pinned(spec), kind=recording.session_kind(spec), venue=spec.venue, feed=spec.feed,
                         in_this_process=False)
    if spec.notify:
        store.save(session_id, spec.notify)
    ledger.enqueue_command(session_id, LAUNCH)
    return session_id


RESUMABLE_STATUSES: tuple[str, ...] = ("stopped", "crashed", "error")
"""A session that ended (on purpose or not) and can be resumed in a process of its own."""


def request_resume(session_id: str, ledger: Ledger) -> None:
    """Reopen an ended paper session (status ``starting``, no pid) and ask the supervisor to
    launch it restored from the ledger: its orders, positions, balances and strategy states."""
    from kernelext.errors import Refused

    row = ledger.session(session_id) or {}
    if row.get("kind") != "paper":
        raise Refused(f"session: {session_id} is a {row.get('kind') or 'missing'} session; only paper sessions resume")
    if row.get("status") not in RESUMABLE_STATUSES:
        raise Refused(f"session: {session_id} is {row.get('status')}; resume starts sessions that ended "
                      f"({', '.join(RESUMABLE_STATUSES)})")
    ledger.claim_session(session_id, pid=None)
    ledger.enqueue_command(session_id, LAUNCH, {"restore": True})
