"""Controls that work from any process: pause, resume, flatten, kill, stop.

A session running in this process is controlled directly through its runner. A
session running elsewhere (a notebook's, seen from the standalone app or the CLI)
gets the command through the ledger's ``commands`` queue; its runner polls the
queue on a thread of its own and records the result, which we wait for.
"""

from __future__ import annotations

import time

from kernelext.errors import ControlError, Refused, SpecError
from kernelext.events import CONTROL_VERBS
from kernelext.ledger import ACTIVE_STATUSES, Ledger
from kernelext.session import live

POLL_INTERVAL_S = 0.05


def send(session: str, command: str, *, ledger: Ledger | None = None, timeout: float = 10.0) -> str:
    """Carry out ``command`` on ``session`` (id, prefix or 'latest'); returns the result text."""
    if command not in CONTROL_VERBS:
        raise SpecError(f"command: {command!r} is not a control; allowed: {', '.join(CONTROL_VERBS)}")
    ledger = ledger or Ledger()
    session_id = ledger.resolve_session(session)
    runner = live.get(session_id)
    if runner is not None:
        getattr(runner, command)()
        return "ok"
    row = ledger.session(session_id) or {}
    if row.get("status") not in ACTIVE_STATUSES:
        raise Refused(f"session: {session_id} is not running (status {row.get('status')})")
    command_id = ledger.enqueue_command(session_id, command)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = ledger.command(command_id) or {}
        if done.get("result") is not None:
            if done["result"] != "ok":
                raise ControlError(f"{command} failed: {done['result']}")
            return "ok"
        time.sleep(POLL_INTERVAL_S)
    raise ControlError(f"{command}: session {session_id} did not answer within {timeout:g}s (is its process alive?)")
