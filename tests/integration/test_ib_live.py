"""ib-live behind its gates, against the TWS protocol peer set up as a live account (``U…``) and a
second peer as the paper gateway (``DU…``); never a real gateway.

Each gate refuses on its own (edition off; a DU id on live; no approval; a wrong typed id; the paper
gateway busy), then a fully gated live session sends an order that fills at the peer, shows REAL
MONEY, and is killed. An order over the live 5,000 notional cap is denied by Nautilus's RiskEngine
and never reaches the peer. The audit chain holds the live start, the order intents with their risk
decision, the kill and the stop, and verifies. No account id appears unmasked anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import kernelext
from kernelext import api, frames
from kernelext.errors import Refused, SpecError
from kernelext.ledger import Ledger, default_path
from kernelext.spec import build_spec, make_sleeve
from kernelext.strategies import PaperStrategy, PaperStrategyConfig, registry
from kernelext.surfaces.cli import main
from nautilus_trader.model.enums import OrderSide
from tests.helpers import file_bytes, wait_for
from tests.peers.tws_peer import TwsPeer

LIVE_ACCOUNT = "U7654321"
PAPER_ACCOUNT = "DU1234567"
QQQ = "QQQ.NASDAQ"


class SizedBuysConfig(PaperStrategyConfig, frozen=True):
    sizes: tuple[int, ...] = (5,)


class SizedBuys(PaperStrategy):
    """One market buy per live bar, of each size in ``sizes`` in turn (then nothing)."""

    def __init__(self, config: SizedBuysConfig) -> None:
        super().__init__(config)
        self._next = 0

    def _decide(self, bar) -> None:  # noqa: ANN001
        if self._next >= len(self.config.sizes):
            return
        qty = self.instrument.make_qty(self.config.sizes[self._next])
        self._next += 1
        self.submit_order(self.order_factory.market(self.config.instrument_id, OrderSide.BUY, qty))


@pytest.fixture(autouse=True)
def sized_buys() -> Iterator[None]:
    kernelext.register("test_sized_buys")(SizedBuys)
    yield
    registry.unregister("test_sized_buys")


@pytest.fixture
def gateways(monkeypatch: pytest.MonkeyPatch, paperlab_home: Path) -> Iterator[tuple[TwsPeer, TwsPeer]]:
    """(paper peer, live peer), the environment pointing at both, live trading enabled."""
    with TwsPeer(accounts=(PAPER_ACCOUNT,), positions=(), bar_interval_s=0.3) as paper, \
            TwsPeer(accounts=(LIVE_ACCOUNT,), positions=(), bar_interval_s=0.3) as live:
        monkeypatch.setenv("PAPERLAB_IB_PORT", str(paper.port))
        monkeypatch.setenv("PAPERLAB_IB_LIVE_PORT", str(live.port))
        monkeypatch.setenv("PAPERLAB_IB_CLIENT_ID", "40")
        monkeypatch.setenv("PAPERLAB_IB_ACCOUNT_ID", PAPER_ACCOUNT)
        monkeypatch.setenv("PAPERLAB_IB_LIVE_ACCOUNT_ID", LIVE_ACCOUNT)
        monkeypatch.setenv("PAPERLAB_ENABLE_LIVE_TRADING", "true")
        yield paper, live


def _sleeve(sizes: tuple[int, ...] = (5,)):
    return make_sleeve("test_sized_buys", QQQ, bar_spec="1-DAY-LAST", params={"sizes": list(sizes)})


def _paper_session_that_traded() -> str:
    runner = api.start_spec(build_spec(sleeves=[_sleeve()], venue="ib-paper"))
    try:
        wait_for(lambda: frames.fills(runner.session_id).height >= 1, "a paper fill", timeout=60)
    finally:
        runner.stop()
    return runner.session_id


def test_each_gate_refuses_on_its_own_then_a_gated_live_session_fills_and_is_killed(
        gateways: tuple[TwsPeer, TwsPeer], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    paper_peer, live_peer = gateways
    live_args = ["paper", "--venue", "ib-live", "--strategy", "test_sized_buys", "--instrument", QQQ,
                 "--bar-spec", "1-DAY-LAST", "--params", json.dumps({"sizes": [20, 5]})]

    # gate 1: the edition flag
    monkeypatch.setenv("PAPERLAB_ENABLE_LIVE_TRADING", "false")
    assert main(live_args + ["--i-understand", LIVE_ACCOUNT]) != 0
    assert capsys.readouterr().err.strip() == ("paperlab: error: live trading is disabled in this build; "
                                               "set PAPERLAB_ENABLE_LIVE_TRADING=true in a personal build")
    assert "ib-live" not in [c.venue for c in kernelext.venues.choices()]
    monkeypatch.setenv("PAPERLAB_ENABLE_LIVE_TRADING", "true")
    assert "ib-live" in [c.venue for c in kernelext.venues.choices()]

    # gate 2: a paper (DU) id on live
    with pytest.raises(SpecError, match=r"account: DU1… is a paper account"):
        api.start("test_sized_buys", QQQ, venue="ib-live", bar_spec="1-DAY-LAST", account_id=PAPER_ACCOUNT,
                  i_understand=PAPER_ACCOUNT)

    # gate 3: no approval (and approving needs a paper session that traded)
    assert main(live_args + ["--i-understand", LIVE_ACCOUNT]) != 0
    err = capsys.readouterr().err
    assert "approval: test_sized_buys on QQQ.NASDAQ" in err
    assert "paperlab approve-live --strategy test_sized_buys --instrument QQQ.NASDAQ --params" in err
    with pytest.raises(Refused, match="no paper session of test_sized_buys on QQQ.NASDAQ has traded"):
        api.approve_live("test_sized_buys", QQQ, note="too early")
    paper_sid = _paper_session_that_traded()
    assert main(["approve-live", "--strategy", "test_sized_buys", "--instrument", QQQ, "--note", "paper looked fine"]) == 0
    assert f"after paper session {paper_sid}" in capsys.readouterr().out

    # gate 4: the typed confirmation must match (the summary was shown first)
    assert main(live_args + ["--i-understand", "U0000001"]) != 0
    out = capsys.readouterr()
    assert "REAL MONEY" in out.err and "approved by" in out.err and "max notional 5,000" in out.err
    assert "the typed id does not match the live account U76…" in out.err
    assert live_peer.placed_orders == 0 and not api.running_sessions()

    # gate 6: the paper gateway busy (one IB login for paper and live)
    paper_runner = api.start_spec(build_spec(sleeves=[_sleeve(())], venue="ib-paper"))
    try:
        assert main(live_args + ["--i-understand", LIVE_ACCOUNT]) != 0
        assert "an ib-paper session" in capsys.readouterr().err
    finally:
        paper_runner.stop()

    # fully gated: 20 shares (~8,000 over the 5,000 cap) denied by the RiskEngine, then 5 shares fill
    runner = api.start("test_sized_buys", QQQ, venue="ib-live", bar_spec="1-DAY-LAST",
                       params={"sizes": [20, 5]}, i_understand=LIVE_ACCOUNT)
    sid = runner.session_id
    try:
        wait_for(lambda: frames.fills(sid).height >= 1, "the live fill", timeout=60)
        # while it runs, the process's Nautilus log holds the account id masked (within ~1 s), never in full
        logs = lambda: b"".join(file_bytes(p) for p in runner.log_path.parent.glob(f"{runner.log_path.stem}*"))  # noqa: E731
        wait_for(lambda: b"U7******" in logs() and LIVE_ACCOUNT.encode() not in logs(), "the running log masked",
                 timeout=10)
        assert api.control(sid, "kill") == sid
    finally:
        runner.stop()
    orders = frames.orders(sid).sort("client_order_id")  # in the order the strategy sent them
    assert orders["status"].to_list() == ["DENIED", "FILLED", "FILLED"]  # the 20, the 5, the kill's close
    assert orders["side"].to_list() == ["BUY", "BUY", "SELL"]
    assert "notional" in orders["reason"][0].lower()
    assert live_peer.placed_orders == 2  # the buy of 5 and the kill's flattening sell; never the 20
    assert frames.fills(sid)["qty"].to_list()[0] == 5
    assert live_peer.net_position("QQQ") == 0  # the kill flattened it
    row = frames.sessions().filter(pl.col("session_id") == sid).row(0, named=True)
    assert row["kind"] == "live" and row["venue"] == "ib-live"
    assert kernelext.venues.badge(row["feed"]).text == "REAL MONEY"
    notes = json.loads(frames.events(sid, "session.running")["extras_json"][0])["notes"]
    assert notes[0].startswith("REAL MONEY: account U76… at 127.0.0.1:")

    audit = api.audit(sid)
    actions = audit["action"].to_list()
    assert actions[0] == "session.start" and {"control.kill", "live.stop"} <= set(actions)
    intents = [json.loads(d) for d in audit.filter(pl.col("action") == "order.submit")["detail"]]
    assert [i["risk"] for i in intents[:2]] == ["denied", "approved"]
    live_start = [json.loads(d) for d in api.audit().filter(pl.col("action") == "live.start")["detail"]]
    assert live_start[-1]["caps"]["max_notional_per_order"] == 5000 and live_start[-1]["edition_flag"] == "true"
    assert api.verify_audit().ok

    # no full account id anywhere: ledger file, session logs
    for path in [default_path(), *Path(default_path()).parent.rglob("*.log")]:
        data = file_bytes(path)
        assert LIVE_ACCOUNT.encode() not in data, path

    # the research ladder side by side: backtest, paper, live
    bt = kernelext.backtest(like=paper_sid)
    result = api.compare(bt, paper_sid, sid)
    kinds = [c for c in result.table.columns if c.endswith(("(backtest)", "(paper)", "(live)"))]
    assert [k.rsplit("(", 1)[1] for k in kinds] == ["backtest)", "paper)", "live)"]
    live_column = result.table[kinds[2]].to_list()
    assert any(v not in (None, "", "-") for v in live_column)
