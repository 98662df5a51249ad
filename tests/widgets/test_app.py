"""The standalone app: bind safety, a served page, following sessions of this and other processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from bokeh.client import pull_session

from kernelext import frames
from kernelext.ledger import Ledger
from widgets.app import PaperApp, build_app, check_bind, serve

REPO = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], bool], timeout: float = 30.0, every: Callable[[], None] | None = None) -> bool:
    """Call ``every`` and check until ``check()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if every is not None:
            every()
        if check():
            return True
        time.sleep(0.1)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str, timeout: float = 30.0) -> tuple[str, str]:
    """(final url, body) once the server answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.geturl(), resp.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_public_bind_needs_tls_and_a_strong_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPERLAB_APP_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="over plain HTTP") as err:
        serve(host="0.0.0.0")
    text = str(err.value)
    assert "\n" not in text and "--certfile" in text and "--behind-proxy" in text and "0.0.0.0" in text
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(host, None)
    check_bind("0.0.0.0", "a strong pass phrase", behind_proxy=True)
    check_bind("0.0.0.0", None, tls=True)  # none given: serve generates one
    for weak in ("a", " ", "s3cret", "elevenchars"):
        with pytest.raises(ValueError, match=r"^PAPERLAB_APP_PASSWORD: the app password needs at least 12"):
            check_bind("127.0.0.1", weak)
    monkeypatch.setenv("PAPERLAB_APP_PASSWORD", "short")
    with pytest.raises(ValueError, match="at least 12 characters"):
        serve(port=free_port(), threaded=True)


def test_served_app_page(paperlab_home: Path) -> None:
    port = free_port()
    server = serve(port=port, threaded=True)
    try:
        url, body = fetch(f"http://127.0.0.1:{port}/")
        assert "<title>PaperLab</title>" in body
        with pull_session(url=f"http://127.0.0.1:{port}/") as session:  # the document the browser gets
            texts = " ".join(
                str(getattr(m, attr)) for m in session.document.models
                for attr in ("text", "label", "title") if attr in m.properties()
            )
        assert "Sessions" in texts and "Paper" in texts and "Clear all" in texts
        assert "No running session" in texts
    finally:
        server.stop()


def test_basic_auth_asks_for_a_login(paperlab_home: Path) -> None:
    port = free_port()
    server = serve(port=port, threaded=True, basic_auth="correct horse battery")
    try:
        url, body = fetch(f"http://127.0.0.1:{port}/")
        assert "/login" in url and 'type="password"' in body.replace("'", '"')
    finally:
        server.stop()


def test_app_shows_a_session_started_by_another_process(paperlab_home: Path) -> None:
    led = Ledger()
    app = PaperApp(led)
    assert build_app(led) is not None
    app.panel()
    assert app.current_session is None
    script = textwrap.dedent("""
        import kernelext
        r = kernelext.start("ema_cross", "BTC/USD", params={"fast": 2, "slow": 5}, speed=600, duration="60s")
        print(r.session_id, flush=True)
        r.wait(90)
    """)
    env = {**os.environ, "PAPERLAB_HOME": str(paperlab_home)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        sid = proc.stdout.readline().strip()
        assert sid, "the notebook-like process did not start a session"
        assert wait_for(lambda: app.current_session == sid, every=app.poll)
        dash = app.dashboard
        assert wait_for(lambda: dash.status == "running", every=dash.refresh)
        assert dash.feed_badge == "REPLAY"
        # a control from this process reaches the other one through the ledger's command queue
        dash.buttons["pause"].clicks += 1
        assert wait_for(lambda: "control.pause" in dash.event_stages, every=dash.refresh)
        assert wait_for(lambda: not dash.buttons["kill"].disabled, every=dash.refresh)
        dash.buttons["kill"].clicks += 1
        assert wait_for(lambda: dash.status == "stopped", every=dash.refresh)
        assert proc.wait(30) == 0
        dash.refresh()
        assert dash.counts["fills"] == min(frames.fills(sid, led).height, dash.table_rows)
        assert dash.alert_text == ""
    finally:
        proc.kill()
        proc.wait()


def test_app_starts_sessions_in_its_own_process(paperlab_home: Path) -> None:
    from kernelext.session.runner import SessionRunner

    app = PaperApp(Ledger())
    app.panel()
    app.start_card.speed.value = "600"
    app.start_card.start()
    assert wait_for(lambda: app.current_session is not None, every=app.poll, timeout=60)
    sid = app.current_session
    try:
        assert sid in SessionRunner.live()  # the app process is the runner host
        assert wait_for(lambda: sid in [r["session_id"] for r in app.sessions.rows], every=app.sessions._tick)
        dash = app.dashboard
        assert wait_for(lambda: not dash.buttons["kill"].disabled, every=dash.refresh)
        dash.buttons["kill"].clicks += 1
        assert wait_for(lambda: dash.status == "stopped", every=dash.refresh)
    finally:
        runner = SessionRunner.live().get(sid)
        if runner is not None:
            runner.kill()


def test_fallback_start_form_when_panel_start_is_missing(paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "widgets.panel_start", None)  # as if the module did not exist
    app = PaperApp(Ledger())
    app.panel()
    form = app.start_card
    assert type(form).__name__ == "_SimpleStart"
    form.speed.value, form.duration.value = "max", "2s"
    form.params.value = "not json"
    form.start().join(30)
    assert form.message.visible and form.message.object.startswith("params: not valid JSON")
    form.params.value = '{"fast": 2, "slow": 5}'
    form.start().join(60)
    assert not form.message.visible and not form.button.disabled
    assert wait_for(lambda: app.current_session is not None, every=app.poll)
    dash = app.dashboard
    assert wait_for(lambda: dash.status == "stopped", every=dash.refresh)
    assert dash.counts["fills"] == min(frames.fills(app.current_session).height, dash.table_rows)


def test_app_shows_a_session_its_start_card_detached(paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kernelext.events import now_ns
    from widgets import startform as sf

    led = Ledger()
    led.create_session("det-1", label="detached", kind="paper", venue="sandbox", feed="replay", spec={},
                       started_at=now_ns(), status="starting", sleeves=[])
    monkeypatch.setattr(sf, "launch", lambda spec, ledger=None, detach=False, **_: "det-1" if detach else None)
    app = PaperApp(led)
    app.panel()
    app.start_card.detach.value = True
    app.start_card.start()
    assert app.start_card.wait_started(10) == "det-1"  # the id: the session runs in a process of its own
    assert wait_for(lambda: app.current_session == "det-1", every=app.poll, timeout=10)
    assert app.dashboard.session_id == "det-1" and app.start_card.dashboard is None  # the app shows it
