"""StartCard / SessionCard (ipywidgets): real sessions on the replay feed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import ipywidgets as w
import pytest

from kernelext.ledger import Ledger
from kernelext.session.runner import SessionRunner, SessionStartError
from widgets import startform as sf
from widgets.startcard import SessionCard, StartCard

FAST = "600"  # ten 1-minute bars a second: bars arrive at once, the session lives until killed


@pytest.fixture(autouse=True)
def _stop_sessions() -> Iterator[None]:
    yield
    SessionRunner.stop_all()


def _wait_bars(card: SessionCard, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        card.refresh()
        if card.status.bars > 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"no bars within {timeout}s: {card.status}")


def _session_rows() -> int:
    return Ledger().query("select count(*) from sessions")[0][0]


def test_start_flip_pause_kill(paperlab_home) -> None:
    card = StartCard()
    card.strategy.value = "ema_cross"
    card.instrument_search.value = "sol"
    assert card.instrument.options == ("SOL/USD",) and card.instrument.value == "SOL/USD"
    card.param_widgets["fast"].value = 5
    card.param_widgets["slow"].value = 20
    card.speed.value = FAST
    card.label.value = "widget test"
    card.start_button.click()
    runner = card.wait_started(60)
    assert runner is not None, card.error_text
    assert runner.spec.sleeves[0].params == {"fast": 5, "slow": 20}
    session = card.session_card
    assert isinstance(session, SessionCard)
    assert card.widget.children == (session.widget,)  # flipped

    _wait_bars(session)
    assert "REPLAY" in session.header.value and " ET" in session.header.value
    assert "widget test" in session.header.value
    assert f"{session.status.bars:,}" in session.stats.value

    session.pause_button.click()
    session.wait_controls(15)
    assert runner.trading_state() == "HALTED"
    assert any("control.pause" in line for line in session.feed_lines)
    assert any("pause ok" in line for line in session.feed_lines)
    assert "paused" in session.stats.value

    session.kill_button.click()
    session.wait_controls(30)
    assert runner.state == "stopped"
    assert session.finished and all(b.disabled for b in session.buttons.values())
    assert "stopped" in session.stats.value
    assert session.feed_lines[0].split()[2] == "ack"  # newest first: the kill ack on top
    assert session.new_button.layout.display is None
    session.new_button.click()
    assert card.widget.children == (card.form,)


def test_bad_start_shows_one_line_error_and_no_session(paperlab_home) -> None:
    card = StartCard()
    card.cash.value = "-5 USD"
    card.start_button.click()
    assert card.wait_started(5) is None
    assert card.error_text.startswith("starting_cash:") and "\n" not in card.error_text
    assert "starting_cash:" in card.message.value and card.log_tail.value == ""
    assert card.widget.children == (card.form,)
    assert _session_rows() == 0


def test_session_start_error_shows_log_tail(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> None:
    def failing(spec, ledger=None):
        raise SessionStartError("session abc failed to start: RuntimeError: boom\nlog line 1\nlog line 2")

    monkeypatch.setattr(sf, "launch", failing)
    card = StartCard()
    card.start_button.click()
    assert card.wait_started(10) is None
    assert card.error_text == "session abc failed to start: RuntimeError: boom"
    assert "<details>" in card.log_tail.value and "log line 2" in card.log_tail.value
    assert "Traceback" not in card.message.value + card.log_tail.value
    assert not card.start_button.disabled


def test_form_widgets_follow_strategy_venue_and_instrument() -> None:
    card = StartCard()
    assert isinstance(card.param_widgets["fast"], w.IntText) and card.param_widgets["fast"].value == 10
    card.strategy.value = "rsi_rules"
    assert isinstance(card.param_widgets["direction"], w.Dropdown)
    assert isinstance(card.param_widgets["indicators"], w.Textarea)
    assert isinstance(card.param_widgets["close_positions_on_stop"], w.Checkbox)
    assert "fast" not in card.param_widgets
    card.venue.value = "Crypto sandbox"
    assert not card.start_button.disabled
    card.venue.value = "Replay (offline)"
    assert not card.start_button.disabled
    card.instrument_search.value = "ETH/B"
    assert card.instrument.value == "ETH/BTC" and card.cash.value == "2 BTC"


def test_book_mode_starts_a_book(paperlab_home) -> None:
    card = StartCard()
    card.mode.value = "book"
    assert len(card.sleeve_rows) == 1 and card.single_box.layout.display == "none"
    card.sleeve_rows[0].params.value = '{"fast": 5, "slow": 20}'
    card.add_sleeve_button.click()
    card.sleeve_rows[1].strategy.value = "tsmom"
    card.sleeve_rows[1].instrument.value = "ETH/USD"
    card.sleeve_rows[1].params.value = '{"lookback": 20}'
    extra = card.add_sleeve("ibs_reversion", "SOL/USD")
    extra.remove_button.click()
    assert len(card.sleeve_rows) == 2
    card.speed.value = FAST
    card.start_button.click()
    runner = card.wait_started(60)
    assert runner is not None, card.error_text
    assert len(runner.spec.sleeves) == 2
    assert [s.strategy_key for s in runner.spec.sleeves] == ["ema_cross", "tsmom"]
    runner.kill()


def test_session_card_ticks_on_the_kernel_loop(paperlab_home) -> None:
    """Refreshes come from loop.call_later and control acks via call_soon_threadsafe,
    all on the loop's thread, with nobody calling refresh() by hand."""
    runner = sf.start(sf.FormState(speed=FAST))
    loop = asyncio.new_event_loop()
    writers: set[int] = set()

    async def until(predicate, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.05)

    async def main() -> SessionCard:
        card = SessionCard.for_session(runner)
        assert card._bridge.loop is asyncio.get_running_loop()
        for widget in (card.stats, card.feed, card.header):
            widget.observe(lambda _ch: writers.add(threading.get_ident()), "value")
        await until(lambda: card.status.bars > 0)
        card.control("pause")
        await until(lambda: any("pause ok" in line for line in card.feed_lines))
        card.control("kill")
        await until(lambda: card.finished)
        await asyncio.sleep(card.interval * 2)
        return card

    try:
        card = loop.run_until_complete(main())
    finally:
        loop.close()
    assert writers == {threading.get_ident()}  # only the loop's thread touched the widgets
    assert runner.state == "stopped" and card._handle is None  # ticking stopped
    assert any("control.kill" in line for line in card.feed_lines)
