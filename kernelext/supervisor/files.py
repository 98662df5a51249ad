"""The supervisor's files under ``$PAPERLAB_HOME``: ``supervisor.pid`` (held with ``flock`` by
the one running supervisor) and its logs (``logs/supervisor.log``, ``logs/session-<id>.log``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from kernelext.ledger import paperlab_home

PID_FILE = "supervisor.pid"


def pid_path() -> Path:
    """``$PAPERLAB_HOME/supervisor.pid``."""
    return paperlab_home() / PID_FILE


def log_path(name: str = "supervisor") -> Path:
    """``$PAPERLAB_HOME/logs/<name>.log`` (its folder created)."""
    folder = paperlab_home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.log"


def acquire() -> IO[str] | None:
    """Take the pid file's lock and write our pid; the open file holds the lock (None: another
    supervisor holds it)."""
    path = pid_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")  # noqa: SIM115  (held open for the supervisor's life)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def running_pid() -> int | None:
    """The pid of the supervisor holding the lock of this ``PAPERLAB_HOME`` (None: none runs)."""
    path = pid_path()
    try:
        f = open(path)  # noqa: SIM115
    except FileNotFoundError:
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = f.read().strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(f, fcntl.LOCK_UN)
        return None
