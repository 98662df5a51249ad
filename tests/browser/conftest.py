"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded browser).

Without /usr/bin/chromium the tests skip locally and FAIL in CI (``CI=true``).
Screenshots land in ``artifacts/`` (git-ignored) as test artifacts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--font-render-hinting=none",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"{CHROMIUM} is missing: .ci/run installs Debian's chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def page(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screenshot(page: Any, name: str) -> Path:
    """Save a screenshot artifact and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), timeout=20_000, animations="disabled", full_page=True)
    return path


def wait_http(url: str, proc: Any, timeout: float = 60, what: str = "the server") -> None:
    """Poll ``url`` until it answers; fail if ``proc`` exits or ``timeout`` passes."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"{what} did not come up at {url}") from None
            time.sleep(0.5)


@contextlib.contextmanager
def serving(port: int, home: Path, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """``paperlab serve`` on ``port`` with PAPERLAB_HOME=``home`` (plus ``env``); yields its URL.

    Output goes to ``log`` when given, else nowhere; the process is stopped on exit.
    """
    from tests.helpers import stop_process

    full_env = {**os.environ, "PAPERLAB_HOME": str(home), **(env or {})}
    out = log.open("wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "kernelext", "serve", "--port", str(port)],
        env=full_env, stdout=out, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc, what="paperlab serve")
        yield url
    finally:
        stop_process(proc)
        if log:
            out.close()


@contextlib.contextmanager
def jupyter_lab(root: Path, port: int, home: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1:``port`` over ``root`` with PAPERLAB_HOME=``home`` (no news, no
    update checks); yields ``(base URL, token)`` and stops it on exit."""
    import secrets

    from tests.helpers import stop_process

    token = secrets.token_hex(16)
    env = {**os.environ, "PAPERLAB_HOME": str(home), "JUPYTER_PLATFORM_DIRS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", "--allow-root",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/api/status?token={token}", proc, what="JupyterLab")
        yield base, token
    finally:
        stop_process(proc)


def wait_js(page: Any, js: str, timeout: float = 60, what: str = "") -> Any:
    """Poll ``js`` in ``page`` once a second until it is truthy (Lab renders slowly on 2 cores)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(js)
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what or js}")
