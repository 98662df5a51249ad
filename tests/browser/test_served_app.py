"""The standalone app (``paperlab serve``) in Debian's chromium: start a replay session
from the start card, see fills appear in the dashboard, Kill, see it stopped, find it
in the Sessions tab. A detached session (its own supervised process) is listed there as
``detached · pid N`` and paused and killed from that tab."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import api, frames
from kernelext.ledger import Ledger, pid_alive
from tests.browser.conftest import screenshot, serving
from tests.helpers import wait_for


@pytest.fixture
def app_url(free_port: int, paperlab_home: Path) -> Iterator[str]:
    with serving(free_port, paperlab_home) as url:
        yield url


def wait_text(page: Any, pattern: str, timeout: float = 60) -> None:
    """Wait for visible text (Playwright's locators pierce Panel's shadow roots)."""
    page.get_by_text(re.compile(pattern)).first.wait_for(timeout=timeout * 1000)


def first_row(page: Any, css: str) -> str:
    """The text of the first row the page shows in a table ('' before it has one)."""
    rows = page.locator(f".{css} .tabulator-row")
    return rows.first.inner_text() if rows.count() else ""


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
    # newest first on the page (the tables sort themselves; rows are streamed and patched)
    fills = frames.fills(session_id, ledger=ledger)
    wait_for(lambda: fills["trade_id"][-1] in first_row(page, "paperlab-fills"), "the last fill on top", 30)
    wait_for(lambda: "session.stopped" in first_row(page, "paperlab-events"), "the last event on top", 30)
    page.get_by_text("Orders", exact=True).first.click()
    # the order that came last on top (the ledger keeps an order's first row), with its final status
    last_order = ledger.query("SELECT client_order_id, status FROM orders WHERE session_id = ? ORDER BY rowid DESC"
                              " LIMIT 1", (session_id,))[0]
    wait_for(lambda: all(cell in first_row(page, "paperlab-orders") for cell in last_order),
             f"the last order on top with its status {last_order}", 30)

    page.get_by_text("Sessions", exact=True).first.click()
    page.locator(".paperlab-sessions .tabulator-row").first.wait_for(timeout=30_000)
    row = page.locator(".paperlab-sessions .tabulator-row", has_text=session_id).first
    row.wait_for(timeout=30_000)
    # the history re-reads statuses every 5 s: the stop shows within one tick
    wait_for(lambda: "stopped" in row.inner_text(), "the session's row saying stopped", 30)
    screenshot(page, "served-app-sessions")


@pytest.fixture
def detached_home(paperlab_home: Path) -> Iterator[Path]:
    """A PAPERLAB_HOME whose supervisor and detached session processes are all gone after the test."""
    yield paperlab_home
    led = Ledger(paperlab_home)
    pids = [r["pid"] for r in api.session_processes(ledger=led) if r.get("pid") and r["pid"] != os.getpid()]
    supervisor = api.supervisor_pid()
    if supervisor is not None:
        api.stop_supervisor()
        pids.append(supervisor)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    led.close()


def test_detached_session_is_listed_and_controlled_from_the_sessions_tab(
    page: Any, free_port: int, detached_home: Path
) -> None:
    ledger = Ledger()
    session_id = api.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, feed="replay", speed=60,
                           label="detached in app", detach=True)

    def status() -> str:
        return (ledger.session(session_id) or {}).get("status") or ""

    pid = wait_for(lambda: status() == "running" and ledger.session(session_id)["pid"], "the detached session to run", 60)
    assert pid != os.getpid() and pid_alive(pid)
    with serving(free_port, detached_home) as url:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Sessions", exact=True).first.wait_for(timeout=60_000)
        page.get_by_text("Sessions", exact=True).first.click()
        row = page.locator(".paperlab-sessions .tabulator-row", has_text=session_id).first
        row.wait_for(timeout=60_000)
        text = row.inner_text()
        assert f"detached · pid {pid}" in text and "running" in text, text
        pause = page.locator(".paperlab-session-pause button, button.paperlab-session-pause").first

        def select() -> bool:  # a click while the tab re-reads the list (opening it does) can be lost
            row.click()
            time.sleep(0.5)
            return pause.is_enabled()

        wait_for(select, "the selected running session's Pause to be enabled", 30, 0.5)
        pause.click()
        wait_for(lambda: status() == "paused", "the session to pause (from the app)", 30, 0.2)
        wait_text(page, re.escape(f"pause: ok ({session_id})"), timeout=30)
        wait_for(lambda: "paused" in row.inner_text(), "the row to say paused", 30, 0.5)
        screenshot(page, "served-app-detached-paused")

        kill = page.locator(".paperlab-session-kill button, button.paperlab-session-kill").first
        wait_for(lambda: kill.is_enabled(), "the Kill button to be enabled", 30, 0.2)
        kill.click()
        wait_for(lambda: status() == "stopped", "the session to stop (from the app)", 60, 0.2)
        wait_for(lambda: "stopped" in row.inner_text(), "the row to say stopped", 30, 0.5)
        screenshot(page, "served-app-detached-killed")
    wait_for(lambda: not pid_alive(pid), "the session's process to exit", 60, 0.2)
    supervisor = api.supervisor_pid()
    assert supervisor is not None and api.stop_supervisor() == supervisor
    wait_for(lambda: not pid_alive(supervisor), "the supervisor to exit", 30, 0.2)
