"""README's first command, ``paperlab lab``: JupyterLab serves notebooks/ with the quickstart,
as root too (where plain ``jupyter lab`` exits at once asking for --allow-root)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request

from tests.helpers import stop_process, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _contents(url: str) -> dict | None:
    """JupyterLab's answer at ``url``, or None while it does not answer yet (a loaded machine)."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except OSError:
        return None


def test_paperlab_lab_serves_the_quickstart(paperlab_home) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernelext", "lab", "--no-browser", "--port", str(port)],
        env={**os.environ, "JUPYTER_RUNTIME_DIR": str(paperlab_home / "jupyter-runtime")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        url = wait_for(lambda: next((m.group(0) for ln in list(lines)
                                     if (m := re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=\w+", ln))), None),
                       "JupyterLab's URL with its token", timeout=90)
        token = url.rsplit("=", 1)[1]
        model = wait_for(lambda: _contents(f"http://127.0.0.1:{port}/api/contents/01_quickstart.ipynb?token={token}&content=0"),
                         f"the quickstart from JupyterLab (its output: {lines[-20:]})", timeout=60)
        assert model["type"] == "notebook" and model["name"] == "01_quickstart.ipynb"
        root_note = any("running as root, so JupyterLab starts with --allow-root" in ln for ln in lines)
        assert root_note == (os.geteuid() == 0)
        assert proc.poll() is None
    finally:
        stop_process(proc)
