"""The served app's login in Debian's chromium: a weak password is refused at start; a good login
reaches the app; 5 failed logins lock the address out (the rate-limit message, even for the right
password), and each attempt is in the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from kernelext import api
from tests.browser.conftest import screenshot, serving
from tests.browser.test_served_app import wait_text

PASSWORD = "correct horse battery staple"


def login(page: Any, url: str, password: str) -> None:
    page.goto(f"{url}login", wait_until="domcontentloaded")
    page.locator("#username").fill("alice")
    page.locator("#password").fill(password)
    page.locator("button[type=submit]").click()
    page.wait_for_load_state("domcontentloaded")


def test_weak_password_refused_then_lockout_after_five_failures(page: Any, chromium_path: str, free_port: int,
                                                                paperlab_home: Path) -> None:
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home), "PAPERLAB_APP_PASSWORD": "short"}
    weak = subprocess.run([sys.executable, "-m", "kernelext", "serve", "--port", str(free_port)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr and weak.stderr.count("\n") == 1

    with serving(free_port, paperlab_home, env={"PAPERLAB_APP_PASSWORD": PASSWORD}) as url:
        login(page, url, PASSWORD)
        wait_text(page, "No running session", timeout=90)  # in: the app itself
        page.context.clear_cookies()
        for attempt in range(1, 6):
            login(page, url, f"not the password {attempt}")
            message = page.locator("#error-message").inner_text()
            if attempt < 5:
                assert "Invalid username or password" in message, (attempt, message)
        assert "Rate limit exceeded, try again in a few seconds" in message
        login(page, url, PASSWORD)  # locked out: the right password waits too
        assert "Rate limit exceeded" in page.locator("#error-message").inner_text()
        screenshot(page, "app_login_lockout")
    results = [(r["actor"], json.loads(r["detail"])["result"])
               for r in api.audit().filter(action="app.login").to_dicts()]
    assert results == [("alice via app", "ok")] + [("alice via app", "failed")] * 5 + [("alice via app", "locked")]
