"""A detached session's notification URLs, raw, in an owner-only file: ``$PAPERLAB_HOME/notify/<id>.json``.

The ledger's copy of the spec holds only masked URLs; the supervisor and the session's report
jobs read the raw ones here. The file goes when the session has ended (or is deleted).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from kernelext.ledger import paperlab_home
from kernelext.paths import private_dir

FOLDER = "notify"


def path(session_id: str) -> Path:
    """``$PAPERLAB_HOME/notify/<session>.json`` (the folder is not created here)."""
    return paperlab_home() / FOLDER / f"{session_id}.json"


def save(session_id: str, urls: Sequence[str]) -> Path:
    """Keep ``urls`` for ``session_id`` in a 0600 file under a 0700 folder; returns its path."""
    private_dir(paperlab_home() / FOLDER)
    target = path(session_id)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"urls": list(urls)}, f)
    os.chmod(target, 0o600)
    return target


def load(session_id: str) -> tuple[str, ...]:
    """The session's URLs (none when it has no file, or an unreadable one)."""
    try:
        return tuple(json.loads(path(session_id).read_text(encoding="utf-8")).get("urls") or ())
    except (OSError, ValueError, AttributeError):
        return ()


def forget(session_id: str) -> None:
    """Remove the session's file, if any."""
    try:
        path(session_id).unlink()
    except OSError:
        pass
