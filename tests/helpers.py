"""Small helpers shared by the tests: polling with a deadline, stopping a server process, reading a
file without touching this process's SQLite locks."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it is truthy and return its value; fail, saying what we waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a server subprocess, killing it if it does not exit within 20 s."""
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def file_bytes(path: Any) -> bytes:
    """A file's bytes, read by a child process. Closing a descriptor of an SQLite file in this process
    would drop every POSIX lock this process's ledger connections hold on it (locks are per process),
    and another process's writer closing next would then take the WAL and its index from under them
    (``disk I/O error``): a test that looks for secrets in the ledger's bytes reads them this way."""
    return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout
