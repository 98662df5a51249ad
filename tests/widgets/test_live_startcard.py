"""The notebook's (ipywidgets) start card on a real-money venue: IB live appears only with the
edition flag; the summary names the account masked, the caps and the approval; Start stays
disabled until the typed account id matches; without an approval the card says how to get one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelext.ledger import Ledger
from widgets.startcard import StartCard

LIVE = "IB live (REAL MONEY)"


def _approve(home: Path) -> None:
    Ledger(home).add_approval(strategy_key="ibs_reversion", instrument="QQQ.NASDAQ", params_json=None,
                              paper_session="20261101-000000-abcdef", note="card test", approved_by="tester via test",
                              audit={"strategy": "ibs_reversion"})


def test_live_choice_only_with_the_edition_flag(paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAPERLAB_ENABLE_LIVE_TRADING", raising=False)
    assert LIVE not in [label for label, _ in StartCard().venue.options]
    monkeypatch.setenv("PAPERLAB_ENABLE_LIVE_TRADING", "true")
    assert LIVE in [label for label, _ in StartCard().venue.options]


def test_start_waits_for_the_typed_account_id(paperlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERLAB_ENABLE_LIVE_TRADING", "true")
    monkeypatch.setenv("PAPERLAB_IB_LIVE_ACCOUNT_ID", "U7654321")
    card = StartCard()
    card.venue.value = LIVE
    card.strategy.value = "ibs_reversion"
    assert card.start_button.disabled and "not approved for live trading" in card.live_summary.value
    assert "paperlab approve-live --strategy ibs_reversion --instrument QQQ.NASDAQ" in card.live_summary.value
    _approve(paperlab_home)
    card.i_understand.value = "U765432"
    assert card.start_button.disabled
    summary = card.live_summary.value
    assert "REAL MONEY" in summary and "U76…" in summary and "U7654321" not in summary
    assert "max notional 5,000 per order" in summary and "approved by tester via test" in summary
    card.i_understand.value = "U7654321"
    assert not card.start_button.disabled
    card.venue.value = "Replay (offline)"  # another venue: no live box, the typed id is forgotten
    assert card.live is None and card.i_understand.value == "" and not card.start_button.disabled
