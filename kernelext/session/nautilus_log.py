"""Nautilus's own log lines go to the session log, never to a person's terminal or notebook.

Nautilus's Rust logger writes every ERROR line (and the traceback it carries) to the
process's stderr whatever ``log_level`` says; in a notebook, ipykernel forwards file
descriptor 2 into the cell. ``divert_stderr`` puts a pipe on descriptor 2 once per
process: lines in Nautilus's format (``2026-...Z [ERROR] TRADER.Component: ...``) and
their continuation lines (a traceback) are appended to the Nautilus log file; every
other line passes through, unchanged, to where stderr went before.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from pathlib import Path

from kernelext.paths import private_dir

_HEADER = re.compile(rb"^(\x1b\[[0-9;]*m)*\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z(\x1b\[[0-9;]*m)* +(\x1b\[[0-9;]*m)*\[(ERROR|WARN|INFO|DEBUG|TRACE)\]")
_CONTINUATION = re.compile(rb"^(\s|Traceback \(|During handling|The above exception|[\w.]*(Error|Exception|Interrupt|Exit)\b|$)")

_lock = threading.Lock()
_state: dict[str, object] = {}


def is_nautilus_line(line: bytes) -> bool:
    """A line written by Nautilus's logger (timestamp, then ``[LEVEL]``)."""
    return bool(_HEADER.match(line))


class _Diverter:
    """Reads the pipe on fd 2 and sorts each line: Nautilus's to the log file, the rest through."""

    def __init__(self, log_file: Path, passthrough_fd: int, read_fd: int) -> None:
        self.log_file = log_file
        self.passthrough_fd = passthrough_fd
        self.read_fd = read_fd
        self.diverted = 0
        self._to_log = False
        self._pending = b""
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while True:
                chunk = os.read(self.read_fd, 65536)
                if not chunk:
                    break
                self._feed(chunk)
        except OSError:
            pass
        finally:
            if self._pending:
                self._route(self._pending)
            self.done.set()

    def _feed(self, chunk: bytes) -> None:
        data = self._pending + chunk
        *lines, self._pending = data.split(b"\n")
        for line in lines:
            self._route(line + b"\n")
        if self._pending and not is_nautilus_line(self._pending) and not self._to_log:
            self._route(self._pending)  # a prompt or partial line of someone else's: don't hold it back
            self._pending = b""

    def _route(self, line: bytes) -> None:
        if is_nautilus_line(line):
            self._to_log = True
        elif not _CONTINUATION.match(line):
            self._to_log = False
        if self._to_log:
            self.diverted += 1
            try:
                with self.log_file.open("ab") as f:
                    f.write(line)
            except OSError:
                os.write(self.passthrough_fd, line)  # never lose a line: better on screen than nowhere
        else:
            os.write(self.passthrough_fd, line)


def divert_stderr(log_file: Path) -> None:
    """Install the diverter on fd 2 (once per process); Nautilus lines go to ``log_file``."""
    with _lock:
        if "diverter" in _state:
            return
        private_dir(log_file.parent)
        read_fd, write_fd = os.pipe()
        passthrough = os.dup(2)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        diverter = _Diverter(log_file, passthrough, read_fd)
        thread = threading.Thread(target=diverter.run, name="paperlab-stderr", daemon=True)
        thread.start()
        _state["diverter"] = diverter
        atexit.register(_restore)


def original_stderr() -> int | None:
    """Where stderr went before the diverter (for child processes that must outlive us); None: not diverted."""
    diverter = _state.get("diverter")
    return diverter.passthrough_fd if isinstance(diverter, _Diverter) else None


def diverted_lines() -> int:
    """How many stderr lines went to the Nautilus log (0 before any session)."""
    diverter = _state.get("diverter")
    return diverter.diverted if isinstance(diverter, _Diverter) else 0


def _restore() -> None:
    """At exit: put stderr back and let the reader drain what was written."""
    diverter = _state.get("diverter")
    if not isinstance(diverter, _Diverter):
        return
    try:
        os.dup2(diverter.passthrough_fd, 2)  # closes the pipe's last write end: the reader sees EOF
    except OSError:
        return
    diverter.done.wait(2.0)
