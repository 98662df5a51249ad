"""The supervisor: launches detached sessions, watches their processes, relaunches the dead.

One per ``PAPERLAB_HOME`` (the pid file's ``flock``). Every ``POLL_S`` it

- takes the ledger's launch requests and starts each session's process;
- checks every watched process: when one is gone, the session's row says why. A final status
  (``stopped``, ``error``) means it ended on purpose: forgotten. An active status or ``crashed``
  means the process died: relaunched (same session id, a ``session.relaunched`` event with the
  attempt) after the policy's backoff, or, past the cap, ended in ``error`` with the reason.

At start it adopts the detached sessions still running (their pids alive) and relaunches
those whose process is gone. Stopping the supervisor (SIGTERM/SIGINT) leaves sessions running.
Each round ends with the watched sessions' ``duties``: report schedules, the end, notifications.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from kernelext.events import Event, now_ns
from kernelext.ledger import Ledger, pid_alive, queries
from kernelext.supervisor import files
from kernelext.supervisor.duties import Duties
from kernelext.supervisor.policy import DIED_STATUSES, HOUR_S, RelaunchPolicy, should_relaunch
from kernelext.supervisor.cluster import DEAD
from kernelext.supervisor.request import LAUNCH

log = logging.getLogger("paperlab.supervisor")

POLL_S = 0.25


@dataclass
class Watched:
    """One detached session's process as the supervisor knows it."""

    session_id: str
    pid: int | None = None
    proc: subprocess.Popen | None = None  # None: adopted (not our child) or waiting to relaunch
    attempts: int = 0  # relaunches so far (the next one is attempts + 1)
    due: float | None = None  # monotonic time of a pending relaunch
    cause: str = ""
    history: list[float] = field(default_factory=list)  # wall times of relaunches (the last hour counts)

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def exit_cause(self) -> str:
        if self.proc is not None and self.proc.returncode is not None:
            code = self.proc.returncode
            if code == DEAD:
                return f"process {self.pid} is gone with its cluster node or actor"
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            return f"process {self.pid} ended ({how})"
        return f"process {self.pid} is gone"


class Supervisor:
    """Launch, watch, relaunch and adopt detached sessions of one ledger."""

    def __init__(self, ledger: Ledger | None = None, policy: RelaunchPolicy | None = None,
                 launcher: Any = None) -> None:
        """``launcher``: a ``cluster.RayLauncher`` places sessions on a Ray cluster (None: processes here)."""
        self.ledger = ledger or Ledger()
        self.launcher = launcher
        self.policy = policy or RelaunchPolicy()
        self.watched: dict[str, Watched] = {}
        self.host = socket.gethostname()
        self._stop = False
        self.duties = Duties(self.ledger, log)  # report schedules, the end, notifications

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Adopt, then poll until SIGTERM/SIGINT."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        self.adopt()
        log.info("supervising %s (pid %d)", self.ledger.where, os.getpid())
        while not self._stop:
            try:
                self.tick()
            except Exception:  # noqa: BLE001  (a busy ledger must not end the supervisor)
                log.exception("tick failed")
            time.sleep(POLL_S)
        self.duties.close()
        log.info("supervisor stopping; %d session(s) keep running", sum(w.alive() for w in self.watched.values()))

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop = True

    def tick(self) -> None:
        """One round: new launch requests, then every watched process."""
        for command_id, session_id, args in self.ledger.take_named(LAUNCH):
            w = self.watched.setdefault(session_id, Watched(session_id))
            w.cause, w.due = "", None  # asked for (maybe while no supervisor ran): a launch, not a relaunch
            self._launch(w, restore=bool(args.get("restore")))  # restore: a resumed session
            self.ledger.finish_command(command_id, f"launched pid {w.pid}")
        for w in list(self.watched.values()):
            self._check(w)
        self.duties.tick(self.watched)

    # -- adoption ----------------------------------------------------------------------------

    def adopt(self) -> None:
        """Take over the detached sessions of this host: watch the running, relaunch the gone."""
        for row in queries.detached_sessions(self.ledger, LAUNCH, DIED_STATUSES):
            sid, pid = row["id"], row.get("pid")
            if self.launcher is not None:  # on a cluster: its actor says whether it still runs, any host
                self._adopt_placed(sid, row)
                continue
            if row.get("host") not in (None, self.host):
                continue
            w = Watched(sid, pid=pid, attempts=self._recent(sid, 10 * 365 * 24 * HOUR_S))
            self.watched[sid] = w
            if row["status"] != "crashed" and pid is not None and pid_alive(pid):
                log.info("adopted %s (pid %d)", sid, pid)
            else:
                w.cause = f"process {pid} was gone when the supervisor started"

    def _adopt_placed(self, session_id: str, row: dict[str, Any]) -> None:
        w = Watched(session_id, pid=row.get("pid"), attempts=self._recent(session_id, 10 * 365 * 24 * HOUR_S))
        self.watched[session_id] = w
        found = self.launcher.adopt(session_id)
        if found is not None and row["status"] != "crashed" and found.poll() is None:
            w.proc, w.pid = found, found.pid
            log.info("adopted %s (pid %d on node %s)", session_id, found.pid, found.node[:8])
        else:
            w.cause = "its process was gone when the supervisor started"

    def _recent(self, session_id: str, window_s: float = HOUR_S) -> int:
        since = now_ns() - int(window_s * 1e9)
        return queries.stage_count(self.ledger, session_id, "session.relaunched", since)

    # -- watching ----------------------------------------------------------------------------

    def _check(self, w: Watched) -> None:
        if w.due is None:
            if w.alive() and not w.cause:
                return
            if w.proc is not None:
                w.proc.poll()
            w.cause = w.cause or w.exit_cause()
            row = self.ledger.session(w.session_id)
            status = row.get("status") if row else None
            if not should_relaunch(status):
                log.info("%s ended (%s): not relaunched", w.session_id, status or "deleted")
                self.watched.pop(w.session_id, None)
                return
            delay = self.policy.delay(self._recent(w.session_id))
            if delay is None:
                self._give_up(w)
                return
            log.warning("%s: %s; relaunching in %.1fs", w.session_id, w.cause, delay)
            w.due = time.monotonic() + delay
        if time.monotonic() >= w.due:
            self._relaunch(w)

    def _relaunch(self, w: Watched) -> None:
        w.attempts += 1
        previous, w.due = w.pid, None
        self.ledger.write_events([Event(
            w.session_id, None, "session.relaunched", f"relaunched (attempt {w.attempts}): {w.cause}", now_ns(),
            {"attempt": w.attempts, "previous_pid": previous, "reason": w.cause},
        )])
        w.cause = ""
        self._launch(w)

    def _give_up(self, w: Watched) -> None:
        reason = self.policy.give_up_reason(self._recent(w.session_id), w.cause)
        log.error("%s: %s", w.session_id, reason)
        self.ledger.set_status(w.session_id, "error", ended_at=now_ns(), last_error=reason)
        self.watched.pop(w.session_id, None)

    def _launch(self, w: Watched, *, restore: bool = False) -> None:
        """Start the session's process (the row has no pid until the process claims it);
        ``restore``: a resumed session (a relaunch, attempt > 0, always restores)."""
        self.ledger.claim_session(w.session_id, pid=None)
        if self.launcher is not None:  # a Ray actor on the node Ray picks starts it
            w.proc = self.launcher.launch(w.session_id, w.attempts, restore)
            w.pid = w.proc.pid
            self.ledger.write_events([Event(
                w.session_id, None, "session.placed", f"placed on node {w.proc.node[:8]} ({w.proc.host}), pid {w.pid}",
                now_ns(), {"node": w.proc.node, "host": w.proc.host, "pid": w.pid, "attempt": w.attempts},
            )])
            log.info("placed %s on node %s (pid %d, attempt %d)", w.session_id, w.proc.node[:8], w.pid, w.attempts)
            return
        out = open(files.log_path(f"session-{w.session_id}"), "ab")  # noqa: SIM115  (the child keeps it)
        with out:
            w.proc = subprocess.Popen(
                [sys.executable, "-m", "kernelext.supervisor.session_process", w.session_id,
                 "--attempt", str(w.attempts), *(["--restore"] if restore else [])],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )
        w.pid = w.proc.pid
        log.info("launched %s (pid %d, attempt %d)", w.session_id, w.pid, w.attempts)


def serve(cluster: str | None = None) -> int:
    """``paperlab supervise [--ray auto|ADDRESS]``: run in the foreground until SIGTERM/SIGINT (0), or 0
    at once when another supervisor already runs for this ``PAPERLAB_HOME`` (it is said on stderr).
    ``cluster`` (or ``PAPERLAB_CLUSTER``): place sessions on that Ray cluster."""
    from kernelext.supervisor.cluster import CLUSTER_ENV, RayLauncher

    cluster = cluster or os.environ.get(CLUSTER_ENV) or None
    launcher = RayLauncher(cluster) if cluster else None  # joins the cluster before taking the lock
    lock = files.acquire()
    if lock is None:
        print(f"supervisor: already running (pid {files.running_pid()})", file=sys.stderr)
        return 0
    handler = logging.FileHandler(files.log_path())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        Supervisor(launcher=launcher).run()
    finally:
        lock.close()
    return 0


def stop(timeout: float = 10.0) -> int | None:
    """SIGTERM the running supervisor and wait until its lock is free; its pid (None: none ran)."""
    pid = files.running_pid()
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while files.running_pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid
