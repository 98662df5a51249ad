"""One detached session in a process of its own: ``python -m kernelext.supervisor.session_process ID``.

It loads the stored spec from the ledger, claims the session's row (its pid becomes this
process's), and runs a ``SessionRunner`` with the same session id until the session ends;
controls arrive through the ledger's command queue as for any session of another process.
``--attempt N`` (N > 0): a relaunch; ``--restore``: a resume of a stopped or crashed session.
Both continue where the session was: the ledger's orders, fills and strategy states are put
back before it trades (``kernelext.session.restore``) and a replay continues after the last
recorded live bar. SIGTERM stops the session (``terminated``).
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from typing import Any



def main(argv: list[str] | None = None) -> int:
    """Run the session; 0 when it ended (stopped or error recorded), 1 when it could not start."""
    p = argparse.ArgumentParser(prog="kernelext.supervisor.session_process")
    p.add_argument("session_id")
    p.add_argument("--attempt", type=int, default=0, help="0: first launch; N: the N-th relaunch")
    p.add_argument("--restore", action="store_true", help="a resumed session: restore it from the ledger")
    ns = p.parse_args(argv)

    from kernelext.errors import one_line
    from kernelext.ledger import Ledger

    ledger = Ledger()
    try:
        runner = _runner(ns.session_id, ns.attempt, ledger, restore=ns.restore)
        runner.start()
    except Exception as e:  # noqa: BLE001  (recorded as the session's error: not relaunched)
        _record_error(ledger, ns.session_id, one_line(e).splitlines()[0])
        print(f"session {ns.session_id}: {one_line(e)}", file=sys.stderr)
        return 1
    stopping: list[str] = []

    def on_term(signum: int, frame: Any) -> None:
        stopping.append("terminated")

    signal.signal(signal.SIGTERM, on_term)
    while not runner.wait(0.2):
        if stopping:
            runner.stop(reason=stopping[0])
    runner.join_commands()  # the kill/stop that ended it gets its answer before we exit
    return 0


def _runner(session_id: str, attempt: int, ledger: Any, *, restore: bool = False) -> Any:
    """The session's runner over its stored spec (a relaunch or resume continues where it was)."""
    from kernelext.errors import NotFound
    from kernelext.ledger import queries
    from kernelext.session.runner import SessionRunner
    from kernelext.spec import spec_from_dict

    row = ledger.session(session_id)
    if row is None:
        raise NotFound(f"session: {session_id} is not in the ledger")
    spec = spec_from_dict(row["spec"])
    if "…" in spec.account_id:  # the ledger keeps account ids masked: the venue's env account (this process's)
        spec = dataclasses.replace(spec, account_id="")
    notes: tuple[str, ...] = ()
    restore = restore or attempt > 0
    if restore:
        spec = dataclasses.replace(spec, resume_after_ns=queries.resume_after_ts(ledger, session_id))
        notes = (f"relaunched (attempt {attempt})",) if attempt > 0 else ("resumed",)
    return SessionRunner(spec, ledger=ledger, session_id=session_id, existing=True, notes=notes, restore=restore)


def _record_error(ledger: Any, session_id: str, message: str) -> None:
    """A start that failed ends the session in ``error`` (the supervisor does not relaunch it)."""
    from kernelext.events import now_ns

    try:
        ledger.set_status(session_id, "error", ended_at=now_ns(), last_error=message)
    except ValueError:
        pass  # the row is gone (deleted): nothing to record


if __name__ == "__main__":
    sys.exit(main())
