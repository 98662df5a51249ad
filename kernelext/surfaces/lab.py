"""``paperlab lab``: JupyterLab on the project's notebooks, the quickstart open, as root too.

JupyterLab refuses to run as root without ``--allow-root`` (as in most containers);
we add it there and say so in one line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kernelext.errors import SpecError

QUICKSTART = "01_quickstart.ipynb"


def notebooks_dir() -> Path:
    """The project's ``notebooks/`` (beside the package in a checkout), else ``./notebooks``."""
    beside = Path(__file__).resolve().parents[2] / "notebooks"
    return beside if beside.is_dir() else Path.cwd() / "notebooks"


def lab_command(notebook: str | None = None, *, port: int | None = None, open_browser: bool = True,
                as_root: bool | None = None) -> list[str]:
    """The ``jupyter lab`` command line that serves ``notebooks/`` and opens ``notebook``."""
    folder = notebooks_dir()
    target = Path(notebook) if notebook else folder / QUICKSTART
    if not target.is_file():
        raise SpecError(f"notebook: {target} does not exist; the notebooks are in {folder}")
    if port is not None and not 0 < port < 65536:
        raise SpecError(f"port: expected 1-65535 (got {port})")
    root = (os.geteuid() == 0) if as_root is None else as_root
    target, folder = target.resolve(), folder.resolve()
    root_dir = folder if target.is_relative_to(folder) else target.parent
    cmd = [sys.executable, "-m", "jupyter", "lab", str(target), f"--ServerApp.root_dir={root_dir}"]
    if port is not None:
        cmd.append(f"--port={port}")
    if not open_browser:
        cmd.append("--no-browser")
    if root:
        cmd.append("--allow-root")
    return cmd


def run_lab(notebook: str | None = None, *, port: int | None = None, open_browser: bool = True) -> int:
    """Run JupyterLab in the foreground, in this process's place (so a signal to ``paperlab lab``
    reaches JupyterLab itself, never leaving it running orphaned); returns only if it cannot start."""
    cmd = lab_command(notebook, port=port, open_browser=open_browser)
    if "--allow-root" in cmd:
        print("note: running as root, so JupyterLab starts with --allow-root", file=sys.stderr, flush=True)
    sys.stdout.flush()
    try:
        os.execv(cmd[0], cmd)
    except OSError as exc:
        print(f"paperlab lab: cannot start JupyterLab: {exc}", file=sys.stderr)
        return 1
