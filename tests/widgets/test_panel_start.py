"""PanelStartCard: the same start path in Panel widgets."""

from __future__ import annotations

from collections.abc import Iterator

import panel as pn
import pytest

from kernelext.ledger import Ledger
from kernelext.session.runner import SessionRunner, SessionStartError
from widgets import panel_start
from widgets import startform as sf
from widgets.panel_start import PanelStartCard


@pytest.fixture(autouse=True)
def _stop_sessions() -> Iterator[None]:
    yield
    SessionRunner.stop_all()


def test_start_calls_on_started_with_a_running_runner(paperlab_home) -> None:
    started: list[SessionRunner] = []
    card = PanelStartCard(on_started=started.append)
    card.strategy.value = "ema_cross"
    card.instrument.value = "ETH/USD"
    card.param_widgets["fast"].value = 5
    card.param_widgets["slow"].value = 20
    card.timeframe.value = "5-MINUTE-LAST"
    card.speed.value = "600"
    card.start_button.clicks += 1  # what a browser click does
    runner = card.wait_started(60)
    assert card.error_text == "", card.error_text
    assert started == [runner] and card.started_runner is runner
    assert runner.is_alive and runner.state == "running"
    sleeve = runner.spec.sleeves[0]
    assert (sleeve.instrument, sleeve.bar_spec, sleeve.params) == ("ETH/USD", "5-MINUTE-LAST", {"fast": 5, "slow": 20})
    assert card.started.visible and runner.session_id in card.started.object
    assert not card.start_button.disabled and card.start_button.label == "Start"
    runner.kill()
    assert runner.state == "stopped"


def test_bad_input_shows_one_line_error(paperlab_home) -> None:
    card = PanelStartCard()
    card.cash.value = "-5 USD"
    assert card.start() is None
    assert card.error_text.startswith("starting_cash:") and "\n" not in card.error_text
    assert card.error.visible and not card.log_card.visible
    assert card.started_runner is None
    assert Ledger().query("select count(*) from sessions")[0][0] == 0
    card.cash.value = "100000 USD"
    card.params.objects[0].value = 99  # fast above slow
    card.start()
    assert card.error_text.startswith("params:")


def test_start_error_shows_log_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(spec, ledger=None):
        raise SessionStartError("session abc failed to start: boom\nlog line 1")

    monkeypatch.setattr(sf, "launch", failing)
    deferred: list = []  # as when served: the outcome runs later, on the document's loop
    monkeypatch.setattr(panel_start, "post_to_ui", lambda _doc, fn: deferred.append(fn))
    calls: list[SessionRunner] = []
    card = PanelStartCard(on_started=calls.append)
    card.start_button.clicks += 1
    assert card.wait_started(10) is None
    assert card.start_button.disabled and len(deferred) == 1
    deferred.pop()()
    assert card.error_text == "session abc failed to start: boom"
    assert card.log_card.visible and card.log_card.collapsed and card.log_text.object == "log line 1"
    assert calls == [] and not card.start_button.disabled


def test_form_shape_and_css_classes() -> None:
    card = PanelStartCard()
    assert isinstance(card.panel(), pn.Column)
    for widget, css in [
        (card.start_button, "paperlab-start"),
        (card.strategy, "paperlab-strategy"),
        (card.instrument, "paperlab-instrument"),
        (card.speed, "paperlab-speed"),
        (card.venue, "paperlab-venue"),
        (card.mode, "paperlab-mode"),
        (card.timeframe, "paperlab-timeframe"),
        (card.cash, "paperlab-cash"),
        (card.until, "paperlab-until"),
        (card.label, "paperlab-label"),
        (card.param_widgets["fast"], "paperlab-param-fast"),
    ]:
        assert css in widget.css_classes
    assert card.venue.disabled_options == []
    assert not card.instrument.case_sensitive and card.instrument.search_strategy == "includes"
    assert card.instrument.options == sf.instrument_choices()
    card.strategy.value = "rsi_rules"
    assert isinstance(card.param_widgets["direction"], pn.widgets.Select)
    assert isinstance(card.param_widgets["indicators"], pn.widgets.TextAreaInput)
    assert card.speed.value == sf.DEFAULT_SPEED


def test_book_mode_state() -> None:
    card = PanelStartCard()
    card.mode.value = "book"
    assert card.book.visible and not card.single.visible and len(card.sleeve_rows) == 1
    card.add_sleeve_button.clicks += 1
    card.sleeve_rows[1].strategy.value = "tsmom"
    card.sleeve_rows[1].params.value = '{"lookback": 20}'
    spec = sf.to_spec(card.state())
    assert len(spec.sleeves) == 2 and spec.sleeves[1].params == {"lookback": 20}
    card.sleeve_rows[0].remove_button.clicks += 1
    assert len(card.sleeve_rows) == 1
