"""The app's live start card in Debian's chromium, against the TWS peer set up as a live account:
IB live (REAL MONEY) is offered only with the edition flag on; Start stays disabled until the typed
account id matches; the started session's dashboard and the app header say REAL MONEY; Kill."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelext import frames
from kernelext.ledger import Ledger
from tests.browser.conftest import screenshot, serving
from tests.browser.test_served_app import wait_text
from tests.helpers import wait_for
from tests.peers.tws_peer import TwsPeer

LIVE_ACCOUNT = "U7654321"


@pytest.fixture
def peer() -> Iterator[TwsPeer]:
    with TwsPeer(accounts=(LIVE_ACCOUNT,), positions=(), bar_interval_s=0.5) as p:
        yield p


@pytest.fixture
def app_url(free_port: int, paperlab_home: Path, peer: TwsPeer) -> Iterator[str]:
    ledger = Ledger(paperlab_home)  # an approval to start from (approving itself: tests/integration/test_ib_live.py)
    ledger.add_approval(strategy_key="ibs_reversion", instrument="QQQ.NASDAQ", params_json=None,
                        paper_session="20261101-000000-abcdef", note="browser test", approved_by="tester via test",
                        audit={"strategy": "ibs_reversion", "instrument": "QQQ.NASDAQ"})
    ledger.close()
    env = {"PAPERLAB_IB_LIVE_PORT": str(peer.port), "PAPERLAB_IB_LIVE_ACCOUNT_ID": LIVE_ACCOUNT,
           "PAPERLAB_IB_CLIENT_ID": "50", "PAPERLAB_ENABLE_LIVE_TRADING": "true"}
    with serving(free_port, paperlab_home, env) as url:
        yield url


def test_live_start_card_waits_for_the_typed_id_then_shows_real_money(page: Any, app_url: str, peer: TwsPeer) -> None:
    page.goto(app_url, wait_until="domcontentloaded")
    venue = page.locator(".paperlab-venue select").first
    venue.wait_for(timeout=60_000)
    venue.select_option("IB live (REAL MONEY)")
    page.locator(".paperlab-strategy select").first.select_option("ibs_reversion")
    wait_text(page, r"approved by tester via test", timeout=30)
    start = page.locator(".paperlab-start button, button.paperlab-start").first
    confirm = page.locator(".paperlab-live-confirm input").first
    assert start.is_disabled()
    confirm.fill("U7654329")  # a near miss
    page.wait_for_timeout(500)
    assert start.is_disabled()
    confirm.fill(LIVE_ACCOUNT)
    wait_for(lambda: not start.is_disabled(), "Start to enable once the typed id matches", 30)
    screenshot(page, "live-start-card")
    assert peer.placed_orders == 0

    start.click()
    ledger = Ledger()
    sid = wait_for(lambda: (s := frames.sessions(ledger=ledger)).height and s["session_id"][0], "a live session", 60)
    page.locator(".paperlab-header").first.wait_for(timeout=60_000)
    wait_text(page, "^REAL MONEY$", timeout=30)
    assert page.locator(".paperlab-app-real-money").first.is_visible()
    assert ledger.session(sid)["kind"] == "live"
    screenshot(page, "live-dashboard")
    page.locator(".paperlab-kill button, button.paperlab-kill").first.click()
    wait_for(lambda: ledger.session(sid)["status"] == "stopped", "kill to stop the live session", 30)
    starts = [json.loads(r[0]) for r in ledger.query("SELECT detail_json FROM audit WHERE action = 'live.start'")]
    assert starts and starts[-1]["surface"] == "app" and starts[-1]["account"] == "U76…"
    assert LIVE_ACCOUNT not in page.content()
