"""The IB paper panel, compose runner, start form and health chips, against the local TWS peer.

No real gateway and never real docker: the peer speaks the TWS API on 127.0.0.1, and
compose commands are swapped for a harmless ``bash -c``.
"""

from __future__ import annotations

import asyncio
import html
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kernelext.ledger import Ledger
from kernelext.spec import SpecError
from kernelext.venues.ib import compose as ib_compose
from kernelext.venues.ib.health import latest_health
from tests.peers.tws_peer import TwsPeer
from widgets import startform as sf
from widgets.app import PaperApp
from widgets.dashboard import SessionDashboard
from widgets.venues.ib_panel import IbPanel, PanelIbPanel
from widgets.panel_start import PanelStartCard
from widgets.startcard import LoopBridge, StartCard

pytestmark = pytest.mark.timeout(60)
SECRET = "pw-s3cret-9731"
ACCOUNT = "DU1234567"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, paperlab_home: Path) -> None:
    """A fake gateway password that must never show, and an IB target with nothing listening."""
    monkeypatch.setenv("TWS_PASSWORD", SECRET)
    monkeypatch.setenv("PAPERLAB_IB_PORT", str(_free_port()))
    monkeypatch.setenv("PAPERLAB_IB_CLIENT_ID", "43")
    monkeypatch.delenv("PAPERLAB_IB_ACCOUNT_ID", raising=False)
    monkeypatch.delenv("PAPERLAB_IB_HOST", raising=False)


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwsPeer]:
    with TwsPeer(accounts=(ACCOUNT,)) as p:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(p.port))
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", ACCOUNT)
        yield p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_compose(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Every compose command becomes ``bash -c script`` (never real docker)."""
    monkeypatch.setattr(ib_compose, "compose_command", lambda action, profile="paper": ["bash", "-c", script])


def _click(button: object) -> None:
    """A Panel button (``clicks``) or an ipywidgets one (``click()``)."""
    if hasattr(button, "clicks"):
        button.clicks += 1  # type: ignore[attr-defined]
    else:
        button.click()  # type: ignore[attr-defined]


SCRIPT = 'echo "pulling ib-gateway"; echo "TWS_PASSWORD=$TWS_PASSWORD"; echo "$TWS_PASSWORD" >&2; exit 3'


def _account_shown(text: str) -> None:
    for value in ("100,000.00 USD", "73,000.00 USD", "292,000.00 USD", "27,000.00 USD", "AAPL", "MSFT"):
        assert value in text, value
    assert "paperlab-ib-health-ok" in text and "IB gateway: ok" in text
    assert "DU1…" in text and ACCOUNT not in text  # masked like every IB message
    assert SECRET not in text


# -- the panel ---------------------------------------------------------------------------------


def test_start_cards_show_the_peer_account_when_ib_paper_is_chosen(peer: TwsPeer) -> None:
    card = StartCard()
    assert card.venue_box.layout.display == "none" and card.speed.layout.display is None
    writers: set[int] = set()
    card.venue_panels["ib-paper"].status.observe(lambda _ch: writers.add(threading.get_ident()), "value")
    card.venue.value = "IB paper"  # shows the panel and checks once, in a worker thread
    assert card.venue_box.layout.display is None
    assert card.speed.layout.display == "none" and card.cash.layout.display == "none"
    assert "own cash" in card.form_note.value
    assert (card.symbol_input.value, card.timeframe.value) == ("QQQ.NASDAQ", "1-DAY-LAST")
    card.venue_panels["ib-paper"].wait(15)
    _account_shown(card.venue_panels["ib-paper"].text)
    assert writers == {threading.get_ident()}  # applied by pump() on this (the kernel's) thread
    row = latest_health(Ledger())
    assert row is not None and row.state == "ok" and row.gateway == f"127.0.0.1:{peer.port}"

    pcard = PanelStartCard()
    assert not pcard.venue_section.visible
    pcard.venue.value = "IB paper"
    assert pcard.venue_section.visible and not pcard.speed.visible and not pcard.cash.visible
    assert (pcard.instrument.value, pcard.timeframe.value, pcard.instrument.restrict) == ("QQQ.NASDAQ", "1-DAY-LAST", False)
    pcard.venue_panels["ib-paper"].wait(15)
    _account_shown(pcard.venue_panels["ib-paper"].text)
    assert peer.placed_orders == 0

    pcard.venue.value = "Replay (offline)"  # back: the sandbox form as it was
    assert not pcard.venue_section.visible and pcard.speed.visible and pcard.instrument.value == "BTC/USD"
    assert pcard.timeframe.value == sf.DEFAULT_TIMEFRAME and pcard.instrument.restrict


def test_check_never_blocks_the_kernel_loop(peer: TwsPeer) -> None:
    """Clicked inside a running loop: returns at once; the result lands via the loop's thread."""
    loop = asyncio.new_event_loop()
    writers: set[int] = set()

    async def main() -> IbPanel:
        panel = IbPanel(bridge=LoopBridge())
        panel.status.observe(lambda _ch: writers.add(threading.get_ident()), "value")
        t0 = time.monotonic()
        panel.check_button.click()
        assert time.monotonic() - t0 < 0.2 and panel.check_button.disabled
        deadline = time.monotonic() + 15
        while "IB gateway: ok" not in panel.text:
            assert time.monotonic() < deadline, panel.text
            await asyncio.sleep(0.02)
        return panel

    try:
        panel = loop.run_until_complete(main())
    finally:
        loop.close()
    assert writers == {threading.get_ident()} and not panel.check_button.disabled
    _account_shown(panel.text)


def test_gateway_down_shows_the_start_command_without_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ib_compose, "docker_available", lambda: False)
    start, restart = html.escape(ib_compose.compose_text("start")), html.escape(ib_compose.compose_text("restart"))
    for panel in (IbPanel(), PanelIbPanel()):
        panel.check()
        panel.wait(15)
        text = panel.text
        assert "gateway down" in text and "paperlab-ib-health-off" in text and "IB gateway: off" in text
        assert "paperlab-ib-commands" in text and start in text
        _click(panel.restart_button)
        panel.wait(15)
        assert restart in panel.text and "paperlab-ib-compose" not in panel.text
        assert SECRET not in panel.text
    row = latest_health(Ledger())
    assert row is not None and row.state == "off" and "\n" not in row.message


def test_start_gateway_streams_compose_output_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ib_compose, "docker_available", lambda: True)
    _fake_compose(monkeypatch, SCRIPT)
    ipy, pnl = IbPanel(), PanelIbPanel()
    _click(ipy.start_button)
    _click(pnl.start_button)
    for panel in (ipy, pnl):
        panel.wait(15)
        text = panel.text
        assert "pulling ib-gateway" in text and "exit code 3" in text and "paperlab-ib-compose" in text
        assert "TWS_PASSWORD=********" in text and SECRET not in text
        assert not panel.start_button.disabled and not panel.restart_button.disabled


# -- ib_compose --------------------------------------------------------------------------------


def test_compose_commands() -> None:
    path = str(ib_compose.COMPOSE_PATH)
    assert Path(path).is_absolute() and Path(path).exists()
    assert ib_compose.compose_command("start") == [
        "docker", "compose", "-f", path, "--profile", "paper", "up", "-d", "ib-gateway"]
    assert ib_compose.compose_command("restart")[-2:] == ["restart", "ib-gateway"]
    assert ib_compose.compose_command("stop", profile="live")[-3:] == ["live", "stop", "ib-gateway-live"]
    assert ib_compose.compose_text("start") == shlex.join(ib_compose.compose_command("start"))
    for bad in (lambda: ib_compose.compose_command("down"), lambda: ib_compose.compose_command("start", "prod")):
        with pytest.raises(ValueError) as err:
            bad()
        assert "\n" not in str(err.value)


def test_run_compose_streams_lines_and_returns_the_exit_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_compose(monkeypatch, SCRIPT)
    lines: list[str] = []
    assert ib_compose.run_compose("start", lines.append) == 3
    assert lines[0] == "pulling ib-gateway"
    assert sorted(lines[1:]) == sorted(["TWS_PASSWORD=********", "********"])  # stderr merged, masked
    assert all(SECRET not in line for line in lines)
    assert ib_compose.mask_secrets('password: "a b" token=xyz') == 'password: "********" token=********'


def test_run_compose_without_the_program_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ib_compose, "compose_command", lambda action, profile="paper": ["/nonexistent/docker"])
    lines: list[str] = []
    assert ib_compose.run_compose("restart", lines.append) == 127
    assert len(lines) == 1 and lines[0].startswith("cannot run /nonexistent/docker")


# -- start form ---------------------------------------------------------------------------------


def test_startform_maps_ib_paper_to_an_ib_paper_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    venues = {c.label: c for c in sf.venue_choices()}
    assert venues["IB paper"].available and (venues["IB paper"].venue, venues["IB paper"].feed) == ("ib-paper", "ib")
    assert sf.instrument_choices(venue="IB paper") == ["QQQ.NASDAQ", "SPY.ARCA", "AAPL.NASDAQ", "MSFT.NASDAQ"]
    assert sf.instrument_choices("spy", venue="IB paper") == ["SPY.ARCA"]
    monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", ACCOUNT)
    spec = sf.to_spec(sf.FormState(venue="IB paper", outside_rth=True, speed="60", starting_cash="junk"))
    (sleeve,) = spec.sleeves
    assert (spec.venue, spec.feed, spec.speed, spec.outside_rth, spec.account_id) == ("ib-paper", "ib", None, True, ACCOUNT)
    assert (sleeve.instrument, sleeve.bar_spec) == ("QQQ.NASDAQ", "1-DAY-LAST")
    spec = sf.to_spec(sf.FormState(venue="IB paper", instrument="aapl.nasdaq", timeframe="1-HOUR-LAST"))
    assert (spec.sleeves[0].instrument, spec.sleeves[0].bar_spec, spec.outside_rth) == ("AAPL.NASDAQ", "1-HOUR-LAST", False)
    # other venues: unchanged (outside_rth is IB-only and not passed)
    plain = sf.to_spec(sf.FormState(venue="Replay (offline)", outside_rth=True))
    assert (plain.venue, plain.feed, plain.outside_rth, plain.sleeves[0].instrument) == ("sandbox", "replay", False, "BTC/USD")


def test_startform_refuses_a_live_account_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", "U7654321")
    with pytest.raises(SpecError) as err:
        sf.to_spec(sf.FormState(venue="IB paper"))
    message = str(err.value)
    assert message.startswith("account:") and "\n" not in message and "U7654321" not in message


# -- health chips ---------------------------------------------------------------------------------


def _session(led: Ledger, sid: str, venue: str) -> str:
    feed = "ib" if venue == "ib-paper" else "replay"
    led.create_session(sid, label=sid, kind="paper", venue=venue, feed=feed, spec={}, sleeves=[],
                       started_at=time.time_ns(), status="stopped")
    return sid


def _follow(record: Callable[[str, str], None], read: Callable[[], tuple[str, str]]) -> None:
    """Each new ledger row shows as chip text and css class."""
    for state, css in (("ok", "ok"), ("re-login needed", "relogin"), ("off", "off")):
        record(state, f"gateway {state} message")
        text, markup = read()
        assert text == f"IB gateway: {state}"
        assert f"paperlab-ib-health paperlab-ib-health-{css}" in markup and f"gateway {state} message" in markup


def test_dashboard_chip_follows_the_latest_health_row() -> None:
    led = Ledger()
    ib = SessionDashboard(_session(led, "ib-session", "ib-paper"), led, controls=False)
    ib.refresh()
    assert ib.venue_chip == "IB gateway: not checked" and "paperlab-ib-health-unknown" in ib.header.object
    previous: list[str | None] = [None]

    def record(state: str, message: str) -> None:
        led.record_gateway_health("127.0.0.1:4002", previous[0], state, message)
        previous[0] = state

    def read() -> tuple[str, str]:
        ib.refresh()
        return ib.venue_chip, ib.header.object

    _follow(record, read)
    sandbox = SessionDashboard(_session(led, "sandbox-session", "sandbox"), led, controls=False)
    sandbox.refresh()
    assert sandbox.venue_chip == "" and "paperlab-ib-health" not in sandbox.header.object


def test_app_chip_follows_the_latest_health_row() -> None:
    led = Ledger()
    app = PaperApp(led)
    app.poll()
    assert app.health_text == "IB gateway: not checked"
    assert "paperlab-ib-health-unknown" in app.health.object

    def read() -> tuple[str, str]:
        app.poll()
        assert app.health_rows["ib-paper"] is not None and f"paperlab-ib-health-{app.health_class.split('-')[-1]}" in app.health.object
        return app.health_text, app.health.object

    _follow(lambda state, message: led.record_gateway_health("127.0.0.1:4002", None, state, message), read)
    assert " ET)" in app.health.object  # tooltip: message and time of the last transition
