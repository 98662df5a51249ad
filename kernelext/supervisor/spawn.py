"""Start the supervisor on demand: no set-up step, the first detach does it.

The supervisor is double-forked through ``/bin/sh`` in a session of its own, so it is
nobody's child (a notebook kernel that asked for it never has to reap it) and a Ctrl-C
or a kernel shutdown that signals the caller's process group does not reach it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kernelext.errors import SessionStartError
from kernelext.supervisor import files

START_TIMEOUT_S = 10.0


def ensure_running(timeout: float = START_TIMEOUT_S) -> int:
    """The running supervisor's pid; start one first when none runs for this ``PAPERLAB_HOME``."""
    pid = files.running_pid()
    if pid is not None:
        return pid
    log = files.log_path()
    subprocess.run(
        ["/bin/sh", "-c", '"$@" </dev/null >>"$LOG" 2>&1 &', "sh", sys.executable, "-m", "kernelext.supervisor"],
        env={**os.environ, "LOG": str(log)},
        start_new_session=True,
        check=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = files.running_pid()
        if pid is not None:
            return pid
        time.sleep(0.05)
    raise SessionStartError(f"supervisor: did not start within {timeout:g}s (log: {log})")
