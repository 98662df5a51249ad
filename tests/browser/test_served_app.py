"""The standalone app (``paperlab serve``) in Debian's chromium: start a replay session
from the start card, see fills appear in the dashboard, Kill, see it stopped, find it
in the Sessions tab."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import frames
from kernelext.ledger import Ledger
from tests.browser.conftest import screenshot, serving


@pytest.fixture
def app_url(free_port: int, paperlab_home: Path) -> Iterator[str]:
    with serving(free_port, paperlab_home) as url:
        yield url


def wait_text(page: Any, pattern: str, timeout: float = 60) -> None:
    """Wait for visible text (Playwright's locators pierce Panel's shadow roots)."""
    page.get_by_text(re.compile(pattern)).first.wait_for(timeout=timeout * 1000)


def test_start_fill_kill_and_history(page: Any, app_url: str, paperlab_home: Path) -> None:
    page.goto(app_url, wait_until="domcontentloaded")
    page.locator(".paperlab-start button, button.paperlab-start").first.wait_for(timeout=60_000)
    speed = page.locator(".paperlab-speed input").first
    speed.fill("600")
    speed.press("Enter")
    page.locator(".paperlab-start button, button.paperlab-start").first.click()
    wait_text(page, "^REPLAY$", timeout=60)

    ledger = Ledger()
    deadline = time.monotonic() + 90
    while True:  # fills reach the ledger, then the dashboard's fills table
        sessions = frames.sessions(ledger=ledger)
        if sessions.height and frames.fills(sessions["session_id"][0], ledger=ledger).height > 0:
            break
        assert time.monotonic() < deadline, "no fills in the ledger"
        time.sleep(0.5)
    session_id = sessions["session_id"][0]
    page.get_by_text("Fills", exact=True).first.click()
    page.locator(".paperlab-fills .tabulator-row").first.wait_for(timeout=30_000)
    screenshot(page, "served-app-running")

    page.locator(".paperlab-kill button, button.paperlab-kill").first.click()
    deadline = time.monotonic() + 30
    while ledger.session(session_id)["status"] != "stopped":
        assert time.monotonic() < deadline, "kill did not stop the session"
        time.sleep(0.2)
    wait_text(page, "^STOPPED$", timeout=30)
    screenshot(page, "served-app-killed")

    page.get_by_text("Sessions", exact=True).first.click()
    page.locator(".paperlab-sessions .tabulator-row").first.wait_for(timeout=30_000)
    row = page.locator(".paperlab-sessions .tabulator-row", has_text=session_id).first
    row.wait_for(timeout=30_000)
    assert "stopped" in row.inner_text()
    screenshot(page, "served-app-sessions")
