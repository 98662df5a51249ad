"""The standalone app against the local TWS peer in Debian's chromium: choose "IB paper",
see the gateway's state and the account at rest, start an ibs_reversion session on
QQQ.NASDAQ, see IB's fills (with commissions) and the gateway chip, Kill."""

from __future__ import annotations

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

SECRET = "browser-s3cret-pw"


@pytest.fixture
def peer() -> Iterator[TwsPeer]:
    with TwsPeer(accounts=("DU1234567",), positions=(), bar_interval_s=0.5) as p:
        yield p


@pytest.fixture
def app_url(free_port: int, paperlab_home: Path, peer: TwsPeer) -> Iterator[str]:
    env = {"PAPERLAB_IB_PORT": str(peer.port), "PAPERLAB_IB_ACCOUNT_ID": "DU1234567",
           "PAPERLAB_IB_CLIENT_ID": "50", "TWS_PASSWORD": SECRET}
    with serving(free_port, paperlab_home, env) as url:
        yield url


def test_ib_paper_from_the_start_card(page: Any, app_url: str, peer: TwsPeer) -> None:
    page.goto(app_url, wait_until="domcontentloaded")
    page.locator(".paperlab-venue select").first.wait_for(timeout=60_000)
    page.locator(".paperlab-venue select").first.select_option("IB paper")
    wait_text(page, "73,000", timeout=30)  # the peer's cash, read-only, at rest
    wait_text(page, r"IB gateway: ok", timeout=30)
    assert page.locator(".paperlab-instrument input").first.input_value() == "QQQ.NASDAQ"
    page.locator(".paperlab-strategy select").first.select_option("ibs_reversion")
    screenshot(page, "ib-start-card")
    assert peer.placed_orders == 0  # the panel's probe never orders

    page.locator(".paperlab-start button, button.paperlab-start").first.click()
    ledger = Ledger()
    sid = wait_for(lambda: (s := frames.sessions(ledger=ledger)).height and s["session_id"][0], "a session", 60)
    wait_for(lambda: frames.fills(sid, ledger=ledger).height >= 2, "IB fills in the ledger", 60)
    page.get_by_text("Fills", exact=True).first.click()
    page.locator(".paperlab-fills .tabulator-row").first.wait_for(timeout=30_000)
    page.locator(".paperlab-ib-health-ok").first.wait_for(timeout=30_000)  # the dashboard's gateway chip
    wait_text(page, "^IB PAPER$", timeout=30)
    screenshot(page, "ib-dashboard")

    page.locator(".paperlab-kill button, button.paperlab-kill").first.click()
    wait_for(lambda: ledger.session(sid)["status"] == "stopped", "kill to stop the session", 30)
    wait_text(page, "^STOPPED$", timeout=30)
    fills = frames.fills(sid, ledger=ledger)
    assert set(fills["trade_id"]) == {e.exec_id for e in peer.executions}  # every IB fill, once
    assert (fills["fee"] >= 1.0).all()
    assert SECRET not in page.content()
    assert ledger.query("SELECT strategy_key FROM sleeves WHERE session_id = ?", (sid,)) == [("ibs_reversion",)]
