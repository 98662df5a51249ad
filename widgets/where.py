"""Where a session runs, in a few words, for the views: ``detached · pid 4242``, ``this process``, ``pid 4242``.

A detached session (handed to the supervisor, ``api.detached_ids``) runs in a process of its own;
the others run in the process that started them (a notebook's kernel, ``paperlab paper``, the app).
"""

from __future__ import annotations

import os
import socket
from typing import Any

DETACHED = "detached"


def process_marker(row: dict[str, Any] | None, detached: bool) -> str:
    """``row`` (``api.session_processes``: pid, host) in words: ``detached · pid N`` (``detached`` before its
    process claims it), ``this process``, ``pid N``; `` @host`` when another host runs it; '' when unknown."""
    row = row or {}
    pid, host = row.get("pid"), row.get("host")
    elsewhere = f" @{host}" if host and host != socket.gethostname() else ""
    if detached:
        return f"{DETACHED} · pid {pid}{elsewhere}" if pid else DETACHED
    if pid is None:
        return ""
    if pid == os.getpid() and not elsewhere:
        return "this process"
    return f"pid {pid}{elsewhere}"
