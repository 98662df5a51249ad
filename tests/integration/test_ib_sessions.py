"""ib-paper sessions against the local TWS peer: NautilusTrader's own IB adapter for data and
execution, IB's (the peer's) paper fills with commissions in the ledger and frames, a dropped
connection reconciled without duplicated or lost fills, one session per gateway, and no
credential anywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from nautilus_trader.model.enums import OrderSide

import pytest

import kernelext
from kernelext import frames
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry
from kernelext.ledger import Ledger
from kernelext.session.runner import SessionRunner
from kernelext.spec import SpecError, build_spec, make_sleeve
from tests.helpers import wait_for
from tests.peers.tws_peer import DEFAULT_POSITIONS, PeerPosition, TwsPeer

pytestmark = pytest.mark.timeout(180)
ACCOUNT = "DU1234567"
SECRET_PASSWORD = "hunter2-Secret!"
SECRET_USER = "paperuser-xyz"


class RestingBuyConfig(PaperStrategyConfig, frozen=True):
    below_pct: float = 1.0


class RestingBuy(PaperStrategy):
    """Once: a limit buy resting ``below_pct`` under the first live close (fills on a dip)."""

    def __init__(self, config: RestingBuyConfig) -> None:
        super().__init__(config)

    def _decide(self, bar) -> None:
        if self._pending or self._net_decimal():
            return
        if getattr(self, "_placed", False):
            return
        self._placed = True
        price = self.instrument.make_price(bar.close.as_double() * (1 - self.config.below_pct / 100))
        order = self.order_factory.limit(self.config.instrument_id, OrderSide.BUY, self.instrument.make_qty(10), price)
        self._pending.add(order.client_order_id)
        self.submit_order(order)


@pytest.fixture(autouse=True)
def resting_buy_strategy() -> Iterator[None]:
    kernelext.register("test_resting_buy")(RestingBuy)
    yield
    registry.unregister("test_resting_buy")


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> Iterator[TwsPeer]:
    monkeypatch.setenv("TWS_PASSWORD", SECRET_PASSWORD)
    monkeypatch.setenv("TWS_USERID", SECRET_USER)
    with TwsPeer(accounts=(ACCOUNT,), positions=(), bar_interval_s=0.3) as p:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(p.port))
        monkeypatch.setenv("PAPERLAB_IB_CLIENT_ID", "40")
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", ACCOUNT)
        yield p


def _spec(instrument: str = "QQQ.NASDAQ", **kw):
    sleeve = make_sleeve("ibs_reversion", instrument, bar_spec="1-DAY-LAST", params={"trade_notional": 10_000})
    return build_spec(sleeves=[sleeve], venue="ib-paper", **kw)


def _fills(sid: str) -> int:
    return frames.fills(sid).height


def _assert_ledger_matches_peer(sid: str, peer: TwsPeer) -> None:
    """Every peer execution is in the ledger exactly once, with its price, size and commission."""
    fills = frames.fills(sid)
    execs = {e.exec_id: e for e in peer.executions}
    assert fills.height == len(execs) > 0
    assert fills["trade_id"].n_unique() == fills.height  # no duplicate
    for row in fills.iter_rows(named=True):
        ex = execs[row["trade_id"]]
        assert row["side"] == ("BUY" if ex.side == "BOT" else "SELL")
        assert row["qty"] == pytest.approx(ex.shares)
        assert row["price"] == pytest.approx(ex.price)
        assert row["fee"] == pytest.approx(ex.commission) and row["fee_currency"] == "USD"
        assert row["instrument"] == "QQQ.NASDAQ"


def test_ibs_reversion_on_qqq_fills_with_commissions_in_ledger_and_frames(peer: TwsPeer) -> None:
    runner = SessionRunner(_spec()).start(timeout=60)
    sid = runner.session_id
    try:
        wait_for(lambda: _fills(sid) >= 4, "two IBS round trips filled by the peer", timeout=60)
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    _assert_ledger_matches_peer(sid, peer)
    fills = frames.fills(sid)
    assert (fills["fee"] >= 1.0).all()  # IB's minimum commission per order
    orders = frames.orders(sid)
    assert set(orders["status"]) <= {"FILLED", "CANCELED"} and (orders["status"] == "FILLED").sum() >= 4
    session = frames.sessions().filter(frames.sessions()["session_id"] == sid).row(0, named=True)
    assert session["venue"] == "ib-paper" and session["feed"] == "ib"
    running = Ledger().query("SELECT message, extras_json FROM events WHERE session_id = ? AND stage = 'session.running'", (sid,))
    assert "IB symbology" in running[0][0] and "IB PAPER: account DU1" in json.loads(running[0][1])["notes"][0]
    # the session's realized P&L is its own round trips (minus an open position's entry fee), not
    # the account's NetLiquidation change (other holdings move that); equity is NetLiquidation
    trips = frames.round_trips(sid)
    open_fees = float(fills["fee"].sum()) - float(trips["fees"].sum())
    expected = float(trips["net_pnl"].sum()) - open_fees
    assert runner.telemetry.equity["realized_pnl"] == pytest.approx(expected, abs=0.01)
    assert runner.telemetry.equity["equity"] == pytest.approx(float(peer.account_values["NetLiquidation"]), abs=0.01)
    # the session's net position equals the peer's
    net = sum((1 if e.side == "BOT" else -1) * e.shares for e in peer.executions)
    held = peer.position("QQQ")
    assert (held.position if held else 0.0) == pytest.approx(net)

    # the same strategy over the bars the session saw, in Nautilus's BacktestEngine
    bt = kernelext.backtest(like=sid)
    paper_trades = [(r["side"], r["qty"]) for r in fills.iter_rows(named=True)]
    bt_fills = frames.fills(bt)
    assert [(r["side"], r["qty"]) for r in bt_fills.iter_rows(named=True)][: len(paper_trades)] == paper_trades
    assert bt_fills["fee"].to_list()[: len(paper_trades)] == fills["fee"].to_list()  # IB's commission model
    assert bt_fills["instrument"].unique().to_list() == ["QQQ.NASDAQ"]
    comparison = kernelext.compare(bt, sid)  # paper fills at the peer's next price: P&L differs, trades do not
    trips = frames.round_trips(sid).height
    assert trips >= 2 and f"trades {trips} vs {trips}" in comparison.assessment


def test_dropped_connection_reconnects_and_reconciles_without_duplicate_or_lost_fills(peer: TwsPeer) -> None:
    runner = SessionRunner(_spec()).start(timeout=60)
    sid = runner.session_id
    try:
        wait_for(lambda: _fills(sid) >= 1, "a first fill", timeout=60)
        handshakes = peer.handshakes
        peer.drop()
        wait_for(lambda: peer.handshakes > handshakes, "the adapter to reconnect", timeout=30)
        before = len(peer.executions)
        wait_for(lambda: len(peer.executions) >= before + 2, "fills after the reconnect", timeout=60)
        wait_for(lambda: _fills(sid) == len(peer.executions), "the ledger to catch up", timeout=15)
    finally:
        runner.stop()
    assert runner.state == "stopped", runner.last_error
    _assert_ledger_matches_peer(sid, peer)
    stages = frames.events(sid)["stage"].to_list()
    assert stages.index("feed.stale") < stages.index("feed.reconnected")  # shown in the event feed


def test_fill_made_while_disconnected_reaches_the_ledger(peer: TwsPeer) -> None:
    """A resting limit fills at IB while the API connection is down (its execDetails never
    arrive); after the reconnect, reconciliation brings the fill into the ledger, once."""
    spec = build_spec(sleeves=[make_sleeve("test_resting_buy", "QQQ.NASDAQ", bar_spec="1-DAY-LAST",
                                           params={"below_pct": 0.5})], venue="ib-paper")
    runner = SessionRunner(spec).start(timeout=60)
    sid = runner.session_id
    try:
        wait_for(lambda: any(o.is_working for o in peer.orders), "the resting limit at the peer", timeout=30)
        peer.start_streaming(always=True)  # the market goes on while the client is away
        peer.drop()
        wait_for(lambda: peer.executions, "the limit to fill at the peer during the disconnect", timeout=30)
        assert _fills(sid) == 0  # the node has not heard of it
        wait_for(lambda: _fills(sid) == 1, "reconciliation to bring the fill in", timeout=60)
    finally:
        runner.stop()
    fills = frames.fills(sid)
    ex = peer.executions[0]
    assert fills.height == 1 and fills["qty"][0] == ex.shares and fills["price"][0] == pytest.approx(ex.price)
    assert frames.orders(sid)["status"].to_list() == ["FILLED"]


def test_rejected_order_then_kill_leaves_the_accounts_other_holdings(monkeypatch: pytest.MonkeyPatch, paperlab_home) -> None:
    """An account that already holds AAPL, MSFT and 10 QQQ: the session reconciles only its
    instrument, IB's error 201 lands as a rejected order with its reason, and kill closes the
    session's own position at IB, leaving the holdings it found."""
    holdings = (*DEFAULT_POSITIONS, PeerPosition("QQQ", 10.0, 390.0, 400.0, 320227571))
    with TwsPeer(accounts=(ACCOUNT,), positions=holdings, bar_interval_s=0.3) as peer:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(peer.port))
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", ACCOUNT)
        peer.reject_next_order(201, "Order rejected - reason:Insufficient buying power")
        runner = SessionRunner(_spec()).start(timeout=60)
        sid = runner.session_id
        try:
            wait_for(lambda: (frames.orders(sid)["status"] == "REJECTED").any(), "the rejected order", timeout=60)
            wait_for(lambda: any(p["strategy_id"] != "EXTERNAL" for p in runner.positions()),
                     "a position opened by a later signal", timeout=60)
            runner.kill()
        finally:
            runner.stop()
        assert runner.state == "stopped", runner.last_error
        rejected = frames.orders(sid).filter(frames.orders(sid)["status"] == "REJECTED").row(0, named=True)
        assert "Insufficient buying power" in rejected["reason"]
        assert peer.net_position("QQQ") == 10.0  # the session's own shares closed, the holding kept
        assert peer.net_position("AAPL") == 100.0 and peer.net_position("MSFT") == 20.0
        assert "flatten incomplete" not in " ".join(frames.events(sid)["message"].to_list())
        _assert_ledger_matches_peer(sid, peer)


def _hours_closed_now() -> tuple[str, str]:
    """IB hours strings (US/Eastern) whose regular session ended yesterday, while the extended
    trading hours cover today: outside RTH at any wall time the test runs."""
    today = dt.datetime.now(ZoneInfo("America/New_York")).date()
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    liquid = f"{yesterday:%Y%m%d}:0930-{yesterday:%Y%m%d}:1600;{today:%Y%m%d}:CLOSED"
    trading = f"{yesterday:%Y%m%d}:0000-{today:%Y%m%d}:0000;{today:%Y%m%d}:0000-{tomorrow:%Y%m%d}:0000"
    return trading, liquid


@pytest.mark.parametrize("outside_rth", [False, True])
def test_regular_trading_hours_unless_outside_rth(monkeypatch: pytest.MonkeyPatch, paperlab_home, outside_rth: bool) -> None:
    with TwsPeer(accounts=(ACCOUNT,), positions=(), bar_interval_s=0.3, hours=_hours_closed_now()) as peer:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(peer.port))
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", ACCOUNT)
        runner = SessionRunner(_spec(outside_rth=outside_rth)).start(timeout=60)
        try:
            if outside_rth:
                wait_for(lambda: _fills(runner.session_id) >= 2, "fills outside RTH", timeout=60)
            else:
                wait_for(lambda: runner.strategies[0].rth_skipped_bars >= 12, "bars outside RTH", timeout=60)
        finally:
            runner.stop()
        assert runner.state == "stopped", runner.last_error
        if outside_rth:
            assert all(o.outside_rth for o in peer.orders)  # IB's outsideRth flag on every order
            _assert_ledger_matches_peer(runner.session_id, peer)
        else:  # 12 IBS bars give trades when the market is open (the test above); closed: none
            assert peer.placed_orders == 0 and frames.orders(runner.session_id).height == 0
            assert runner.strategies[0].market_hours.source == "IB liquidHours"


def test_unknown_ib_symbol_is_one_line_before_anything_is_written(peer: TwsPeer) -> None:
    with pytest.raises(SpecError) as err:
        SessionRunner(_spec(instrument="QQQQ.NASDAQ")).start(timeout=60)
    assert str(err.value).startswith("instrument: IB has no stock QQQQ.NASDAQ") and "\n" not in str(err.value)
    assert frames.sessions().height == 0 and peer.placed_orders == 0


def test_one_ib_session_per_gateway_then_a_new_one_in_the_same_process(peer: TwsPeer) -> None:
    first = SessionRunner(_spec()).start(timeout=60)
    try:
        with pytest.raises(SpecError, match=r"^venue: an ib-paper session .* already running on the IB Gateway"):
            SessionRunner(_spec()).start(timeout=60)
    finally:
        first.stop()
    second = SessionRunner(_spec()).start(timeout=60)  # Nautilus's cached IB client was forgotten
    try:
        wait_for(lambda: second.bars >= 2, "bars in the second session", timeout=30)
    finally:
        second.stop()
    assert second.state == "stopped", second.last_error


def test_cli_session_and_no_credential_in_logs_events_ledger_or_errors(peer: TwsPeer, paperlab_home) -> None:
    """A fresh process (its own Nautilus log file): the CLI's ib-paper session, then the
    gateway-down error; neither the gateway password nor the user is anywhere."""
    env = {**os.environ}
    cmd = [sys.executable, "-m", "kernelext", "paper", "--venue", "ib-paper", "--strategy", "ibs_reversion",
           "--instrument", "QQQ.NASDAQ", "--bar-spec", "1-DAY-LAST", "--for", "6s", "--json"]
    live = subprocess.run([*cmd, "--account", "U7654321"], env=env, capture_output=True, text=True, timeout=60)
    assert live.returncode == 2 and live.stderr.startswith("paperlab: error: account: ib-paper needs a paper account")
    assert len(live.stderr.strip().splitlines()) == 1 and "7654321" not in live.stderr
    assert peer.connections == 0  # refused before anything connects
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["status"] == "stopped" and summary["venue"] == "ib-paper" and summary["fills"] >= 1
    assert summary["fills"] == len(peer.executions)
    peer.stop()
    down = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 2 and "gateway" in down.stderr and len(down.stderr.strip().splitlines()) == 1
    texts = [run.stdout, run.stderr, down.stdout, down.stderr]
    for path in Path(paperlab_home).rglob("*"):
        if path.is_file():
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    assert any("InteractiveBrokersClient" in t for t in texts)  # Nautilus's log file was read
    for text in texts:
        assert SECRET_PASSWORD not in text and SECRET_USER not in text
