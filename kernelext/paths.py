"""Files a person names (an export, a report): checked before any work is done; PaperLab's own
folders (``$PAPERLAB_HOME``, logs, spool) created owner-only."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kernelext.errors import SpecError


def check_output_file(path: str | os.PathLike[str], *, field: str, suffixes: tuple[str, ...]) -> Path:
    """``path`` as a file we can write, or one-line ``SpecError`` naming ``field`` and what is allowed."""
    out = Path(path).expanduser()
    allowed = ", ".join(suffixes)
    if not str(path).strip():
        raise SpecError(f"{field}: expected a file name ending in {allowed}")
    if out.is_dir():
        raise SpecError(f"{field}: {out} is a folder; give a file name ending in {allowed}")
    if out.suffix.lower() not in suffixes:
        raise SpecError(f"{field}: {out.name} has an unknown suffix; allowed: {allowed}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(f"{field}: folder {parent} does not exist")
    if (out.exists() and not os.access(out, os.W_OK)) or not os.access(parent, os.W_OK):
        raise SpecError(f"{field}: cannot write {out} (permission denied)")
    return out


def write_file(path: str | os.PathLike[str], field: str, write: Callable[[], object]) -> None:
    """Run ``write``; an OS refusal (read-only, disk full) is one-line ``SpecError`` naming ``field``."""
    try:
        write()
    except OSError as e:
        raise SpecError(f"{field}: cannot write {path} ({e.strerror or e})") from None


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only (0700); an existing folder is left as it is."""
    path = Path(path)
    if not path.is_dir():
        if not path.parent.exists():
            private_dir(path.parent)
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask
    return path


def remove_older(folder: Path, pattern: str, before: float, keep: Callable[[Path], bool] = lambda _p: False) -> list[Path]:
    """Remove files in ``folder`` matching ``pattern`` last modified before ``before`` (epoch
    seconds), except those ``keep`` says to keep; return the removed paths."""
    removed = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        try:
            if path.is_file() and path.stat().st_mtime < before and not keep(path):
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed

