"""Both start cards' "Keep running after this notebook closes": a replay session in a supervised
process of its own, shown as ``%paper attach`` shows it, controlled, killed.

Every test has its own ``PAPERLAB_HOME``; the ``home`` fixture stops the supervisor and every
session process it started, and the tests check both are gone.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import api
from kernelext.ledger import Ledger, pid_alive
from tests.helpers import wait_for
from widgets.attached import AttachedCard
from widgets.panel_start import PanelStartCard
from widgets.startcard import StartCard

DEADLINE_S = 60.0
REPLAY = "Replay (offline)"  # the replay feed's venue label


@pytest.fixture
def home(paperlab_home: Path) -> Iterator[Path]:
    """A PAPERLAB_HOME whose supervisor and session processes are all gone after the test."""
    yield paperlab_home
    led = Ledger(paperlab_home)
    pids = [row["pid"] for row in api.session_processes(ledger=led) if row.get("pid") and row["pid"] != os.getpid()]
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


def _row(session_id: str) -> dict[str, Any]:
    led = Ledger()
    try:
        return led.session(session_id) or {}
    finally:
        led.close()


def _runs_elsewhere(session_id: str) -> int | None:
    """The session's pid once a live process other than this one runs it."""
    row = _row(session_id)
    pid = row.get("pid")
    return pid if row.get("status") == "running" and pid and pid != os.getpid() and pid_alive(pid) else None


def _kill_and_check_gone(session_id: str, pid: int) -> None:
    """The killed session and its process end; stopping the supervisor ends it too."""
    wait_for(lambda: _row(session_id)["status"] == "stopped", "the session to stop", DEADLINE_S, 0.2)
    wait_for(lambda: not pid_alive(pid), "the session's process to exit", DEADLINE_S, 0.2)
    supervisor = api.supervisor_pid()
    assert supervisor is not None and supervisor not in (pid, os.getpid())
    assert api.stop_supervisor() == supervisor
    wait_for(lambda: not pid_alive(supervisor) and api.supervisor_pid() is None, "the supervisor to exit",
             DEADLINE_S, 0.2)


def test_start_card_detaches_and_attaches(home: Path) -> None:
    card = StartCard()
    assert card.detach.value is False and card.detach in card.form.children  # off by default, on the form
    card.venue.value = REPLAY
    card.speed.value = "600"
    card.label.value = "detached card"
    card.detach.value = True
    card.start_button.click()
    session_id = card.wait_started(DEADLINE_S)
    assert isinstance(session_id, str) and card.runner is None, card.error_text
    attached = card.session_card
    assert isinstance(attached, AttachedCard) and card.widget.children == (attached.widget,)

    pid = wait_for(lambda: _runs_elsewhere(session_id), "the detached session to run in its own process", DEADLINE_S)
    assert _row(session_id)["pid"] == pid != os.getpid()
    attached.refresh()
    assert attached.status == "running" and attached.marker == f"detached · pid {pid}"
    header = attached.header.value
    assert session_id in header and "detached card" in header and "REPLAY" in header and f"pid {pid}" in header
    wait_for(lambda: (attached.refresh(), attached.report["bars"] > 0)[1], "bars to show", DEADLINE_S, 0.2)
    assert f"{attached.report['bars']:,}" in attached.stats.value

    attached.buttons["pause"].click()  # through the ledger's command queue, to the session's process
    attached.wait_controls(30)
    assert any("pause ok" in line for line in attached.feed_lines), list(attached.feed_lines)[:5]
    wait_for(lambda: (attached.refresh(), attached.status == "paused")[1], "the card to say paused", 10, 0.2)
    assert any("control.pause" in line for line in attached.feed_lines)  # the session's own event

    attached.buttons["kill"].click()
    attached.wait_controls(60)
    _kill_and_check_gone(session_id, pid)
    attached.refresh()
    assert "STOPPED" in attached.header.value and all(b.disabled for b in attached.buttons.values())
    attached.new_button.click()  # back to the form
    assert card.widget.children == (card.form,) and attached.closed


def test_panel_start_card_detaches_and_attaches(home: Path) -> None:
    card = PanelStartCard()  # no host: the card shows the dashboard itself
    assert card.detach.value is False and card.detach in card.panel().objects
    card.venue.value = REPLAY
    card.speed.value = "600"
    card.detach.value = True
    card.start_button.clicks += 1
    session_id = card.wait_started(DEADLINE_S)
    assert isinstance(session_id, str) and card.started_runner is None, card.error_text
    assert card.started.visible and session_id in card.started.object and "detached" in card.started.object
    assert card.dashboard is not None and card.dashboard.session_id == session_id
    assert card.attached.objects == [card.dashboard.panel()]

    pid = wait_for(lambda: _runs_elsewhere(session_id), "the detached session to run in its own process", DEADLINE_S)
    assert _row(session_id)["pid"] == pid != os.getpid()
    api.control(session_id, "pause", timeout=30)
    wait_for(lambda: _row(session_id)["status"] == "paused", "the session to pause", 10, 0.2)
    api.control(session_id, "kill", timeout=60)
    _kill_and_check_gone(session_id, pid)


def test_panel_start_card_hands_a_detached_session_to_its_host(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from widgets import startform as sf

    calls: list[tuple[Any, bool]] = []
    monkeypatch.setattr(sf, "launch", lambda spec, ledger=None, detach=False, **_: calls.append((spec, detach)) or "s-1")
    started: list[Any] = []
    card = PanelStartCard(on_started=started.append)
    card.detach.value = True
    card.start()
    assert card.wait_started(10) == "s-1" and started == ["s-1"] and calls[0][1] is True
    assert card.dashboard is None and card.attached.objects == []  # the host (the app) shows it


def test_detach_into_another_ledger_is_one_line(home: Path, tmp_path: Path) -> None:
    card = StartCard(ledger=Ledger(tmp_path / "elsewhere.sqlite"))
    card.detach.value = True
    card.start_button.click()
    assert card.wait_started(30) is None
    assert card.error_text.startswith("detach:") and "\n" not in card.error_text and "PAPERLAB_HOME" in card.error_text
    assert api.supervisor_pid() is None
