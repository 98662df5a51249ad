"""What the supervisor does for a detached session besides keeping it alive: its report schedule,
its end, and its notifications.

Each round (``tick``) it is handed the sessions the supervisor watches. A session with a schedule
or notification URLs gets a ``Duty``:

- **Reports.** When a period is due, ``python -m kernelext.supervisor.report_job ID`` writes the
  report (and sends it) in a process of its own: a report re-runs a backtest, which must not hold
  up the supervisor's 0.25 s watch. One job at a time per session; a period that falls while the
  previous report is still being written is skipped.
- **The end** (``report_at``): a ``stop`` goes through the ledger's command queue (as ``paperlab
  stop``); SIGTERM if the session has not stopped ``STOP_GRACE_S`` later. When the session has
  ended (that way or any other), its final report is written and sent (``report_job --final``).
- **Notifications** (``Outbox``: a thread of their own): relaunches, risk halts and fills (summed,
  at most one message per period) from the session's new events in the ledger; an end in
  ``error`` (its own failure, or relaunched too often) from its row once the supervisor lets it go.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import IO

from kernelext.events import now_ns
from kernelext.ledger import Ledger, pid_alive, queries
from kernelext.notify import messages, store
from kernelext.notify.digest import FillDigest
from kernelext.notify.messages import Message
from kernelext.notify.notifier import Notifier, Outbox
from kernelext.notify.urls import ENV
from kernelext.supervisor import files
from kernelext.supervisor.schedule import Schedule

ALERT_STAGES = ("session.relaunched", "risk.halted", "risk.margin_call", "risk.liquidated", "order.filled")
STOP_GRACE_S = 60.0


@dataclass
class Duty:
    """One session's schedule, notifier and report job, as the supervisor keeps them."""

    session_id: str
    label: str | None
    notifier: Notifier
    schedule: Schedule | None = None
    fills: FillDigest | None = None
    next_report_ns: int | None = None
    job: subprocess.Popen | None = None
    job_final: bool = False
    stop_sent: float | None = None  # monotonic time the end's stop was queued
    term_sent: bool = False
    ended: bool = False
    final_due: bool = False


class Duties:
    """Every ``Duty`` of one supervisor."""

    def __init__(self, ledger: Ledger, log: logging.Logger) -> None:
        self.ledger = ledger
        self.log = log
        self.duties: dict[str, Duty] = {}
        self._seen: set[str] = set()
        self._after_id: int | None = None  # events read up to here
        self._outbox: Outbox | None = None

    def tick(self, watched: Collection[str]) -> None:
        """One round: take on newly watched sessions, read their new events, keep schedules, end duties."""
        for session_id in watched:
            if session_id not in self._seen:
                self._seen.add(session_id)
                self._track(session_id)
        self._seen &= set(watched) | set(self.duties)
        self._scan()
        at_ns, now = now_ns(), time.monotonic()
        for duty in list(self.duties.values()):
            self._poll_job(duty)
            if duty.session_id in watched:
                self._keep(duty, at_ns, now)
            else:
                self._finish(duty)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (report jobs running keep running and send their own)."""
        if self._outbox is not None:
            self._outbox.close(timeout)

    # -- taking a session on -----------------------------------------------------------------

    def _track(self, session_id: str) -> None:
        row = self.ledger.session(session_id)
        if row is None:
            return
        spec = row.get("spec") or {}
        urls = store.load(session_id)
        schedule = Schedule.from_spec(spec, row.get("started_at") or now_ns())
        if not urls and schedule is None:
            return
        duty = Duty(session_id, row.get("label"), Notifier(urls, self.log), schedule)
        if urls and spec.get("notify_fills_s"):
            duty.fills = FillDigest(float(spec["notify_fills_s"]))
        if schedule is not None:
            duty.next_report_ns = schedule.next_report_ns(now_ns())
        self.duties[session_id] = duty
        self.log.info("%s: %s", session_id, _describe(duty, spec))

    # -- notifications from the ledger's new events ------------------------------------------

    def _scan(self) -> None:
        if not any(d.notifier for d in self.duties.values()):
            self._after_id = None
            return
        top = queries.max_event_id(self.ledger)
        if self._after_id is None:
            self._after_id = top
            return
        rows = queries.stage_events_after(self.ledger, self._after_id, top, ALERT_STAGES)
        self._after_id = rows[-1][0] if len(rows) >= 1000 else top
        for _id, session_id, stage, message, _ts, extras_json in rows:
            duty = self.duties.get(session_id)
            if duty is None or not duty.notifier:
                continue
            extras = json.loads(extras_json or "{}")
            if stage == "session.relaunched":
                self._post(duty, messages.relaunched(session_id, duty.label, int(extras.get("attempt") or 0),
                                                     str(extras.get("reason") or message)))
            elif stage in ("risk.halted", "risk.margin_call", "risk.liquidated"):
                self._post(duty, messages.risk_halted(session_id, duty.label, message))
            elif stage == "order.filled" and duty.fills is not None:
                duty.fills.add(extras)

    def _post(self, duty: Duty, message: Message) -> None:
        if self._outbox is None:
            self._outbox = Outbox()
        self._outbox.post(duty.notifier, message)

    def _post_fills(self, duty: Duty, now: float) -> None:
        if duty.fills is not None and duty.fills.pending:
            count, last, since = duty.fills.take(now)
            self._post(duty, messages.fills(duty.session_id, duty.label, count, last, since))

    # -- schedule and end --------------------------------------------------------------------

    def _keep(self, duty: Duty, at_ns: int, now: float) -> None:
        if duty.fills is not None and duty.fills.due(now):
            self._post_fills(duty, now)
        s = duty.schedule
        if s is None:
            return
        if s.ended(at_ns):
            self._end(duty, now)
        elif duty.next_report_ns is not None and at_ns >= duty.next_report_ns:
            if duty.job is None:
                self._start_job(duty, final=False)
            else:
                self.log.info("%s: a report is due while the previous one is being written: skipped", duty.session_id)
            duty.next_report_ns = s.next_report_ns(at_ns)

    def _end(self, duty: Duty, now: float) -> None:
        """``report_at`` has come: stop through the command queue; SIGTERM if it has not stopped in time."""
        if duty.stop_sent is None:
            self.ledger.enqueue_command(duty.session_id, "stop")
            duty.stop_sent = now
            self.log.info("%s: report_at reached: stop sent", duty.session_id)
        elif not duty.term_sent and now - duty.stop_sent > STOP_GRACE_S:
            duty.term_sent = True
            pid = (queries.session_process_row(self.ledger, duty.session_id) or {}).get("pid")
            if pid and pid_alive(pid):
                self.log.warning("%s: no stop within %gs of report_at: SIGTERM to pid %d", duty.session_id,
                                 STOP_GRACE_S, pid)
                os.kill(pid, signal.SIGTERM)

    def _finish(self, duty: Duty) -> None:
        """The supervisor let the session go (it ended, or was relaunched too often)."""
        if not duty.ended:
            duty.ended = True
            row = self.ledger.session(duty.session_id) or {}
            if row.get("status") == "error":
                self._post(duty, messages.session_error(duty.session_id, duty.label, row.get("last_error")))
            self._post_fills(duty, time.monotonic())
            duty.final_due = duty.schedule is not None and bool(row)
        if duty.final_due and duty.job is None:
            duty.final_due = False
            self._start_job(duty, final=True)
        elif duty.job is None:
            store.forget(duty.session_id)
            del self.duties[duty.session_id]

    # -- report jobs -------------------------------------------------------------------------

    def _start_job(self, duty: Duty, *, final: bool) -> None:
        """``python -m kernelext.supervisor.report_job ID [--final]`` (its output: logs/report-<id>.log)."""
        out: IO[bytes] = open(files.log_path(f"report-{duty.session_id}"), "ab")  # noqa: SIM115  (the child keeps it)
        env = {k: v for k, v in os.environ.items() if k != ENV}  # only the session's own URLs are used
        with out:
            duty.job = subprocess.Popen(
                [sys.executable, "-m", "kernelext.supervisor.report_job", duty.session_id, *(["--final"] * final)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True,
            )
        duty.job_final = final
        self.log.info("%s: writing its %s (pid %d)", duty.session_id, "final report" if final else "report",
                      duty.job.pid)

    def _poll_job(self, duty: Duty) -> None:
        if duty.job is not None and duty.job.poll() is not None:
            code = duty.job.returncode
            what = "final report" if duty.job_final else "report"
            if code == 0:
                self.log.info("%s: %s written", duty.session_id, what)
            else:
                self.log.warning("%s: %s failed (exit code %d; log %s)", duty.session_id, what, code,
                                 files.log_path(f"report-{duty.session_id}"))
            duty.job = None


def _describe(duty: Duty, spec: dict) -> str:
    """What the supervisor keeps for a session, in one line (URLs masked)."""
    parts = []
    if spec.get("report_every_s"):
        parts.append(f"a report every {spec['report_every_s']:g}s")
    if spec.get("report_at"):
        parts.append(f"the end at {spec['report_at']}")
    if duty.notifier:
        parts.append("notifications to " + ", ".join(duty.notifier.masked)
                     + (f" (fills: at most one message per {duty.fills.every_s:g}s)" if duty.fills else ""))
    return "keeps " + "; ".join(parts)
