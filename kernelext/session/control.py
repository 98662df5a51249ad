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


def send_all(session_ids: list[str], command: str, *, ledger: Ledger | None = None,
             timeout: float = 10.0) -> dict[str, str]:
    """Carry out ``command`` on every session at once: runners here each on a thread of their own,
    the others through the command queue; every command is sent before any is waited for.
    Returns session id -> result text ("ok", or why not)."""
    import threading

    if command not in CONTROL_VERBS:
        raise SpecError(f"command: {command!r} is not a control; allowed: {', '.join(CONTROL_VERBS)}")
    ledger = ledger or Ledger()
    results: dict[str, str] = {}
    threads: list[threading.Thread] = []
    queued: dict[str, int] = {}
    for session_id in session_ids:
        runner = live.get(session_id)
        if runner is not None:
            thread = threading.Thread(target=_run_here, args=(runner, command, results), daemon=True,
                                      name=f"paperlab-{command}-{session_id[-6:]}")
            thread.start()
            threads.append(thread)
        else:
            queued[session_id] = ledger.enqueue_command(session_id, command)
    deadline = time.monotonic() + timeout
    while queued and time.monotonic() < deadline:
        for session_id, command_id in list(queued.items()):
            result = (ledger.command(command_id) or {}).get("result")
            if result is not None:
                results[session_id] = result
                del queued[session_id]
        if queued:
            time.sleep(POLL_INTERVAL_S)
    for session_id in queued:
        results[session_id] = f"did not answer within {timeout:g}s (is its process alive?)"
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return results


def _run_here(runner: object, command: str, results: dict[str, str]) -> None:
    """One control on a runner of this process (a thread of ``send_all``)."""
    from kernelext.errors import one_line

    try:
        getattr(runner, command)()
        results[runner.session_id] = "ok"  # type: ignore[attr-defined]
    except Exception as e:  # noqa: BLE001  (reported per session)
        results[runner.session_id] = one_line(e)  # type: ignore[attr-defined]
