"""Where an unexpected error's traceback goes: a log file, never the person's screen."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import traceback
from pathlib import Path

from kernelext.paths import private_dir


def _log_dir() -> Path:
    home = os.environ.get("PAPERLAB_HOME")
    candidates = [Path(home).expanduser() / "logs"] if home else [Path.home() / ".paperlab" / "logs"]
    candidates.append(Path(tempfile.gettempdir()) / "paperlab-logs")
    for folder in candidates:
        try:
            private_dir(folder)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            continue
    return Path(tempfile.gettempdir())


def record(error: BaseException) -> Path:
    """Append ``error``'s traceback to ``errors.log`` in the logs folder; returns the file's path."""
    path = _log_dir() / "errors.log"
    text = "".join(traceback.format_exception(error))
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write(f"--- {dt.datetime.now(dt.UTC).isoformat()} pid {os.getpid()}\n{text}\n")
    except OSError:
        pass
    return path
