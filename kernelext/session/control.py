"""Controls that work from any process: pause, resume, flatten, kill, stop.

A session running in this process is controlled directly through its runner. A
session running elsewhere (a notebook's, seen from the standalone app or the CLI)
gets the command through the ledger's ``commands`` queue; its runner polls the
queue on a thread of its own and records the result, which we wait for.
"""

from __future__ import annotations

import sys
import time

from kernelext.ledger import Ledger

COMMANDS = ("pause", "resume", "flatten", "kill", "stop")
POLL_INTERVAL_S = 0.05


class ControlError(RuntimeError):
    """A control could not be carried out; one line for the user."""


def live_session_ids() -> set[str]:
    """Ids of the sessions running in this process (none if no runner was ever imported)."""
    module = sys.modules.get("kernelext.session.runner")
    return set(module.SessionRunner.live()) if module is not None else set()


def _live_runner(session_id: str):
    """The runner of ``session_id`` if it runs in this process (no Nautilus import otherwise)."""
    module = sys.modules.get("kernelext.session.runner")
    return module.SessionRunner.live().get(session_id) if module is not None else None


def send(session: str, command: str, *, ledger: Ledger | None = None, timeout: float = 10.0) -> str:
    """Carry out ``command`` on ``session`` (id, prefix or 'latest'); returns the result text."""
    if command not in COMMANDS:
        raise ControlError(f"command: {command!r} is not a control; allowed: {', '.join(COMMANDS)}")
    ledger = ledger or Ledger()
    session_id = ledger.resolve_session(session)
    runner = _live_runner(session_id)
    if runner is not None:
        getattr(runner, command)()
        return "ok"
    row = ledger.session(session_id) or {}
    if row.get("status") not in ("starting", "running", "paused"):
        raise ControlError(f"session {session_id} is not running (status {row.get('status')})")
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
